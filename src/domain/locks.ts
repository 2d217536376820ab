/**
 * Environment lock ordering: one holder per (repository, environment), granted in push order.
 *
 * Every actor (a waiter asking, a holder releasing, an operator unlocking, the reconciler) first writes
 * its own change and then calls grantNext, which re-reads the lock and the queue with consistent reads
 * and moves the lock to the queue head. Whichever actor runs last sees every earlier write, so a grant
 * is never missed; the single-item conditions in the LockStore make sure it is never doubled.
 */
import { NotFoundError, TfgateError } from './errors.js';
import type {
  Clock,
  LockClaim,
  LockEvent,
  LockHolder,
  LockStore,
  QueueEntry,
  RunStore,
  TaskCallbacks,
} from './ports.js';
import { systemClock } from './ports.js';
import { isTerminalRun, type Run } from './run.js';
import { lockKeyFor } from './lock-key.js';

export class LockOrderingError extends TfgateError {
  override name = 'LockOrderingError';
}

/** The run no longer holds the lock with the fencing number it was granted: it must not apply. */
export class LockLostError extends TfgateError {
  override name = 'LockLostError';
}

/** `tfgate unlock`'s outcome: a live holder is only freed when the operator forces it. */
export type UnlockOutcome =
  | { kind: 'not_held' }
  | { kind: 'freed'; holder: LockHolder; run?: Run; wasAlive: boolean }
  | { kind: 'refused'; holder: LockHolder; run: Run };

export interface LockRequest {
  runId: string;
  sequence: number;
  executionName: string;
  taskToken: string;
  leaseSeconds: number;
}

/** What the waiting execution receives with SendTaskSuccess. */
export interface LockGrant {
  acquired: true;
  lockKey: string;
  holder: LockHolder;
}

export interface GrantOutcome {
  /** The holder when grantNext stopped (undefined: the lock is free and nobody live is waiting). */
  holder?: LockHolder;
  /** The run whose waiting execution this call resumed, if any. */
  notified?: string;
}

export interface EnvironmentLocksDeps {
  locks: LockStore;
  runs: RunStore;
  callbacks: TaskCallbacks;
  clock?: Clock;
  /**
   * The lease given to a queue head that has not asked yet (it holds the lock in reserve so nobody
   * behind it overtakes). Its own request replaces it with the lease it asks for.
   */
  reserveLeaseSeconds?: number;
}

const DEFAULT_RESERVE_LEASE_SECONDS = 3600;
/**
 * Each round of grantNext either ends or follows a change someone else made (a dequeue, a release,
 * a lost race). The bound only guards against a livelock; whoever keeps changing the lock also calls
 * grantNext, so stopping early never strands a waiter.
 */
const MAX_GRANT_ROUNDS = 100;

function epochSeconds(at: Date): number {
  return Math.floor(at.getTime() / 1000);
}

function isSameEntry(entry: QueueEntry, runId: string, sequence: number): boolean {
  return entry.runId === runId && entry.sequence === sequence;
}

export class EnvironmentLocks {
  readonly callbacks: TaskCallbacks;
  private readonly locks: LockStore;
  private readonly runs: RunStore;
  private readonly clock: Clock;
  private readonly reserveLeaseSeconds: number;

  constructor(deps: EnvironmentLocksDeps) {
    this.locks = deps.locks;
    this.runs = deps.runs;
    this.callbacks = deps.callbacks;
    this.clock = deps.clock ?? systemClock;
    this.reserveLeaseSeconds = deps.reserveLeaseSeconds ?? DEFAULT_RESERVE_LEASE_SECONDS;
  }

  /** Called at intake for deploy runs, before the execution starts, so the push order is fixed early. */
  async enqueue(repository: string, environment: string, run: Run): Promise<void> {
    await this.locks.enqueue(lockKeyFor(repository, environment), {
      runId: run.id,
      sequence: run.sequence,
      executionName: run.executionName,
      enqueuedAt: this.clock.now().toISOString(),
    });
  }

  /**
   * The waiting execution's request: its token is stored before anything else, so any grantNext from
   * here on (ours or a releaser's) can resume it. Returns the state after our own grantNext.
   */
  async request(
    repository: string,
    environment: string,
    request: LockRequest,
  ): Promise<{ acquired: boolean; holder: LockHolder }> {
    const lockKey = lockKeyFor(repository, environment);
    const stored = await this.locks.setWaiterToken(
      lockKey,
      request.runId,
      request.sequence,
      request.taskToken,
      request.leaseSeconds,
    );
    if (!stored) {
      // Intake enqueues every deploy run; a missing entry means that step failed, so queue it now.
      await this.locks.enqueue(lockKey, {
        runId: request.runId,
        sequence: request.sequence,
        executionName: request.executionName,
        enqueuedAt: this.clock.now().toISOString(),
        taskToken: request.taskToken,
        leaseSeconds: request.leaseSeconds,
      });
    }
    const outcome = await this.grantNext(lockKey);
    const holder = outcome.holder ?? (await this.locks.get(lockKey));
    if (!holder)
      throw new LockOrderingError(
        `Nobody holds ${lockKey} after run ${request.runId} asked for it: the run has ended or left the queue`,
      );
    return { acquired: holder.runId === request.runId, holder };
  }

  /**
   * Gives the lock to the oldest live waiter and resumes its execution. Safe to call any time, by anyone, concurrently.
   */
  async grantNext(lockKey: string): Promise<GrantOutcome> {
    let holder: LockHolder | undefined;
    for (let round = 0; round < MAX_GRANT_ROUNDS; round++) {
      // The holder is read before the queue: a holder missing from a queue read after it is then
      // certainly on its way out (released, force-released, or a stale grant being undone).
      holder = await this.locks.get(lockKey);
      const queue = await this.locks.listQueue(lockKey);

      if (holder && !queue.some((entry) => isSameEntry(entry, holder!.runId, holder!.sequence))) {
        await this.releaseHolder(lockKey, holder.runId, 'the holder is no longer queued');
        continue;
      }

      const head = await this.liveHead(lockKey, queue);
      if (head === 'changed') continue;
      if (!head) return holder ? { holder } : {};

      const now = this.clock.now();
      const nowEpoch = epochSeconds(now);
      if (holder && holder.runId !== head.runId) {
        const holderRun = await this.runs.get(holder.runId);
        if (!holderRun || isTerminalRun(holderRun.status)) {
          await this.locks.dequeue(lockKey, holder.runId, holder.sequence);
          await this.releaseHolder(lockKey, holder.runId, 'the holder run has ended');
          continue;
        }
        if (holder.leaseExpiresAt >= nowEpoch) return { holder };
        // An expired lease is taken over by the head below; tryAcquire's condition checks it again.
      }

      const headHolds = holder?.runId === head.runId;
      if (headHolds && !head.taskToken) return { holder };

      const candidate: LockClaim = {
        runId: head.runId,
        sequence: head.sequence,
        executionName: head.executionName,
        acquiredAt: headHolds && holder ? holder.acquiredAt : now.toISOString(),
        leaseExpiresAt: nowEpoch + (head.leaseSeconds ?? this.reserveLeaseSeconds),
        // The same holder keeps its fencing number; anyone new gets the next one from the store.
        ...(headHolds && holder ? { fence: holder.fence } : {}),
      };
      // A lost race is normal here, also to the head itself: another grantNext that read the same free
      // lock granted it first. The store refuses to give that hold a second fencing number (the run may
      // already have been told the first), and the next round refreshes the hold under its own number.
      const acquired = await this.locks.tryAcquire(lockKey, candidate, nowEpoch);
      if (!acquired.acquired) continue;

      // Our queue snapshot may be stale: if the head released and dequeued itself meanwhile, we just
      // handed the lock back to a run that is done with it. Releasers dequeue before they release, so
      // checking the entry after acquiring catches every such case; undo and look again.
      const queueAfter = await this.locks.listQueue(lockKey);
      if (!queueAfter.some((entry) => isSameEntry(entry, head.runId, head.sequence))) {
        await this.locks.release(lockKey, head.runId);
        continue;
      }
      holder = acquired.holder;
      await this.recordAcquisition(lockKey, acquired.holder, acquired.previous);

      if (!head.taskToken) return { holder };
      // Only the caller that takes the token off the entry sends it: a grant is delivered once.
      const token = await this.locks.takeWaiterToken(lockKey, head.runId, head.sequence);
      if (!token) return { holder };
      let delivered: boolean;
      try {
        const grant: LockGrant = { acquired: true, lockKey, holder };
        ({ delivered } = await this.callbacks.sendTaskSuccess(token, grant));
      } catch (error) {
        // Put the token back so the next grantNext retries the delivery.
        await this.locks.setWaiterToken(lockKey, head.runId, head.sequence, token);
        throw error;
      }
      if (delivered) return { holder, notified: head.runId };

      // The execution is gone (timed out waiting, stopped): it must not keep the lock or the queue.
      await this.locks.dequeue(lockKey, head.runId, head.sequence);
      await this.releaseHolder(lockKey, head.runId, 'the waiting execution is gone');
    }
    return holder ? { holder } : {};
  }

  /**
   * The holder is done with the environment. Dequeues before releasing, which is what lets grantNext
   * detect and undo a grant made from a stale view of the queue.
   */
  async release(repository: string, environment: string, runId: string, sequence: number): Promise<boolean> {
    const lockKey = lockKeyFor(repository, environment);
    await this.locks.dequeue(lockKey, runId, sequence);
    const released = await this.locks.release(lockKey, runId);
    if (released) await this.recordEvent(lockKey, { kind: 'released', runId });
    await this.grantNext(lockKey);
    return released;
  }

  /**
   * Every failure path ends here: frees whatever the run holds or waits for, environment by
   * environment, and keeps going when one of them fails so one bad environment cannot keep the others.
   */
  async releaseAll(run: Run): Promise<void> {
    if (run.mode !== 'deploy') return;
    const failures: unknown[] = [];
    for (const stage of run.stages) {
      try {
        await this.release(run.repository, stage.environment, run.id, run.sequence);
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length > 0) {
      throw new LockOrderingError(`Releasing the locks of run ${run.id} failed for ${failures.length} environment(s)`, {
        cause: failures.length === 1 ? failures[0] : new AggregateError(failures),
      });
    }
  }

  /** `tfgate unlock`: frees the lock whoever holds it, and leaves a note on the holder's run saying who and why. */
  async forceRelease(
    repository: string,
    environment: string,
    operator: { by: string; reason: string },
  ): Promise<LockHolder | undefined> {
    const lockKey = lockKeyFor(repository, environment);
    const holder = await this.locks.forceRelease(lockKey);
    if (holder) {
      // Left in the queue, the holder would be the head again and get the lock straight back.
      await this.locks.dequeue(lockKey, holder.runId, holder.sequence);
      await this.recordEvent(lockKey, {
        kind: 'forced_release',
        runId: holder.runId,
        by: operator.by,
        reason: operator.reason,
        fence: holder.fence,
      });
      try {
        await this.runs.updateRun(
          holder.runId,
          { note: `The ${environment} lock was freed by ${operator.by}: ${operator.reason}` },
          this.clock.now(),
        );
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
      }
    }
    await this.grantNext(lockKey);
    return holder;
  }

  /**
   * `tfgate unlock`. A lock whose holder run is still alive (not ended) is freed only with `force`,
   * and the answer names that run: it will not apply, because its apply checks the fencing number.
   * `stopHolder` records the operator's stop on that run before the lock is freed, so from the moment
   * anyone else can take the lock, the run reads as ended (restarts included).
   */
  async unlock(
    repository: string,
    environment: string,
    operator: { by: string; reason: string; force: boolean },
    stopHolder?: (holder: LockHolder, run: Run) => Promise<void>,
  ): Promise<UnlockOutcome> {
    const current = await this.locks.get(lockKeyFor(repository, environment));
    if (!current) {
      await this.grantNext(lockKeyFor(repository, environment));
      return { kind: 'not_held' };
    }
    const run = await this.runs.get(current.runId);
    const alive = run !== undefined && !isTerminalRun(run.status);
    if (alive && !operator.force) return { kind: 'refused', holder: current, run };
    if (alive && stopHolder) await stopHolder(current, run);
    const freed = await this.forceRelease(repository, environment, { by: operator.by, reason: operator.reason });
    if (!freed) return { kind: 'not_held' };
    return { kind: 'freed', holder: freed, ...(run ? { run } : {}), wasAlive: alive };
  }

  /**
   * The fence check before an apply: passes only while `runId` holds the lock with `fence`. Otherwise
   * throws LockLostError saying what happened (who freed it and why, when the history says).
   */
  async checkFence(repository: string, environment: string, runId: string, fence: number): Promise<LockHolder> {
    const lockKey = lockKeyFor(repository, environment);
    const holder = await this.locks.get(lockKey);
    if (holder && holder.runId === runId && holder.fence === fence) return holder;
    const events = await this.locks.listEvents(lockKey).catch(() => [] as LockEvent[]);
    const freed = events
      .filter(
        (event) =>
          (event.kind === 'forced_release' && event.runId === runId) ||
          (event.kind === 'expired_takeover' && event.reason?.includes(runId)),
      )
      .pop();
    const how =
      freed?.kind === 'forced_release'
        ? `it was freed by ${freed.by ?? 'an operator'} at ${freed.at}${freed.reason ? ` (${freed.reason})` : ''}`
        : freed?.kind === 'expired_takeover'
          ? `its lease expired and it was taken over at ${freed.at}`
          : 'it was freed';
    const now = !holder
      ? 'nobody holds it now'
      : holder.runId === runId
        ? `this run holds it again under fencing number ${holder.fence}`
        : `run ${holder.runId} holds it now (fencing number ${holder.fence})`;
    throw new LockLostError(
      `the ${environment} lock granted to this run under fencing number ${fence} is no longer its own: ${how}, ` +
        `and ${now}; refusing to apply`,
    );
  }

  /** Extends the holder's lease; false when the run no longer holds the lock. */
  async renew(repository: string, environment: string, runId: string, leaseSeconds: number): Promise<boolean> {
    return this.locks.renew(lockKeyFor(repository, environment), runId, epochSeconds(this.clock.now()) + leaseSeconds);
  }

  /**
   * The oldest entry whose run is still live. Entries of ended or missing runs are dequeued on the
   * way; 'changed' tells the caller to read again, because a dequeued run may have been the holder.
   */
  private async liveHead(lockKey: string, queue: QueueEntry[]): Promise<QueueEntry | undefined | 'changed'> {
    let changed = false;
    for (const entry of queue) {
      const run = await this.runs.get(entry.runId);
      if (run && !isTerminalRun(run.status)) return changed ? 'changed' : entry;
      await this.locks.dequeue(lockKey, entry.runId, entry.sequence);
      changed = true;
    }
    return changed ? 'changed' : undefined;
  }

  private async releaseHolder(lockKey: string, runId: string, reason: string): Promise<void> {
    if (await this.locks.release(lockKey, runId)) await this.recordEvent(lockKey, { kind: 'released', runId, reason });
  }

  private async recordAcquisition(
    lockKey: string,
    holder: LockHolder,
    previous: LockHolder | undefined,
  ): Promise<void> {
    if (previous?.runId === holder.runId) return;
    if (previous) {
      await this.recordEvent(lockKey, {
        kind: 'expired_takeover',
        runId: holder.runId,
        reason: `the lease of run ${previous.runId} expired`,
      });
    } else {
      await this.recordEvent(lockKey, { kind: 'acquired', runId: holder.runId });
    }
  }

  private async recordEvent(lockKey: string, event: Omit<LockEvent, 'at'>): Promise<void> {
    await this.locks.recordEvent(lockKey, { at: this.clock.now().toISOString(), ...event });
  }
}
