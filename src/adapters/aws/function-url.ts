import type { HttpRequest, HttpResponse } from '../../http.js';

/**
 * Lambda function URLs (payload format 2.0) to and from the transport-free HttpRequest/HttpResponse,
 * shared by every function that sits behind a function URL (webhook, approvals).
 */

export interface FunctionUrlEvent {
  rawPath: string;
  rawQueryString?: string;
  headers?: Record<string, string | undefined>;
  body?: string;
  isBase64Encoded?: boolean;
  cookies?: string[];
  /** `sourceIp`: the address the request came from, as AWS saw it (not X-Forwarded-For, which the client sets). */
  requestContext: { http: { method: string; sourceIp?: string } };
}

export interface FunctionUrlResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: false;
  /** Function URLs take Set-Cookie values here (a headers map can hold only one). */
  cookies?: string[];
}

export function toHttpRequest(event: FunctionUrlEvent): HttpRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) headers[name.toLowerCase()] = value;
  // Payload 2.0 moves Cookie headers into `cookies`.
  if (event.cookies?.length) headers.cookie = event.cookies.join('; ');
  const query: Record<string, string> = {};
  // The first value wins, as on the local server: a second `as=` appended to a link cannot replace the signed one.
  for (const [key, value] of new URLSearchParams(event.rawQueryString ?? '')) if (!(key in query)) query[key] = value;
  return {
    method: event.requestContext.http.method.toUpperCase(),
    path: event.rawPath,
    ...(event.requestContext.http.sourceIp ? { clientAddress: event.requestContext.http.sourceIp } : {}),
    query,
    headers,
    // Function URLs hand over text bodies as text and anything else base64-encoded; either way these
    // are the bytes the sender signed.
    body:
      event.body === undefined ? Buffer.alloc(0) : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8'),
  };
}

export function toFunctionUrlResult(response: HttpResponse, method = 'GET'): FunctionUrlResult {
  return {
    statusCode: response.status,
    headers: response.headers,
    body: method.toUpperCase() === 'HEAD' ? '' : response.body,
    isBase64Encoded: false,
    ...(response.cookies?.length ? { cookies: response.cookies } : {}),
  };
}
