import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoSignInStore } from '../../src/adapters/dynamo/sign-in-store.js';
import { useDynalite } from '../support/dynalite.js';

/** The sign-in's items in the deliveries table, on dynalite: revocations and counters by conditional writes. */

const dynamo = useDynalite();
const store = () => new DynamoSignInStore(dynamo.doc, dynamo.tables.deliveries);

describe('DynamoSignInStore', () => {
  it('a revoked session stays revoked; a second sign-out changes nothing; TTL after the cookie expires', async () => {
    const at = new Date('2026-05-04T10:00:00.000Z');
    const until = Math.floor(at.getTime() / 1000) + 8 * 3600;
    expect(await store().isRevoked('s1')).toBe(false);
    await store().revoke('s1', until, at);
    await store().revoke('s1', until + 999, new Date(at.getTime() + 1000));
    expect(await store().isRevoked('s1')).toBe(true);
    expect(await store().isRevoked('s2')).toBe(false);
    const { Item } = await dynamo.doc.send(
      new GetCommand({ TableName: dynamo.tables.deliveries, Key: { id: 'session-revoked:s1' } }),
    );
    expect(Item).toEqual({ id: 'session-revoked:s1', revokedAt: at.toISOString(), ttl: until + 3600 });
  });

  it('counts at most the limit per key and window, even when many instances count at once', async () => {
    const results = await Promise.all(Array.from({ length: 12 }, () => store().take('address:x', 5, 1000)));
    expect(results.filter(Boolean)).toHaveLength(5);
    expect(await store().take('address:x', 5, 1000)).toBe(false);
    expect(await store().take('address:y', 5, 1000)).toBe(true);
    expect(await store().take('address:x', 5, 1900)).toBe(true);
  });
});
