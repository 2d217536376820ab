import { expect, it } from 'vitest';
import { aLockClaim, aQueueEntry } from '../../support/builders.js';
import { storeContract } from './implementations.js';

const NOW = 1_700_000_000;
const KEY = 'acme/infrastructure#ops';

storeContract('LockStore', (stores) => {
  it('takes a free lock with a new fencing number; a second run loses the race and learns the holder', async () => {
    const { locks } = stores();
    const first = await locks.tryAcquire(KEY, aLockClaim({ runId: 'run-1', at: NOW }), NOW);
    expect(first).toEqual({ acquired: true, holder: { ...aLockClaim({ runId: 'run-1', at: NOW }), fence: 1 } });
    const lost = await locks.tryAcquire(KEY, aLockClaim({ runId: 'run-2', sequence: 2, at: NOW }), NOW);
    expect(lost).toEqual({ acquired: false, holder: first.holder });
    expect(await locks.get(KEY)).toEqual(first.holder);
    expect(await locks.get('acme/infrastructure#apps')).toBeUndefined();
  });

  it('lets the holder refresh and takes over an expired lease, naming the previous holder', async () => {
    const { locks } = stores();
    const first = await locks.tryAcquire(KEY, aLockClaim({ runId: 'run-1', at: NOW }), NOW);
    const refreshed = await locks.tryAcquire(
      KEY,
      aLockClaim({ runId: 'run-1', at: NOW, fence: first.holder.fence }),
      NOW + 10,
    );
    expect(refreshed).toEqual({ acquired: true, holder: first.holder, previous: first.holder });
    const takeover = await locks.tryAcquire(KEY, aLockClaim({ runId: 'run-2', sequence: 2, at: NOW + 700 }), NOW + 700);
    expect(takeover).toMatchObject({ acquired: true, holder: { runId: 'run-2' }, previous: first.holder });
    expect(takeover.holder.fence).toBeGreaterThan(first.holder.fence);
  });

  it(
    "gives one hold one fencing number: a fresh claim loses to the same run's live hold, a refresh " +
      'keeps only its own number',
    async () => {
      const { locks } = stores();
      const first = await locks.tryAcquire(KEY, aLockClaim({ runId: 'run-1', at: NOW }), NOW);
      // A second grant to the same run, made from the same stale "free" read, must not renumber the hold.
      const again = await locks.tryAcquire(
        KEY,
        aLockClaim({ runId: 'run-1', at: NOW, leaseExpiresAt: NOW + 900 }),
        NOW,
      );
      expect(again).toEqual({ acquired: false, holder: first.holder });
      // A refresh under another number (a stale read of an older hold) is refused as well.
      const stale = await locks.tryAcquire(
        KEY,
        aLockClaim({ runId: 'run-1', at: NOW, fence: first.holder.fence + 1 }),
        NOW,
      );
      expect(stale).toEqual({ acquired: false, holder: first.holder });
      // Once the lease has expired the hold is still the run's own: only a refresh under its number renews it.
      expect((await locks.tryAcquire(KEY, aLockClaim({ runId: 'run-1', at: NOW + 700 }), NOW + 700)).acquired).toBe(
        false,
      );
      const renewed = await locks.tryAcquire(
        KEY,
        aLockClaim({ runId: 'run-1', at: NOW + 700, fence: first.holder.fence }),
        NOW + 700,
      );
      expect(renewed).toMatchObject({ acquired: true, holder: { runId: 'run-1', fence: first.holder.fence } });
      expect(await locks.get(KEY)).toMatchObject({ fence: first.holder.fence });
    },
  );

  it("never lets a claim with an old fencing number take over another run's expired lease", async () => {
    const { locks } = stores();
    const first = await locks.tryAcquire(KEY, aLockClaim({ runId: 'run-1', at: NOW }), NOW);
    const takeover = await locks.tryAcquire(KEY, aLockClaim({ runId: 'run-2', sequence: 2, at: NOW + 700 }), NOW + 700);
    expect(takeover.acquired).toBe(true);
    // run-2's lease has expired too; run-1 coming back with its old number must not get the lock under it.
    const stale = await locks.tryAcquire(
      KEY,
      aLockClaim({ runId: 'run-1', at: NOW + 1400, fence: first.holder.fence }),
      NOW + 1400,
    );
    expect(stale).toEqual({ acquired: false, holder: takeover.holder });
  });

  it('never reuses a fencing number, also across releases', async () => {
    const { locks } = stores();
    const fences: number[] = [];
    for (const runId of ['run-1', 'run-2', 'run-3']) {
      const result = await locks.tryAcquire(KEY, aLockClaim({ runId, at: NOW }), NOW);
      expect(result.acquired).toBe(true);
      fences.push(result.holder.fence);
      expect(await locks.release(KEY, runId)).toBe(true);
    }
    expect(fences[0]).toBeLessThan(fences[1]!);
    expect(fences[1]).toBeLessThan(fences[2]!);
  });

  it('renews and releases only for the holder', async () => {
    const { locks } = stores();
    await locks.tryAcquire(KEY, aLockClaim({ runId: 'run-1', at: NOW }), NOW);
    expect(await locks.renew(KEY, 'run-2', NOW + 9999)).toBe(false);
    expect(await locks.renew(KEY, 'run-1', NOW + 1200)).toBe(true);
    expect((await locks.get(KEY))?.leaseExpiresAt).toBe(NOW + 1200);
    expect(await locks.release(KEY, 'run-2')).toBe(false);
    expect(await locks.release(KEY, 'run-1')).toBe(true);
    expect(await locks.get(KEY)).toBeUndefined();
    expect(await locks.release(KEY, 'run-1')).toBe(false);
    expect(await locks.renew(KEY, 'run-1', NOW + 1200)).toBe(false);
  });

  it('force-releases whoever holds it, and says who that was', async () => {
    const { locks } = stores();
    const { holder } = await locks.tryAcquire(KEY, aLockClaim({ runId: 'run-1', at: NOW }), NOW);
    expect(await locks.forceRelease(KEY)).toEqual(holder);
    expect(await locks.forceRelease(KEY)).toBeUndefined();
    expect(await locks.get(KEY)).toBeUndefined();
  });

  it('lists held locks of every key', async () => {
    const { locks } = stores();
    await locks.tryAcquire(KEY, aLockClaim({ runId: 'run-1', at: NOW }), NOW);
    await locks.tryAcquire('acme/infrastructure#apps', aLockClaim({ runId: 'run-2', at: NOW }), NOW);
    await locks.enqueue(KEY, aQueueEntry({ runId: 'run-3', sequence: 3 }));
    const held = await locks.listHeld();
    expect(held.map((lock) => `${lock.lockKey}=${lock.holder.runId}`).sort()).toEqual([
      'acme/infrastructure#apps=run-2',
      'acme/infrastructure#ops=run-1',
    ]);
    await locks.release(KEY, 'run-1');
    expect((await locks.listHeld()).map((lock) => lock.lockKey)).toEqual(['acme/infrastructure#apps']);
  });

  it('keeps the queue in sequence order, numerically, and a repeated enqueue keeps the stored token', async () => {
    const { locks } = stores();
    for (const sequence of [10, 2, 9]) await locks.enqueue(KEY, aQueueEntry({ runId: `run-${sequence}`, sequence }));
    expect((await locks.listQueue(KEY)).map((entry) => entry.sequence)).toEqual([2, 9, 10]);
    expect(await locks.setWaiterToken(KEY, 'run-2', 2, 'token-2', 3600)).toBe(true);
    await locks.enqueue(KEY, aQueueEntry({ runId: 'run-2', sequence: 2 }));
    expect((await locks.listQueue(KEY))[0]).toEqual({
      ...aQueueEntry({ runId: 'run-2', sequence: 2 }),
      taskToken: 'token-2',
      leaseSeconds: 3600,
    });
    await locks.dequeue(KEY, 'run-9', 9);
    await locks.dequeue(KEY, 'run-unknown', 4);
    expect((await locks.listQueue(KEY)).map((entry) => entry.runId)).toEqual(['run-2', 'run-10']);
    expect(await locks.listQueue('acme/infrastructure#apps')).toEqual([]);
  });

  it('hands a waiter token out once, and only for an entry that exists', async () => {
    const { locks } = stores();
    expect(await locks.setWaiterToken(KEY, 'run-1', 1, 'token-1')).toBe(false);
    expect(await locks.listQueue(KEY)).toEqual([]);
    await locks.enqueue(KEY, aQueueEntry({ runId: 'run-1', sequence: 1 }));
    expect(await locks.setWaiterToken(KEY, 'run-1', 1, 'token-1')).toBe(true);
    const taken = await Promise.all([1, 2, 3, 4].map(() => locks.takeWaiterToken(KEY, 'run-1', 1)));
    expect(taken.filter((token) => token !== undefined)).toEqual(['token-1']);
    expect(await locks.listQueue(KEY)).toEqual([aQueueEntry({ runId: 'run-1', sequence: 1 })]);
    expect(await locks.takeWaiterToken(KEY, 'run-unknown', 5)).toBeUndefined();
  });

  it('records events and lists them in time order per key', async () => {
    const { locks } = stores();
    await locks.recordEvent(KEY, { at: '2026-02-01T00:00:02.000Z', kind: 'released', runId: 'run-1' });
    await locks.recordEvent(KEY, { at: '2026-02-01T00:00:01.000Z', kind: 'acquired', runId: 'run-1' });
    await locks.recordEvent(KEY, {
      at: '2026-02-01T00:00:03.000Z',
      kind: 'forced_release',
      runId: 'run-2',
      by: 'alice',
      reason: 'stuck',
    });
    expect(await locks.listEvents(KEY)).toEqual([
      { at: '2026-02-01T00:00:01.000Z', kind: 'acquired', runId: 'run-1' },
      { at: '2026-02-01T00:00:02.000Z', kind: 'released', runId: 'run-1' },
      { at: '2026-02-01T00:00:03.000Z', kind: 'forced_release', runId: 'run-2', by: 'alice', reason: 'stuck' },
    ]);
    expect(await locks.listEvents('acme/infrastructure#apps')).toEqual([]);
  });
});
