import { expect, it } from 'vitest';
import { NotFoundError } from '../../../src/domain/errors.js';
import { BUILT_AT } from '../../support/builders.js';
import { storeContract } from './implementations.js';

storeContract('DeliveryStore and SequenceStore', (stores) => {
  it('claims a delivery once, remembers when, and which run it started', async () => {
    const { deliveries } = stores();
    expect(await deliveries.claim('d-1', new Date(BUILT_AT))).toBe(true);
    expect(await deliveries.claim('d-1', new Date(BUILT_AT))).toBe(false);
    expect(await deliveries.get('d-1')).toEqual({ deliveryId: 'd-1', claimedAt: BUILT_AT });
    await deliveries.attachRun('d-1', 'run-7');
    expect(await deliveries.get('d-1')).toEqual({ deliveryId: 'd-1', runId: 'run-7', claimedAt: BUILT_AT });
    expect(await deliveries.get('d-unknown')).toBeUndefined();
  });

  it('refuses to attach a run to a delivery never claimed, and stores nothing', async () => {
    await expect(stores().deliveries.attachRun('d-never', 'run-1')).rejects.toBeInstanceOf(NotFoundError);
    expect(await stores().deliveries.get('d-never')).toBeUndefined();
  });

  it('released, a delivery can be claimed again; releasing an unknown one is no error', async () => {
    const { deliveries } = stores();
    await deliveries.claim('d-2', new Date(BUILT_AT));
    await deliveries.release('d-2');
    expect(await deliveries.get('d-2')).toBeUndefined();
    expect(await deliveries.claim('d-2', new Date(BUILT_AT))).toBe(true);
    await expect(deliveries.release('d-unknown')).resolves.toBeUndefined();
  });

  it('counts pushes per repository from 1, ignoring case, without gaps under concurrency', async () => {
    const { sequences } = stores();
    expect(await sequences.next('Acme/Infra')).toBe(1);
    expect(await sequences.next('acme/infra')).toBe(2);
    expect(await sequences.next('acme/other')).toBe(1);
    const concurrent = await Promise.all(Array.from({ length: 10 }, () => sequences.next('acme/infra')));
    expect(concurrent.sort((a, b) => a - b)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });
});
