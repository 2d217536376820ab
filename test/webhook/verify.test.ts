import { describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { createSignatureVerifier, decodeExactUtf8 } from '../../lambdas/webhook/verify.js';
import { PREVIOUS_SECRET, SECRET, signatureOf } from './fixtures.js';

const body = Buffer.from(JSON.stringify({ zen: 'Design for failure.', hook_id: 1 }));

describe('signature verification', () => {
  const verify = createSignatureVerifier([SECRET, PREVIOUS_SECRET]);

  it('accepts the current secret and hands back the exact text', async () => {
    const result = await verify(body, { 'x-hub-signature-256': signatureOf(body) });
    expect(result).toEqual({ valid: true, text: body.toString('utf8'), secretIndex: 0 });
  });

  it('accepts the previous secret while it is being rotated out', async () => {
    const result = await verify(body, { 'x-hub-signature-256': signatureOf(body, PREVIOUS_SECRET) });
    expect(result).toMatchObject({ valid: true, secretIndex: 1 });
  });

  it('refuses a secret that is not in the list', async () => {
    expect(await verify(body, { 'x-hub-signature-256': signatureOf(body, 'someone-else') })).toEqual({
      valid: false,
      reason: 'mismatch',
    });
  });

  it('refuses a body changed after signing', async () => {
    const signature = signatureOf(body);
    const changed = Buffer.from(body.toString('utf8').replace('failure', 'success'));
    expect(await verify(changed, { 'x-hub-signature-256': signature })).toEqual({ valid: false, reason: 'mismatch' });
  });

  it('refuses a legacy SHA-1 signature on its own, even a correct one', async () => {
    const sha1 = `sha1=${createHmac('sha1', SECRET).update(body).digest('hex')}`;
    expect(await verify(body, { 'x-hub-signature': sha1 })).toEqual({ valid: false, reason: 'legacy_sha1_only' });
  });

  it('refuses a missing or malformed header', async () => {
    expect(await verify(body, {})).toEqual({ valid: false, reason: 'missing' });
    expect(await verify(body, { 'x-hub-signature-256': '' })).toEqual({ valid: false, reason: 'missing' });
    expect(await verify(body, { 'x-hub-signature-256': signatureOf(body).replace('sha256=', 'sha1=') })).toEqual({
      valid: false,
      reason: 'malformed',
    });
    expect(await verify(body, { 'x-hub-signature-256': signatureOf(body).toUpperCase() })).toEqual({
      valid: false,
      reason: 'malformed',
    });
  });

  it('refuses bytes that are not UTF-8 even when the HMAC over them is right', async () => {
    // 0xff decodes to U+FFFD when decoding is lenient, which would verify different bytes than were sent.
    const raw = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xff]), Buffer.from('"}')]);
    expect(await verify(raw, { 'x-hub-signature-256': signatureOf(raw) })).toEqual({
      valid: false,
      reason: 'not_utf8',
    });
  });

  it('verifies a body starting with a byte order mark on those very bytes', async () => {
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body]);
    expect(await verify(withBom, { 'x-hub-signature-256': signatureOf(withBom) })).toMatchObject({ valid: true });
    expect(await verify(withBom, { 'x-hub-signature-256': signatureOf(body) })).toEqual({
      valid: false,
      reason: 'mismatch',
    });
  });

  it('needs at least one non-empty secret', () => {
    expect(() => createSignatureVerifier([])).toThrow(/secret/);
    expect(() => createSignatureVerifier([''])).toThrow(/secret/);
  });

  it('decodes UTF-8 one-to-one', () => {
    const text = 'héllo ✓';
    expect(decodeExactUtf8(Buffer.from(text))).toBe(text);
    expect(decodeExactUtf8(Buffer.from([0xc3]))).toBeUndefined();
  });
});
