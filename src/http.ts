import type { SignedInPerson } from './auth/person.js';

/**
 * The transport-free HTTP shape every route handler takes and returns. The Lambda function URL
 * adapter and the local node:http server both translate to and from it, so a route is written once.
 */
export interface HttpRequest {
  method: string;
  /** Path without the query string, e.g. /approvals/abc. */
  path: string;
  query: Record<string, string>;
  /** Header names lower-cased. */
  headers: Record<string, string | undefined>;
  /** The raw body bytes: signatures are verified on exactly these. */
  body: Buffer;
  /**
   * The client's network address as the transport saw it (the TCP peer locally, the function URL's
   * `requestContext.http.sourceIp` in AWS), never a header the client sets. Rate limits key on it.
   */
  clientAddress?: string;
  /**
   * Who is asking, set only by the sign-in gate (src/auth/sign-in.ts) after it checked the
   * session or the local credential; never read from the request itself.
   */
  identity?: SignedInPerson;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Set-Cookie values (several may be set at once). */
  cookies?: string[];
}

export type HttpHandler = (request: HttpRequest) => Promise<HttpResponse>;

export function json(status: number, value: unknown, headers: Record<string, string> = {}): HttpResponse {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    body: JSON.stringify(value),
  };
}

export function text(status: number, body: string, headers: Record<string, string> = {}): HttpResponse {
  return { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...headers }, body };
}

export function html(status: number, body: string, headers: Record<string, string> = {}): HttpResponse {
  return {
    status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      // Pages show plan text from terraform: no scripts, no framing, no referrer leaking approval ids.
      'content-security-policy':
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      'x-content-type-options': 'nosniff',
      // No referrer leaves the site (approval ids stay here); the site's own form posts keep their Origin.
      'referrer-policy': 'same-origin',
      'cache-control': 'no-store',
      ...headers,
    },
    body,
  };
}

export function redirect(location: string, cookies?: string[]): HttpResponse {
  return {
    status: 303,
    headers: { location, 'cache-control': 'no-store', 'content-type': 'text/plain; charset=utf-8' },
    body: `See ${location}`,
    ...(cookies ? { cookies } : {}),
  };
}

export function wantsJson(request: HttpRequest): boolean {
  return (request.headers.accept ?? '').toLowerCase().includes('application/json');
}

/** Body limit of GitHub webhooks (25 MiB); larger deliveries are refused with 413 before anything else. */
export const MAX_WEBHOOK_BODY_BYTES = 25 * 1024 * 1024;
