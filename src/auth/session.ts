import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SignedInPerson } from './person.js';

/**
 * The signed values the sign-in hands out, all HMAC-SHA256 with the session key (Secrets Manager in
 * AWS, `<data>/secrets/session-key` locally): the session cookie, the short-lived OAuth state cookie,
 * the one-time email link, and the approval page's anti-forgery field. Each is bound to its purpose
 * so one can never stand in for another.
 */

export const SESSION_COOKIE = 'tfgate_session';
export const OAUTH_STATE_COOKIE = 'tfgate_oauth';
export const SESSION_LIFETIME_SECONDS = 8 * 3600;
export const EMAIL_LINK_LIFETIME_SECONDS = 15 * 60;
export const OAUTH_STATE_LIFETIME_SECONDS = 10 * 60;
const FORM_FIELD_LIFETIME_SECONDS = 3600;
const MAX_SEALED_LENGTH = 4096;

function mac(key: string, purpose: string, ...parts: string[]): string {
  return createHmac('sha256', key)
    .update([purpose, ...parts].join('\n'))
    .digest('base64url');
}

function same(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('hex');
}

/** `<base64url(JSON)>.<mac>` whose payload carries its own expiry (`exp`, epoch seconds). */
export function seal(key: string, purpose: string, payload: Record<string, unknown> & { exp: number }): string {
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${body}.${mac(key, purpose, body)}`;
}

export function unseal(
  key: string,
  purpose: string,
  sealed: string | undefined,
  nowSeconds: number,
): Record<string, unknown> | undefined {
  if (!sealed || sealed.length > MAX_SEALED_LENGTH) return undefined;
  const [body, signature, extra] = sealed.split('.');
  if (!body || !signature || extra !== undefined || !same(signature, mac(key, purpose, body))) return undefined;
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof payload !== 'object' || payload === null) return undefined;
  const record = payload as Record<string, unknown>;
  return typeof record.exp === 'number' && record.exp > nowSeconds ? record : undefined;
}

export function sealSession(
  key: string,
  person: Omit<SignedInPerson, 'sessionId'>,
  nowSeconds: number,
): { value: string; person: SignedInPerson } {
  const sessionId = randomId();
  const value = seal(key, 'session', {
    sid: sessionId,
    via: person.via,
    ...(person.login ? { login: person.login } : {}),
    emails: person.emails,
    exp: nowSeconds + SESSION_LIFETIME_SECONDS,
  });
  return { value, person: { ...person, sessionId } };
}

export function openSession(key: string, value: string | undefined, nowSeconds: number): SignedInPerson | undefined {
  const payload = unseal(key, 'session', value, nowSeconds);
  if (!payload) return undefined;
  const { sid, via, login, emails } = payload;
  if (typeof sid !== 'string' || (via !== 'github' && via !== 'email')) return undefined;
  if (!Array.isArray(emails) || !emails.every((e) => typeof e === 'string')) return undefined;
  return { via, sessionId: sid, emails: emails as string[], ...(typeof login === 'string' ? { login } : {}) };
}

/** The approval page's anti-forgery field: tied to the session and the approval, valid for an hour. */
export function formToken(key: string, approvalId: string, sessionId: string, nowSeconds: number): string {
  const issued = String(nowSeconds);
  return `${issued}.${mac(key, 'form', approvalId, sessionId, issued)}`;
}

export type FormTokenCheck = 'valid' | 'forged' | 'stale';

export function checkFormToken(
  key: string,
  approvalId: string,
  sessionId: string,
  token: string | undefined,
  nowSeconds: number,
): FormTokenCheck {
  if (!token || token.length > 256) return 'forged';
  const [issued, signature, extra] = token.split('.');
  if (!issued || !signature || extra !== undefined || !/^\d{1,12}$/.test(issued)) return 'forged';
  if (!same(signature, mac(key, 'form', approvalId, sessionId, issued))) return 'forged';
  const age = nowSeconds - Number(issued);
  return age < -60 || age > FORM_FIELD_LIFETIME_SECONDS ? 'stale' : 'valid';
}

export function sameSecret(given: string | undefined, expected: string): boolean {
  return given !== undefined && same(given, expected);
}

/** Reads one cookie from a Cookie header (function URLs join several with "; " too). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(/;\s*/)) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** HttpOnly, SameSite=Lax, Path=/; Secure everywhere but plain-HTTP loopback (tfgate local). */
export function setCookie(name: string, value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${name}=${value}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}
