import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { LockClaim } from '../../src/domain/ports.js';
import { aLockClaim } from '../support/builders.js';
import { useDynalite } from '../support/dynalite.js';

const dynamo = useDynalite();

const NOW = 1_700_000_000;

/** With an explicit fence (1) so results compare equal; `fence: null` lets the store issue one. */
function holder(runId: string, leaseExpiresAt = NOW + 600, sequence = 1, fence: number | null = 1): LockClaim {
  return aLockClaim({ runId, at: NOW, sequence, leaseExpiresAt, ...(fence === null ? {} : { fence }) });
}

describe('DynamoLockStore holder', () => {
  it('gives one of 20 concurrent acquirers the lock at any moment, and each of them eventually', async () => {
    const lockKey = 'acme/race#ops';
    let inside = 0;
    let mostInside = 0;
    const acquiredBy: string[] = [];

    async function acquirer(index: number): Promise<void> {
      const runId = `run-${index}`;
      for (;;) {
        const now = Math.floor(Date.now() / 1000);
        const result = await dynamo.stores.locks.tryAcquire(lockKey, holder(runId, now + 60), now);
        if (result.acquired) break;
        expect(result.holder.runId).not.toBe(runId);
        // Pollers share one CPU with dynalite: polling faster only queues requests and slows every hand-over.
        await sleep(100 + Math.random() * 200);
      }
      inside += 1;
      mostInside = Math.max(mostInside, inside);
      acquiredBy.push(runId);
      await sleep(10);
      inside -= 1;
      expect(await dynamo.stores.locks.release(lockKey, runId)).toBe(true);
    }

    // 20, not more: the hand-overs are sequential and every poller adds load to the one dynalite process,
    // so the cost grows faster than the count while the race it shows is the same.
    const acquirers = 20;
    await Promise.all(Array.from({ length: acquirers }, (_, index) => acquirer(index)));
    expect(mostInside).toBe(1);
    expect(new Set(acquiredBy).size).toBe(acquirers);
    expect(await dynamo.stores.locks.get(lockKey)).toBeUndefined();
  });

  it('reports the holder to a loser without throwing', async () => {
    const lockKey = 'acme/loser#ops';
    const first = await dynamo.stores.locks.tryAcquire(lockKey, holder('run-a'), NOW);
    expect(first).toEqual({ acquired: true, holder: holder('run-a') });
    expect(await dynamo.stores.locks.tryAcquire(lockKey, holder('run-b'), NOW)).toEqual({
      acquired: false,
      holder: holder('run-a'),
    });
  });

  it('refuses release and renewal by a non-holder', async () => {
    const lockKey = 'acme/nonholder#ops';
    await dynamo.stores.locks.tryAcquire(lockKey, holder('run-a'), NOW);
    expect(await dynamo.stores.locks.release(lockKey, 'run-b')).toBe(false);
    expect(await dynamo.stores.locks.renew(lockKey, 'run-b', NOW + 9999)).toBe(false);
    expect(await dynamo.stores.locks.get(lockKey)).toEqual(holder('run-a'));
    expect(await dynamo.stores.locks.release('acme/never-locked#ops', 'run-a')).toBe(false);
  });

  it('lets the holder renew and re-acquire, reporting itself as the previous holder', async () => {
    const lockKey = 'acme/reacquire#ops';
    await dynamo.stores.locks.tryAcquire(lockKey, holder('run-a'), NOW);
    expect(await dynamo.stores.locks.renew(lockKey, 'run-a', NOW + 1200)).toBe(true);
    expect((await dynamo.stores.locks.get(lockKey))?.leaseExpiresAt).toBe(NOW + 1200);
    const again = await dynamo.stores.locks.tryAcquire(lockKey, holder('run-a', NOW + 1800), NOW);
    expect(again).toEqual({
      acquired: true,
      holder: holder('run-a', NOW + 1800),
      previous: holder('run-a', NOW + 1200),
    });
  });

  it('lets another run take over an expired lease, but not one that is still valid', async () => {
    const lockKey = 'acme/expired#ops';
    await dynamo.stores.locks.tryAcquire(lockKey, holder('run-a', NOW + 10), NOW);
    expect((await dynamo.stores.locks.tryAcquire(lockKey, holder('run-b', NOW + 600), NOW + 10)).acquired).toBe(false);
    // A takeover is a new hold: the store issues its number (the counter's first, 1, here).
    const takeover = await dynamo.stores.locks.tryAcquire(lockKey, holder('run-b', NOW + 600, 1, null), NOW + 11);
    expect(takeover).toEqual({
      acquired: true,
      holder: holder('run-b', NOW + 600),
      previous: holder('run-a', NOW + 10),
    });
    expect(await dynamo.stores.locks.release(lockKey, 'run-a')).toBe(false);
  });

  it('issues a growing fencing number to every new holder, also after a forced release', async () => {
    const lockKey = 'acme/fence#ops';
    const first = await dynamo.stores.locks.tryAcquire(lockKey, holder('run-a', NOW + 600, 1, null), NOW);
    expect(first.acquired && first.holder.fence).toBe(1);
    expect((await dynamo.stores.locks.get(lockKey))?.fence).toBe(1);
    // A loser's number is spent, never handed out again.
    const loser = await dynamo.stores.locks.tryAcquire(lockKey, holder('run-b', NOW + 600, 2, null), NOW);
    expect(loser).toMatchObject({ acquired: false, holder: { runId: 'run-a', fence: 1 } });
    expect((await dynamo.stores.locks.forceRelease(lockKey))?.fence).toBe(1);
    const second = await dynamo.stores.locks.tryAcquire(lockKey, holder('run-a', NOW + 600, 1, null), NOW);
    expect(second.acquired && second.holder.fence).toBe(3);
    // The holder refreshing with its own number keeps it.
    const refreshed = await dynamo.stores.locks.tryAcquire(lockKey, holder('run-a', NOW + 900, 1, 3), NOW);
    expect(refreshed.acquired && refreshed.holder.fence).toBe(3);
    expect(await dynamo.stores.locks.listQueue(lockKey)).toEqual([]);
    expect(await dynamo.stores.locks.listEvents(lockKey)).toEqual([]);
  });

  it('force-releases whoever holds the lock and lists held locks', async () => {
    await dynamo.stores.locks.tryAcquire('acme/force#ops', holder('run-a'), NOW);
    await dynamo.stores.locks.tryAcquire('acme/force#apps', holder('run-b'), NOW);
    const held = await dynamo.stores.locks.listHeld();
    expect(held).toEqual(
      expect.arrayContaining([
        { lockKey: 'acme/force#ops', holder: holder('run-a') },
        { lockKey: 'acme/force#apps', holder: holder('run-b') },
      ]),
    );

    expect(await dynamo.stores.locks.forceRelease('acme/force#ops')).toEqual(holder('run-a'));
    expect(await dynamo.stores.locks.forceRelease('acme/force#ops')).toBeUndefined();
    const after = (await dynamo.stores.locks.listHeld()).map((entry) => entry.lockKey);
    expect(after).not.toContain('acme/force#ops');
    expect(after).toContain('acme/force#apps');
  });
});

describe('DynamoLockStore queue and history', () => {
  const enqueuedAt = new Date(NOW * 1000).toISOString();

  it('orders waiters by sequence, not by arrival or string order', async () => {
    const lockKey = 'acme/queue#ops';
    for (const sequence of [10, 9, 100, 1]) {
      await dynamo.stores.locks.enqueue(lockKey, {
        runId: `run-${sequence}`,
        sequence,
        executionName: `exec-${sequence}`,
        enqueuedAt,
      });
    }
    expect((await dynamo.stores.locks.listQueue(lockKey)).map((entry) => entry.sequence)).toEqual([1, 9, 10, 100]);
    await dynamo.stores.locks.dequeue(lockKey, 'run-9', 9);
    expect((await dynamo.stores.locks.listQueue(lockKey)).map((entry) => entry.runId)).toEqual([
      'run-1',
      'run-10',
      'run-100',
    ]);
    expect(await dynamo.stores.locks.listQueue('acme/queue#apps')).toEqual([]);
  });

  it('stores a waiter token only on an existing entry, and a repeated enqueue keeps it', async () => {
    const lockKey = 'acme/token#ops';
    expect(await dynamo.stores.locks.setWaiterToken(lockKey, 'run-1', 1, 'token-1')).toBe(false);
    expect(await dynamo.stores.locks.listQueue(lockKey)).toEqual([]);

    const entry = { runId: 'run-1', sequence: 1, executionName: 'exec-1', enqueuedAt };
    await dynamo.stores.locks.enqueue(lockKey, entry);
    expect(await dynamo.stores.locks.setWaiterToken(lockKey, 'run-1', 1, 'token-1', 3600)).toBe(true);
    await dynamo.stores.locks.enqueue(lockKey, entry);
    expect(await dynamo.stores.locks.listQueue(lockKey)).toEqual([
      { ...entry, taskToken: 'token-1', leaseSeconds: 3600 },
    ]);
  });

  it('hands a waiter token to exactly one of many concurrent takers', async () => {
    const lockKey = 'acme/take#ops';
    await dynamo.stores.locks.enqueue(lockKey, { runId: 'run-1', sequence: 1, executionName: 'exec-1', enqueuedAt });
    await dynamo.stores.locks.setWaiterToken(lockKey, 'run-1', 1, 'token-1', 3600);
    const taken = await Promise.all(
      Array.from({ length: 20 }, () => dynamo.stores.locks.takeWaiterToken(lockKey, 'run-1', 1)),
    );
    expect(taken.filter((token) => token !== undefined)).toEqual(['token-1']);
    expect(await dynamo.stores.locks.listQueue(lockKey)).toEqual([
      { runId: 'run-1', sequence: 1, executionName: 'exec-1', enqueuedAt, leaseSeconds: 3600 },
    ]);
    expect(await dynamo.stores.locks.takeWaiterToken(lockKey, 'run-missing', 2)).toBeUndefined();
  });

  it('records lock history in time order', async () => {
    const lockKey = 'acme/history#ops';
    await dynamo.stores.locks.recordEvent(lockKey, {
      at: '2024-05-01T10:00:00.000Z',
      kind: 'acquired',
      runId: 'run-1',
    });
    await dynamo.stores.locks.recordEvent(lockKey, {
      at: '2024-05-01T10:05:00.000Z',
      kind: 'forced_release',
      runId: 'run-1',
      by: 'bob',
      reason: 'stuck',
    });
    await dynamo.stores.locks.recordEvent(lockKey, {
      at: '2024-05-01T10:05:00.000Z',
      kind: 'acquired',
      runId: 'run-2',
    });
    const events = await dynamo.stores.locks.listEvents(lockKey);
    expect(events).toHaveLength(3);
    expect(events[0]).toEqual({ at: '2024-05-01T10:00:00.000Z', kind: 'acquired', runId: 'run-1' });
    expect(events).toContainEqual({
      at: '2024-05-01T10:05:00.000Z',
      kind: 'forced_release',
      runId: 'run-1',
      by: 'bob',
      reason: 'stuck',
    });
    // History shares the partition with the queue and the holder; none of them leak into each other.
    expect(await dynamo.stores.locks.listQueue(lockKey)).toEqual([]);
  });
});
