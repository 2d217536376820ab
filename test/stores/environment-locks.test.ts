import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { EnvironmentLocks, type LockGrant } from '../../src/domain/locks.js';
import type { Clock, TaskCallbacks } from '../../src/domain/ports.js';
import type { Run } from '../../src/domain/run.js';
import { lockKeyFor } from '../../src/adapters/dynamo/table-layout.js';
import { useDynalite } from '../support/dynalite.js';
import { aRun } from '../support/builders.js';

/** Behaves like Step Functions: a token is accepted once; a token of a gone execution is refused. */
class RecordingCallbacks implements TaskCallbacks {
  readonly successes: Array<{ token: string; output: LockGrant }> = [];
  readonly refused: string[] = [];
  private readonly used = new Set<string>();
  readonly gone = new Set<string>();
  onDelivered: (token: string) => void = () => {};

  async sendTaskSuccess(taskToken: string, output: unknown): Promise<{ delivered: boolean }> {
    if (this.gone.has(taskToken) || this.used.has(taskToken)) {
      this.refused.push(taskToken);
      return { delivered: false };
    }
    this.used.add(taskToken);
    this.successes.push({ token: taskToken, output: output as LockGrant });
    // The resumed execution carries on later, never inside the call that resumed it.
    setImmediate(() => this.onDelivered(taskToken));
    return { delivered: true };
  }

  async sendTaskFailure(): Promise<{ delivered: boolean }> {
    throw new Error('lock ordering never fails a task');
  }

  get deliveredTokens(): string[] {
    return this.successes.map((success) => success.token);
  }
}

/** Promise.withResolvers is Node 22+ and outside the ES2023 lib this project compiles against. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (error: unknown) => void } {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

class ManualClock implements Clock {
  constructor(public current: Date) {}
  now(): Date {
    return this.current;
  }
}

const dynamo = useDynalite();

let repositoryCounter = 0;
/** Each test gets its own repository, so its locks and queues start empty. */
function freshRepository(): string {
  repositoryCounter += 1;
  return `acme/repo-${repositoryCounter}`;
}

async function createRun(repository: string, sequence: number, environments = ['ops', 'apps']): Promise<Run> {
  const run = aRun({
    id: `${repository.replace('/', '-')}-run-${sequence}`,
    repository,
    sha: String(sequence).padStart(40, '0'),
    createdAt: new Date(Date.UTC(2024, 4, 1, 10, 0, sequence)).toISOString(),
    sequence,
    executionName: `exec-${repository.replace('/', '-')}-${sequence}`,
    environments,
  });
  await dynamo.stores.runs.create(run);
  return run;
}

function tokenOf(run: Run, environment = 'ops'): string {
  return `token-${run.id}-${environment}`;
}

function requestFor(run: Run, environment = 'ops') {
  return {
    runId: run.id,
    sequence: run.sequence,
    executionName: run.executionName,
    taskToken: tokenOf(run, environment),
    leaseSeconds: 3600,
  };
}

function setup(clock?: Clock): { callbacks: RecordingCallbacks; locks: EnvironmentLocks } {
  const callbacks = new RecordingCallbacks();
  return {
    callbacks,
    locks: new EnvironmentLocks({
      locks: dynamo.stores.locks,
      runs: dynamo.stores.runs,
      callbacks,
      ...(clock ? { clock } : {}),
    }),
  };
}

describe('EnvironmentLocks', () => {
  it('grants in push order whatever order the requests arrive in', async () => {
    const repository = freshRepository();
    const { callbacks, locks } = setup();
    const [run1, run2, run3] = [
      await createRun(repository, 1),
      await createRun(repository, 2),
      await createRun(repository, 3),
    ] as [Run, Run, Run];
    for (const run of [run3, run1, run2]) await locks.enqueue(repository, 'ops', run);

    const third = await locks.request(repository, 'ops', requestFor(run3));
    expect(third.acquired).toBe(false);
    // The oldest push holds the lock in reserve before it even asks, so nobody overtakes it.
    expect(third.holder.runId).toBe(run1.id);
    expect(callbacks.successes).toEqual([]);

    expect((await locks.request(repository, 'ops', requestFor(run1))).acquired).toBe(true);
    expect((await locks.request(repository, 'ops', requestFor(run2))).acquired).toBe(false);
    expect(callbacks.deliveredTokens).toEqual([tokenOf(run1)]);
    expect(callbacks.successes[0]!.output).toMatchObject({
      acquired: true,
      lockKey: lockKeyFor(repository, 'ops'),
      holder: { runId: run1.id, sequence: 1 },
    });

    expect(await locks.release(repository, 'ops', run1.id, run1.sequence)).toBe(true);
    expect(callbacks.deliveredTokens).toEqual([tokenOf(run1), tokenOf(run2)]);
    await locks.release(repository, 'ops', run2.id, run2.sequence);
    expect(callbacks.deliveredTokens).toEqual([tokenOf(run1), tokenOf(run2), tokenOf(run3)]);
    await locks.release(repository, 'ops', run3.id, run3.sequence);

    expect(await dynamo.stores.locks.get(lockKeyFor(repository, 'ops'))).toBeUndefined();
    expect(await dynamo.stores.locks.listQueue(lockKeyFor(repository, 'ops'))).toEqual([]);
    const history = await dynamo.stores.locks.listEvents(lockKeyFor(repository, 'ops'));
    expect(history.filter((event) => event.kind === 'acquired').map((event) => event.runId)).toEqual([
      run1.id,
      run2.id,
      run3.id,
    ]);
    expect(history.filter((event) => event.kind === 'released').map((event) => event.runId)).toEqual([
      run1.id,
      run2.id,
      run3.id,
    ]);
  });

  it('skips queue heads whose runs have ended or vanished', async () => {
    const repository = freshRepository();
    const { callbacks, locks } = setup();
    const ended = await createRun(repository, 1);
    const live = await createRun(repository, 3);
    await locks.enqueue(repository, 'ops', ended);
    await dynamo.stores.locks.enqueue(lockKeyFor(repository, 'ops'), {
      runId: 'never-recorded',
      sequence: 2,
      executionName: 'exec-x',
      enqueuedAt: new Date().toISOString(),
    });
    await locks.enqueue(repository, 'ops', live);
    await dynamo.stores.runs.updateRun(ended.id, { status: 'failed', error: 'plan failed' }, new Date());

    const result = await locks.request(repository, 'ops', requestFor(live));
    expect(result).toMatchObject({ acquired: true, holder: { runId: live.id } });
    expect(callbacks.deliveredTokens).toEqual([tokenOf(live)]);
    expect((await dynamo.stores.locks.listQueue(lockKeyFor(repository, 'ops'))).map((entry) => entry.runId)).toEqual([
      live.id,
    ]);
  });

  it('frees the lock of a holder whose run has ended', async () => {
    const repository = freshRepository();
    const { callbacks, locks } = setup();
    const [run1, run2] = [await createRun(repository, 1), await createRun(repository, 2)] as [Run, Run];
    await locks.enqueue(repository, 'ops', run1);
    await locks.enqueue(repository, 'ops', run2);
    await locks.request(repository, 'ops', requestFor(run1));
    // The run died without releasing (its failure path never ran).
    await dynamo.stores.runs.updateRun(run1.id, { status: 'interrupted' }, new Date());

    expect((await locks.request(repository, 'ops', requestFor(run2))).acquired).toBe(true);
    expect(callbacks.deliveredTokens).toEqual([tokenOf(run1), tokenOf(run2)]);
  });

  it('passes over a waiter whose execution is gone and gives the lock to the next one', async () => {
    const repository = freshRepository();
    const { callbacks, locks } = setup();
    const [run1, run2] = [await createRun(repository, 1), await createRun(repository, 2)] as [Run, Run];
    await locks.enqueue(repository, 'ops', run1);
    await locks.enqueue(repository, 'ops', run2);
    callbacks.gone.add(tokenOf(run1));
    // Both tokens are stored before anyone grants, so one grantNext has to walk past the gone one.
    await dynamo.stores.locks.setWaiterToken(lockKeyFor(repository, 'ops'), run1.id, 1, tokenOf(run1), 3600);
    await dynamo.stores.locks.setWaiterToken(lockKeyFor(repository, 'ops'), run2.id, 2, tokenOf(run2), 3600);

    const outcome = await locks.grantNext(lockKeyFor(repository, 'ops'));
    expect(outcome).toMatchObject({ notified: run2.id, holder: { runId: run2.id } });
    expect(callbacks.refused).toEqual([tokenOf(run1)]);
    expect(callbacks.deliveredTokens).toEqual([tokenOf(run2)]);
    expect((await dynamo.stores.locks.listQueue(lockKeyFor(repository, 'ops'))).map((entry) => entry.runId)).toEqual([
      run2.id,
    ]);
    const history = await dynamo.stores.locks.listEvents(lockKeyFor(repository, 'ops'));
    expect(history.map((event) => [event.kind, event.runId])).toEqual([
      ['acquired', run1.id],
      ['released', run1.id],
      ['acquired', run2.id],
    ]);
  });

  it('never grants twice when many grantNext calls race', async () => {
    const repository = freshRepository();
    const { callbacks, locks } = setup();
    const runs: Run[] = [];
    for (let sequence = 1; sequence <= 5; sequence++) runs.push(await createRun(repository, sequence));
    const lockKey = lockKeyFor(repository, 'ops');
    for (const run of runs) {
      await locks.enqueue(repository, 'ops', run);
      await dynamo.stores.locks.setWaiterToken(lockKey, run.id, run.sequence, tokenOf(run), 3600);
    }

    await Promise.all(Array.from({ length: 20 }, () => locks.grantNext(lockKey)));
    expect(callbacks.deliveredTokens).toEqual([tokenOf(runs[0]!)]);
    expect(callbacks.refused).toEqual([]);

    // A release racing with more grantNext calls still moves the lock exactly one place on.
    await Promise.all([
      locks.release(repository, 'ops', runs[0]!.id, 1),
      ...Array.from({ length: 10 }, () => locks.grantNext(lockKey)),
    ]);
    expect(callbacks.deliveredTokens).toEqual([tokenOf(runs[0]!), tokenOf(runs[1]!)]);
    expect((await dynamo.stores.locks.get(lockKey))?.runId).toBe(runs[1]!.id);
  });

  it('keeps one holder at a time and push order when executions request and release concurrently', async () => {
    const repository = freshRepository();
    const { callbacks, locks } = setup();
    const runs: Run[] = [];
    for (let sequence = 1; sequence <= 8; sequence++) runs.push(await createRun(repository, sequence));
    await Promise.all(runs.map((run) => locks.enqueue(repository, 'ops', run)));

    const byToken = new Map(runs.map((run) => [tokenOf(run), run]));
    const finished = new Map(runs.map((run) => [run.id, deferred()]));
    let inside = 0;
    let mostInside = 0;
    callbacks.onDelivered = (token) => {
      const run = byToken.get(token)!;
      const grant = callbacks.successes.find((success) => success.token === token)!.output;
      void (async () => {
        inside += 1;
        mostInside = Math.max(mostInside, inside);
        // What the apply does: the number the run was told must still be the lock's.
        await locks.checkFence(repository, 'ops', run.id, grant.holder.fence);
        await sleep(5);
        inside -= 1;
        await locks.release(repository, 'ops', run.id, run.sequence);
        finished.get(run.id)!.resolve();
      })().catch((error: unknown) => finished.get(run.id)!.reject(error));
    };

    let done = false;
    const meddler = (async () => {
      while (!done) {
        await locks.grantNext(lockKeyFor(repository, 'ops'));
        await sleep(1);
      }
    })();
    const shuffled = [...runs].sort(() => Math.random() - 0.5);
    await Promise.all(shuffled.map((run) => locks.request(repository, 'ops', requestFor(run))));
    await Promise.all([...finished.values()].map((resolvers) => resolvers.promise));
    done = true;
    await meddler;

    expect(mostInside).toBe(1);
    expect(callbacks.deliveredTokens).toEqual(runs.map((run) => tokenOf(run)));
    expect(callbacks.refused).toEqual([]);
    expect(await dynamo.stores.locks.get(lockKeyFor(repository, 'ops'))).toBeUndefined();
  });

  it('lets the queue head take over a lease that expired, and records it', async () => {
    const repository = freshRepository();
    const clock = new ManualClock(new Date('2024-05-01T10:00:00.000Z'));
    const { callbacks, locks } = setup(clock);
    const [older, newer] = [await createRun(repository, 1), await createRun(repository, 2)] as [Run, Run];
    // The newer push got queued and granted before the older push's intake reached the queue.
    await locks.enqueue(repository, 'ops', newer);
    await locks.request(repository, 'ops', { ...requestFor(newer), leaseSeconds: 60 });
    await locks.enqueue(repository, 'ops', older);

    clock.current = new Date('2024-05-01T10:00:30.000Z');
    expect(await locks.request(repository, 'ops', requestFor(older))).toMatchObject({
      acquired: false,
      holder: { runId: newer.id },
    });
    clock.current = new Date('2024-05-01T10:01:01.000Z');
    expect(await locks.grantNext(lockKeyFor(repository, 'ops'))).toMatchObject({
      notified: older.id,
      holder: { runId: older.id },
    });
    const history = await dynamo.stores.locks.listEvents(lockKeyFor(repository, 'ops'));
    expect(history.at(-1)).toMatchObject({
      kind: 'expired_takeover',
      runId: older.id,
      reason: `the lease of run ${newer.id} expired`,
    });
    expect(callbacks.deliveredTokens).toEqual([tokenOf(newer), tokenOf(older)]);
  });

  it('undoes a grant it made from a stale view of the queue', async () => {
    const repository = freshRepository();
    const { callbacks, locks } = setup();
    const run = await createRun(repository, 1);
    const lockKey = lockKeyFor(repository, 'ops');
    await locks.enqueue(repository, 'ops', run);

    // A slow grantNext: it has read the queue (run 1 waiting) and stalls just before acquiring.
    const reachedAcquire = deferred();
    const resume = deferred();
    const store = dynamo.stores.locks;
    const stalledStore = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'tryAcquire') {
          return async (...args: Parameters<typeof store.tryAcquire>) => {
            reachedAcquire.resolve();
            await resume.promise;
            return target.tryAcquire(...args);
          };
        }
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const slow = new EnvironmentLocks({ locks: stalledStore, runs: dynamo.stores.runs, callbacks });
    const slowGrant = slow.grantNext(lockKey);
    await reachedAcquire.promise;

    // Meanwhile run 1 asks, gets the lock, and is done with it.
    expect((await locks.request(repository, 'ops', requestFor(run))).acquired).toBe(true);
    expect(await locks.release(repository, 'ops', run.id, run.sequence)).toBe(true);

    resume.resolve();
    expect(await slowGrant).toEqual({});
    expect(await store.get(lockKey)).toBeUndefined();
    expect(callbacks.deliveredTokens).toEqual([tokenOf(run)]);
  });

  describe('two grantNext calls that read the same free lock (one run asking, another releasing)', () => {
    /** Holds the first two tryAcquire calls at gates, so the test decides how their puts and returns interleave. */
    function gatedStore() {
      const store = dynamo.stores.locks;
      const calls = [0, 1].map(() => ({ reached: deferred(), put: deferred(), before: deferred(), after: deferred() }));
      let next = 0;
      const gated = new Proxy(store, {
        get(target, property, receiver) {
          if (property === 'tryAcquire') {
            return async (...args: Parameters<typeof store.tryAcquire>) => {
              const gate = calls[next++];
              if (!gate) return target.tryAcquire(...args);
              gate.reached.resolve();
              await gate.before.promise;
              const result = await target.tryAcquire(...args);
              gate.put.resolve();
              await gate.after.promise;
              return result;
            };
          }
          const value: unknown = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      return { gated, calls: calls as [(typeof calls)[0], (typeof calls)[0]] };
    }

    async function twoGrantsFromOneRead(order: 'both puts, then both go on' | 'first delivers, then second puts') {
      const repository = freshRepository();
      const { callbacks, locks } = setup();
      const run = await createRun(repository, 1);
      const lockKey = lockKeyFor(repository, 'ops');
      await locks.enqueue(repository, 'ops', run);
      await dynamo.stores.locks.setWaiterToken(lockKey, run.id, run.sequence, tokenOf(run), 3600);

      const { gated, calls } = gatedStore();
      const racing = new EnvironmentLocks({ locks: gated, runs: dynamo.stores.runs, callbacks });
      // Both read "free lock, run 1 at the head with its token" before either writes.
      const first = racing.grantNext(lockKey);
      await calls[0].reached.promise;
      const second = racing.grantNext(lockKey);
      await calls[1].reached.promise;

      if (order === 'both puts, then both go on') {
        calls[0].before.resolve();
        await calls[0].put.promise;
        calls[1].before.resolve();
        await calls[1].put.promise;
        calls[0].after.resolve();
        calls[1].after.resolve();
        await Promise.all([first, second]);
      } else {
        calls[0].before.resolve();
        calls[0].after.resolve();
        await first;
        calls[1].before.resolve();
        calls[1].after.resolve();
        await second;
      }

      expect(callbacks.deliveredTokens).toEqual([tokenOf(run)]);
      const told = callbacks.successes[0]!.output.holder.fence;
      const stored = await dynamo.stores.locks.get(lockKey);
      expect(stored).toMatchObject({ runId: run.id, fence: told });
      // The run's apply passes the fence check with the number it was told.
      await expect(locks.checkFence(repository, 'ops', run.id, told)).resolves.toMatchObject({
        runId: run.id,
        fence: told,
      });
    }

    it(
      'give the head one fencing number, the one it was told, when both puts land before either ' + 'delivers',
      async () => {
        await twoGrantsFromOneRead('both puts, then both go on');
      },
    );

    it(
      'give the head one fencing number, the one it was told, when the second puts after the first ' + 'delivered',
      async () => {
        await twoGrantsFromOneRead('first delivers, then second puts');
      },
    );
  });

  it('still refuses the apply of a run whose lock was freed and granted on', async () => {
    const repository = freshRepository();
    const { callbacks, locks } = setup();
    const [stuck, next] = [await createRun(repository, 1), await createRun(repository, 2)] as [Run, Run];
    await locks.enqueue(repository, 'ops', stuck);
    await locks.enqueue(repository, 'ops', next);
    await locks.request(repository, 'ops', requestFor(stuck));
    await locks.request(repository, 'ops', requestFor(next));
    const stuckFence = callbacks.successes[0]!.output.holder.fence;
    await locks.forceRelease(repository, 'ops', { by: 'bob@example.com', reason: 'build hung' });
    const nextFence = callbacks.successes[1]!.output.holder.fence;
    expect(nextFence).toBeGreaterThan(stuckFence);
    await expect(locks.checkFence(repository, 'ops', stuck.id, stuckFence)).rejects.toThrow(/no longer its own/);
    await expect(locks.checkFence(repository, 'ops', next.id, nextFence)).resolves.toMatchObject({ runId: next.id });
  });

  it('frees a lock whose holder is no longer queued', async () => {
    const repository = freshRepository();
    const { callbacks, locks } = setup();
    const [run1, run2] = [await createRun(repository, 1), await createRun(repository, 2)] as [Run, Run];
    const lockKey = lockKeyFor(repository, 'ops');
    await locks.enqueue(repository, 'ops', run2);
    await dynamo.stores.locks.setWaiterToken(lockKey, run2.id, 2, tokenOf(run2), 3600);
    // A grant left behind by a crash between a release's dequeue and its release.
    const nowEpoch = Math.floor(Date.now() / 1000);
    await dynamo.stores.locks.tryAcquire(
      lockKey,
      {
        runId: run1.id,
        sequence: 1,
        executionName: run1.executionName,
        acquiredAt: new Date().toISOString(),
        leaseExpiresAt: nowEpoch + 3600,
      },
      nowEpoch,
    );

    expect(await locks.grantNext(lockKey)).toMatchObject({ notified: run2.id });
    expect(callbacks.deliveredTokens).toEqual([tokenOf(run2)]);
  });

  it('records who forced a lock free and why, notes it on the run and grants the next waiter', async () => {
    const repository = freshRepository();
    const { callbacks, locks } = setup();
    const [stuck, next] = [await createRun(repository, 1), await createRun(repository, 2)] as [Run, Run];
    await locks.enqueue(repository, 'ops', stuck);
    await locks.enqueue(repository, 'ops', next);
    await locks.request(repository, 'ops', requestFor(stuck));
    await locks.request(repository, 'ops', requestFor(next));

    const freed = await locks.forceRelease(repository, 'ops', { by: 'bob@example.com', reason: 'build hung' });
    expect(freed?.runId).toBe(stuck.id);
    const history = await dynamo.stores.locks.listEvents(lockKeyFor(repository, 'ops'));
    expect(history).toContainEqual(
      expect.objectContaining({ kind: 'forced_release', runId: stuck.id, by: 'bob@example.com', reason: 'build hung' }),
    );
    expect((await dynamo.stores.runs.get(stuck.id))?.notes).toEqual([
      'The ops lock was freed by bob@example.com: build hung',
    ]);
    expect(callbacks.deliveredTokens).toEqual([tokenOf(stuck), tokenOf(next)]);
    expect((await dynamo.stores.locks.get(lockKeyFor(repository, 'ops')))?.runId).toBe(next.id);

    // The freed run finishing later must not take the lock from the next one.
    expect(await locks.release(repository, 'ops', stuck.id, stuck.sequence)).toBe(false);
    expect((await dynamo.stores.locks.get(lockKeyFor(repository, 'ops')))?.runId).toBe(next.id);
    expect(
      await locks.forceRelease(freshRepository(), 'ops', { by: 'bob@example.com', reason: 'nothing there' }),
    ).toBeUndefined();
  });

  it('releases every lock and queue place of a failed run', async () => {
    const repository = freshRepository();
    const { callbacks, locks } = setup();
    const [failing, waiting] = [await createRun(repository, 1), await createRun(repository, 2)] as [Run, Run];
    for (const environment of ['ops', 'apps']) {
      await locks.enqueue(repository, environment, failing);
      await locks.enqueue(repository, environment, waiting);
    }
    await locks.request(repository, 'ops', requestFor(failing, 'ops'));
    await locks.request(repository, 'ops', requestFor(waiting, 'ops'));
    await locks.request(repository, 'apps', requestFor(waiting, 'apps'));
    // The failing run holds ops and, as the older push, holds apps in reserve.
    expect((await dynamo.stores.locks.get(lockKeyFor(repository, 'apps')))?.runId).toBe(failing.id);

    await locks.releaseAll(failing);
    expect(callbacks.deliveredTokens).toEqual([
      tokenOf(failing, 'ops'),
      tokenOf(waiting, 'ops'),
      tokenOf(waiting, 'apps'),
    ]);
    for (const environment of ['ops', 'apps']) {
      expect((await dynamo.stores.locks.get(lockKeyFor(repository, environment)))?.runId).toBe(waiting.id);
      expect(
        (await dynamo.stores.locks.listQueue(lockKeyFor(repository, environment))).map((entry) => entry.runId),
      ).toEqual([waiting.id]);
    }
  });

  it('queues a run that asks without having been enqueued, and renews only for the holder', async () => {
    const repository = freshRepository();
    const { callbacks, locks } = setup();
    const run = await createRun(repository, 1);
    expect((await locks.request(repository, 'ops', requestFor(run))).acquired).toBe(true);
    expect(callbacks.deliveredTokens).toEqual([tokenOf(run)]);
    const lease = (await dynamo.stores.locks.get(lockKeyFor(repository, 'ops')))!.leaseExpiresAt;
    expect(await locks.renew(repository, 'ops', run.id, 7200)).toBe(true);
    expect((await dynamo.stores.locks.get(lockKeyFor(repository, 'ops')))!.leaseExpiresAt).toBeGreaterThan(lease);
    expect(await locks.renew(repository, 'ops', 'someone-else', 7200)).toBe(false);
  });
});
