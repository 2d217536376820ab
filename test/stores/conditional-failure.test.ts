import { describe, expect, it } from 'vitest';
import { TfgateError } from '../../src/domain/errors.js';
import { StoreError, isConditionalCheckFailed, oldItemOf, storeCall } from '../../src/adapters/dynamo/errors.js';

// dynalite never returns the item of a failed condition, so the AWS-only ALL_OLD path is checked here.
describe('conditional failure translation', () => {
  it('turns the ALL_OLD item of a failed condition into plain values', () => {
    const failure = {
      name: 'ConditionalCheckFailedException' as const,
      Item: {
        runId: { S: 'run-1' },
        sequence: { N: '12' },
        leaseExpiresAt: { N: '1700000600' },
        flag: { BOOL: false },
        nothing: { NULL: true },
        approval: { M: { by: { S: 'alice' }, tags: { L: [{ S: 'a' }, { N: '2' }] } } },
      },
    };
    expect(isConditionalCheckFailed(failure)).toBe(true);
    expect(oldItemOf(failure)).toEqual({
      runId: 'run-1',
      sequence: 12,
      leaseExpiresAt: 1700000600,
      flag: false,
      nothing: null,
      approval: { by: 'alice', tags: ['a', 2] },
    });
    expect(oldItemOf({ name: 'ConditionalCheckFailedException' })).toBeUndefined();
  });

  it('wraps unexpected failures in StoreError with the cause and lets domain errors through', async () => {
    const cause = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    const wrapped = await storeCall('PutItem(run)', () => Promise.reject(cause)).catch((error: unknown) => error);
    expect(wrapped).toBeInstanceOf(StoreError);
    expect((wrapped as StoreError).cause).toBe(cause);
    expect((wrapped as StoreError).message).toContain('PutItem(run)');

    const domain = new TfgateError('domain');
    await expect(storeCall('GetItem', () => Promise.reject(domain))).rejects.toBe(domain);
    expect(isConditionalCheckFailed(cause)).toBe(false);
  });
});
