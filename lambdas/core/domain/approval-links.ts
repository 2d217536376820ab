import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Approval links and the approval page's anti-forgery field, both HMAC-signed with the link key
 * (Secrets Manager in AWS, a file in the data directory locally). A link names the approver it was
 * sent to, so the record says who decided; the task token never appears in either.
 */

const FORM_FIELD_LIFETIME_SECONDS = 3600;

function mac(key: string, purpose: string, ...parts: string[]): string {
  return createHmac('sha256', key).update([purpose, ...parts].join('\n')).digest('base64url');
}

function same(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** `<base64url(approver)>.<mac>`: identifies the approver a link was sent to. */
export function signApprover(key: string, approvalId: string, approver: string): string {
  const who = approver.toLowerCase();
  return `${Buffer.from(who).toString('base64url')}.${mac(key, 'approver', approvalId, who)}`;
}

/** The approver a signed value names, or undefined when it was not signed for this approval. */
export function verifyApprover(key: string, approvalId: string, signed: string | undefined): string | undefined {
  if (!signed || signed.length > 512) return undefined;
  const [encoded, signature, extra] = signed.split('.');
  if (!encoded || !signature || extra !== undefined) return undefined;
  const who = Buffer.from(encoded, 'base64url').toString('utf8');
  return same(signature, mac(key, 'approver', approvalId, who)) ? who : undefined;
}

export function approvalUrl(publicUrl: string, approvalId: string, signedApprover?: string): string {
  const base = `${publicUrl.replace(/\/+$/, '')}/approvals/${approvalId}`;
  return signedApprover ? `${base}?as=${encodeURIComponent(signedApprover)}` : base;
}

/** The page's anti-forgery field: tied to the approval and the approver, valid for an hour. */
export function formToken(key: string, approvalId: string, approver: string | undefined, nowSeconds: number): string {
  const issued = String(nowSeconds);
  return `${issued}.${mac(key, 'form', approvalId, approver ?? '', issued)}`;
}

export type FormTokenCheck = 'valid' | 'forged' | 'stale';

export function checkFormToken(key: string, approvalId: string, approver: string | undefined, token: string | undefined, nowSeconds: number): FormTokenCheck {
  if (!token || token.length > 256) return 'forged';
  const [issued, signature, extra] = token.split('.');
  if (!issued || !signature || extra !== undefined || !/^\d{1,12}$/.test(issued)) return 'forged';
  if (!same(signature, mac(key, 'form', approvalId, approver ?? '', issued))) return 'forged';
  const age = nowSeconds - Number(issued);
  return age < -60 || age > FORM_FIELD_LIFETIME_SECONDS ? 'stale' : 'valid';
}
