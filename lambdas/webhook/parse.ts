/**
 * Body decoding for the two content types GitHub offers when a webhook is set up:
 * `application/json` and `application/x-www-form-urlencoded` (the JSON in a `payload` field).
 */

export type BodyFormat = 'json' | 'form';

export type ParsedBody = { ok: true; payload: Record<string, unknown> } | { ok: false; problem: string };

/** The format of a Content-Type header value, or undefined when it is not one tfgate reads. */
export function bodyFormatOf(contentType: string | undefined): BodyFormat | undefined {
  if (contentType === undefined) return undefined;
  const [mediaType = '', ...parameters] = contentType.split(';').map((part) => part.trim().toLowerCase());
  for (const parameter of parameters) {
    const [name, value = ''] = parameter.split('=', 2).map((part) => part.trim());
    // The body is decoded as UTF-8; a sender announcing anything else would be misread.
    if (name === 'charset' && !['utf-8', 'utf8', '"utf-8"'].includes(value)) return undefined;
  }
  if (mediaType === 'application/json') return 'json';
  if (mediaType === 'application/x-www-form-urlencoded') return 'form';
  return undefined;
}

export function parseBody(text: string, format: BodyFormat): ParsedBody {
  let json = text;
  if (format === 'form') {
    const payload = new URLSearchParams(text).get('payload');
    if (payload === null) return { ok: false, problem: 'form body has no "payload" field' };
    json = payload;
  }
  if (json.trim() === '') return { ok: false, problem: 'body is empty' };
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return { ok: false, problem: 'body is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, problem: 'body is not a JSON object' };
  }
  return { ok: true, payload: value as Record<string, unknown> };
}
