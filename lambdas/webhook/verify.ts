import { Webhooks } from '@octokit/webhooks';

/**
 * Checks `X-Hub-Signature-256` against every accepted secret (current first, then the one being
 * rotated out), before anything looks inside the body.
 */

export type SignatureCheck =
  | {
      valid: true /** The body as text; it re-encodes to exactly the bytes that were signed. */;
      text: string;
      secretIndex: number;
    }
  | { valid: false; reason: SignatureProblem };

export type SignatureProblem = 'missing' | 'legacy_sha1_only' | 'malformed' | 'not_utf8' | 'mismatch';

export type SignatureVerifier = (
  rawBody: Buffer,
  headers: Record<string, string | undefined>,
) => Promise<SignatureCheck>;

const SHA256_SIGNATURE = /^sha256=[0-9a-f]{64}$/;

// `fatal` refuses invalid sequences instead of replacing them with U+FFFD, and `ignoreBOM` keeps a
// leading BOM: with both, decoding is one-to-one, so verifying the text is verifying the raw bytes.
const exactUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function decodeExactUtf8(bytes: Uint8Array): string | undefined {
  try {
    return exactUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

export function createSignatureVerifier(secrets: readonly string[]): SignatureVerifier {
  const accepted = secrets.filter((secret) => secret.length > 0);
  if (accepted.length === 0) throw new Error('at least one webhook secret is required');
  const verifiers = accepted.map((secret) => new Webhooks({ secret }));

  return async (rawBody, headers) => {
    const signature = headers['x-hub-signature-256'];
    if (signature === undefined || signature === '') {
      // SHA-1 signatures are forgeable enough that GitHub itself calls them legacy: never enough on their own.
      return { valid: false, reason: headers['x-hub-signature'] ? 'legacy_sha1_only' : 'missing' };
    }
    if (!SHA256_SIGNATURE.test(signature)) return { valid: false, reason: 'malformed' };
    // The signing library takes text; bytes that are not UTF-8 have no text that signs to them.
    const text = decodeExactUtf8(rawBody);
    if (text === undefined) return { valid: false, reason: 'not_utf8' };

    // Every secret is tried, so the time taken does not tell which one matched.
    const outcomes = await Promise.all(
      verifiers.map((webhooks) => webhooks.verify(text, signature).catch(() => false)),
    );
    const secretIndex = outcomes.indexOf(true);
    return secretIndex === -1 ? { valid: false, reason: 'mismatch' } : { valid: true, text, secretIndex };
  };
}
