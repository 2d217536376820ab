import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/domain/errors.js';
import { useDynalite } from '../support/dynalite.js';

const dynamo = useDynalite();

describe('DynamoDeliveryStore', () => {
  const at = new Date('2024-05-01T10:00:00.000Z');

  it('claims a delivery once', async () => {
    expect(await dynamo.stores.deliveries.claim('delivery-1', at)).toBe(true);
    expect(await dynamo.stores.deliveries.claim('delivery-1', at)).toBe(false);
  });

  it('lets exactly one of 20 concurrent claims win', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () => dynamo.stores.deliveries.claim('delivery-race', at)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('remembers the run a delivery started', async () => {
    await dynamo.stores.deliveries.claim('delivery-run', at);
    expect(await dynamo.stores.deliveries.get('delivery-run')).toEqual({
      deliveryId: 'delivery-run',
      claimedAt: expect.any(String),
    });
    await dynamo.stores.deliveries.attachRun('delivery-run', 'run-7');
    expect(await dynamo.stores.deliveries.get('delivery-run')).toEqual({
      deliveryId: 'delivery-run',
      runId: 'run-7',
      claimedAt: expect.any(String),
    });
    expect(await dynamo.stores.deliveries.get('never-seen')).toBeUndefined();
    await expect(dynamo.stores.deliveries.attachRun('never-seen', 'run-8')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('can be claimed again after release', async () => {
    await dynamo.stores.deliveries.claim('delivery-retry', at);
    await dynamo.stores.deliveries.release('delivery-retry');
    expect(await dynamo.stores.deliveries.get('delivery-retry')).toBeUndefined();
    expect(await dynamo.stores.deliveries.claim('delivery-retry', at)).toBe(true);
  });
});

describe('DynamoSequenceStore', () => {
  it('hands out 1..100 to 100 concurrent callers, each number once', async () => {
    const numbers = await Promise.all(
      Array.from({ length: 100 }, () => dynamo.stores.sequences.next('acme/concurrent')),
    );
    expect([...numbers].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, index) => index + 1));
  });

  it('counts per repository, ignoring the case of owner/name', async () => {
    expect(await dynamo.stores.sequences.next('acme/one')).toBe(1);
    expect(await dynamo.stores.sequences.next('acme/other')).toBe(1);
    expect(await dynamo.stores.sequences.next('Acme/One')).toBe(2);
  });
});
