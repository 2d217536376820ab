import { lockKeyFor } from '../../src/adapters/dynamo/table-layout.js';
import { AlreadyExistsError, NotFoundError } from '../../src/domain/errors.js';
import type {
  AcquireResult,
  ApprovalRecord,
  ApprovalStore,
  DecideResult,
  DeliveryStore,
  ExecutionStarter,
  LockClaim,
  LockEvent,
  LockHolder,
  LockStore,
  PipelineInput,
  QueueEntry,
  RunPatch,
  RunStore,
  SequenceStore,
  StagePatch,
} from '../../src/domain/ports.js';
import type { ApprovalStatus } from '../../src/domain/run.js';
import { isTerminalRun, runListCursor, type Run, type StageApproval } from '../../src/domain/run.js';

/**
 * In-memory stand-ins for the store ports, for tests and the bench (no dynalite round trips). They
 * keep the DynamoDB adapters' conditions (a delivery is claimed once, a run id is created once, a
 * queue entry is never overwritten, a lock is taken only when free, expired or already ours, a
 * decision lands once) and hand out copies, as a store would, so nothing is shared by reference.
 * test/stores/contract/ runs the same suite against these and the DynamoDB adapters on dynalite.
 */

const copy = <T>(value: T): T => structuredClone(value);

/** What DynamoDB does with `removeUndefinedValues`: a field given as undefined is not written at all. */
function definedFields<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as Partial<T>;
}

export class MemoryRunStore implements RunStore {
  private readonly runs = new Map<string, Run>();

  async create(run: Run): Promise<void> {
    if (this.runs.has(run.id)) throw new AlreadyExistsError(`Run ${run.id} already exists`);
    this.runs.set(run.id, copy(run));
  }

  async get(id: string): Promise<Run | undefined> {
    const run = this.runs.get(id);
    return run ? copy(run) : undefined;
  }

  async list(options: { limit?: number; before?: string } = {}): Promise<Run[]> {
    const newestFirst = [...this.runs.values()]
      .filter((run) => options.before === undefined || runListCursor(run) < options.before)
      .sort((a, b) => (runListCursor(a) < runListCursor(b) ? 1 : runListCursor(a) > runListCursor(b) ? -1 : 0));
    return copy(options.limit === undefined ? newestFirst : newestFirst.slice(0, options.limit));
  }

  async listActive(): Promise<Run[]> {
    const active = [...this.runs.values()].filter((run) => !isTerminalRun(run.status));
    return copy(active.sort((a, b) => a.createdAt.localeCompare(b.createdAt)));
  }

  async updateStage(runId: string, environment: string, patch: StagePatch, at: Date): Promise<Run> {
    const run = this.runs.get(runId);
    const stage = run?.stages.find((s) => s.environment === environment);
    if (!run || !stage) throw new NotFoundError(`Run ${runId} has no stage ${environment}`);
    Object.assign(stage, copy(definedFields(patch)));
    stage.transitions = [...stage.transitions, { status: patch.status, at: at.toISOString() }];
    run.updatedAt = at.toISOString();
    return copy(run);
  }

  async recordApprovalProgress(
    runId: string,
    environment: string,
    approval: StageApproval,
    at: Date,
  ): Promise<boolean> {
    const run = this.runs.get(runId);
    const stage = run?.stages.find((s) => s.environment === environment);
    if (!run || stage?.status !== 'awaiting_approval' || stage.approval?.id !== approval.id) return false;
    if ((stage.approval.approvals?.length ?? 0) >= (approval.approvals?.length ?? 0)) return false;
    stage.approval = copy(approval);
    run.updatedAt = at.toISOString();
    return true;
  }

  async updateRun(runId: string, patch: RunPatch, at: Date): Promise<Run> {
    const run = this.runs.get(runId);
    if (!run) throw new NotFoundError(`Run ${runId} not found`);
    if (patch.status !== undefined) run.status = patch.status;
    if (patch.error !== undefined) run.error = patch.error;
    if (patch.stop !== undefined) run.stop = copy(patch.stop);
    if (patch.note !== undefined) run.notes = [...(run.notes ?? []), patch.note];
    run.updatedAt = at.toISOString();
    return copy(run);
  }

  get size(): number {
    return this.runs.size;
  }
}

export class MemoryDeliveryStore implements DeliveryStore {
  private readonly deliveries = new Map<string, { claimedAt: string; runId?: string }>();

  async claim(deliveryId: string, at: Date): Promise<boolean> {
    if (this.deliveries.has(deliveryId)) return false;
    this.deliveries.set(deliveryId, { claimedAt: at.toISOString() });
    return true;
  }

  async attachRun(deliveryId: string, runId: string): Promise<void> {
    const delivery = this.deliveries.get(deliveryId);
    if (!delivery) throw new NotFoundError(`Delivery ${deliveryId} was never claimed`);
    delivery.runId = runId;
  }

  async get(deliveryId: string): Promise<{ deliveryId: string; runId?: string; claimedAt?: string } | undefined> {
    const delivery = this.deliveries.get(deliveryId);
    if (!delivery) return undefined;
    return {
      deliveryId,
      ...(delivery.runId !== undefined ? { runId: delivery.runId } : {}),
      claimedAt: delivery.claimedAt,
    };
  }

  async release(deliveryId: string): Promise<void> {
    this.deliveries.delete(deliveryId);
  }
}

export class MemorySequenceStore implements SequenceStore {
  private readonly counters = new Map<string, number>();

  async next(repository: string): Promise<number> {
    // Case-insensitive, like the DynamoDB counter's key.
    const key = repository.toLowerCase();
    const value = (this.counters.get(key) ?? 0) + 1;
    this.counters.set(key, value);
    return value;
  }
}

/** The lock table as DynamoLockStore keeps it: one holder, a fencing counter, a queue and events per lock key. */
export class MemoryLockStore implements LockStore {
  private readonly holders = new Map<string, LockHolder>();
  private readonly fences = new Map<string, number>();
  private readonly queues = new Map<string, Map<string, QueueEntry>>();
  private readonly events = new Map<string, LockEvent[]>();

  async get(lockKey: string): Promise<LockHolder | undefined> {
    const holder = this.holders.get(lockKey);
    return holder ? copy(holder) : undefined;
  }

  async tryAcquire(lockKey: string, claim: LockClaim, nowEpochSeconds: number): Promise<AcquireResult> {
    // Like the adapter, a fresh claim draws its fencing number before the condition; a loser's number is never used.
    const holder: LockHolder = { ...copy(claim), fence: claim.fence ?? this.nextFence(lockKey) };
    const current = this.holders.get(lockKey);
    // The adapter's conditions: a fresh claim takes a free lock or another run's expired lease; a claim
    // keeping its fence refreshes only that same hold (or a free lock).
    const allowed =
      !current ||
      (claim.fence === undefined
        ? current.leaseExpiresAt < nowEpochSeconds && current.runId !== holder.runId
        : current.runId === holder.runId && current.fence === claim.fence);
    if (!allowed) return { acquired: false, holder: copy(current) };
    this.holders.set(lockKey, holder);
    return current
      ? { acquired: true, holder: copy(holder), previous: copy(current) }
      : { acquired: true, holder: copy(holder) };
  }

  private nextFence(lockKey: string): number {
    const fence = (this.fences.get(lockKey) ?? 0) + 1;
    this.fences.set(lockKey, fence);
    return fence;
  }

  async renew(lockKey: string, runId: string, leaseExpiresAt: number): Promise<boolean> {
    const holder = this.holders.get(lockKey);
    if (holder?.runId !== runId) return false;
    holder.leaseExpiresAt = leaseExpiresAt;
    return true;
  }

  async release(lockKey: string, runId: string): Promise<boolean> {
    if (this.holders.get(lockKey)?.runId !== runId) return false;
    this.holders.delete(lockKey);
    return true;
  }

  async forceRelease(lockKey: string): Promise<LockHolder | undefined> {
    const holder = this.holders.get(lockKey);
    this.holders.delete(lockKey);
    return holder ? copy(holder) : undefined;
  }

  async enqueue(lockKey: string, entry: QueueEntry): Promise<void> {
    const queue = this.queue(lockKey);
    const key = queueKey(entry.sequence, entry.runId);
    // A repeated enqueue (a retried intake) must not wipe a task token already stored.
    if (!queue.has(key)) queue.set(key, copy(entry));
  }

  async setWaiterToken(
    lockKey: string,
    runId: string,
    sequence: number,
    taskToken: string,
    leaseSeconds?: number,
  ): Promise<boolean> {
    const entry = this.queues.get(lockKey)?.get(queueKey(sequence, runId));
    if (!entry) return false;
    entry.taskToken = taskToken;
    if (leaseSeconds !== undefined) entry.leaseSeconds = leaseSeconds;
    return true;
  }

  async takeWaiterToken(lockKey: string, runId: string, sequence: number): Promise<string | undefined> {
    const entry = this.queues.get(lockKey)?.get(queueKey(sequence, runId));
    const token = entry?.taskToken;
    if (entry) delete entry.taskToken;
    return token;
  }

  async listQueue(lockKey: string): Promise<QueueEntry[]> {
    const queue = this.queues.get(lockKey) ?? new Map<string, QueueEntry>();
    return copy([...queue.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, entry]) => entry));
  }

  async dequeue(lockKey: string, runId: string, sequence: number): Promise<void> {
    this.queues.get(lockKey)?.delete(queueKey(sequence, runId));
  }

  async recordEvent(lockKey: string, event: LockEvent): Promise<void> {
    const events = this.events.get(lockKey) ?? [];
    // Ordered by time like the adapter's sort key; same-time events keep the order they came in.
    events.push(copy(definedFields(event) as LockEvent));
    events.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    this.events.set(lockKey, events);
  }

  async listEvents(lockKey: string): Promise<LockEvent[]> {
    return copy(this.events.get(lockKey) ?? []);
  }

  async listHeld(): Promise<Array<{ lockKey: string; holder: LockHolder }>> {
    return copy([...this.holders.entries()].map(([lockKey, holder]) => ({ lockKey, holder })));
  }

  private queue(lockKey: string): Map<string, QueueEntry> {
    const queue = this.queues.get(lockKey) ?? new Map<string, QueueEntry>();
    this.queues.set(lockKey, queue);
    return queue;
  }
}

function queueKey(sequence: number, runId: string): string {
  return `${String(sequence).padStart(12, '0')}#${runId}`;
}

export class MemoryApprovalStore implements ApprovalStore {
  private readonly approvals = new Map<string, ApprovalRecord>();

  async create(record: ApprovalRecord): Promise<void> {
    if (this.approvals.has(record.id)) throw new AlreadyExistsError(`Approval ${record.id} already exists`);
    this.approvals.set(record.id, copy(definedFields(record) as ApprovalRecord));
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    const record = this.approvals.get(id);
    return record ? copy(record) : undefined;
  }

  async attachTaskToken(id: string, runId: string, taskToken: string): Promise<DecideResult> {
    const record = this.approvals.get(id);
    if (record?.status !== 'pending' || record.runId !== runId)
      return { decided: false, approval: record ? copy(record) : undefined };
    record.taskToken = taskToken;
    return { decided: true, approval: copy(record) };
  }

  async decide(
    id: string,
    decision: { status: Exclude<ApprovalStatus, 'pending'>; by?: string; reason?: string },
    now: Date,
  ): Promise<DecideResult> {
    const record = this.approvals.get(id);
    // A person's decision must land before the deadline; expiring and superseding are what happens after it.
    const needsTimeLeft = decision.status === 'approved' || decision.status === 'rejected';
    const timeLeft = record !== undefined && record.expiresAt > Math.floor(now.getTime() / 1000);
    if (record?.status !== 'pending' || (needsTimeLeft && !timeLeft))
      return { decided: false, approval: record ? copy(record) : undefined };
    record.status = decision.status;
    record.decidedAt = now.toISOString();
    if (decision.by !== undefined) record.decidedBy = decision.by;
    if (decision.reason !== undefined) record.reason = decision.reason;
    return { decided: true, approval: copy(record) };
  }

  async addApproval(
    id: string,
    grant: { by: string; ids: string[] },
    options: { expected: number; completes: boolean },
    now: Date,
  ): Promise<DecideResult> {
    const record = this.approvals.get(id);
    const ids = [...new Set(grant.ids)];
    if (ids.length === 0 || ids.length > 25) throw new RangeError(`an approval names 1 to 25 identities`);
    const open =
      record?.status === 'pending' &&
      record.expiresAt > Math.floor(now.getTime() / 1000) &&
      (record.approvals?.length ?? 0) === options.expected &&
      !ids.some((value) => record.approverIds?.includes(value));
    if (!record || !open) return { decided: false, approval: record ? copy(record) : undefined };
    const at = now.toISOString();
    record.approvals = [...(record.approvals ?? []), { by: grant.by, at }];
    record.approverIds = [...(record.approverIds ?? []), ...ids];
    if (options.completes) {
      record.status = 'approved';
      record.decidedBy = grant.by;
      record.decidedAt = at;
    }
    return { decided: true, approval: copy(record) };
  }
}

/**
 * The lock queues as intake uses them: enqueue (never overwriting an entry) and, when a start fails, leaving every
 * queue.
 */
export class MemoryLockQueues {
  private readonly queues = new Map<string, Map<string, QueueEntry>>();

  constructor(private readonly now: () => Date = () => new Date()) {}

  async enqueue(repository: string, environment: string, run: Run): Promise<void> {
    const lockKey = lockKeyFor(repository, environment);
    const queue = this.queues.get(lockKey) ?? new Map<string, QueueEntry>();
    this.queues.set(lockKey, queue);
    const key = queueKey(run.sequence, run.id);
    if (queue.has(key)) return;
    queue.set(key, {
      runId: run.id,
      sequence: run.sequence,
      executionName: run.executionName,
      enqueuedAt: this.now().toISOString(),
    });
  }

  async releaseAll(run: Run): Promise<void> {
    if (run.mode !== 'deploy') return;
    for (const stage of run.stages)
      this.queues.get(lockKeyFor(run.repository, stage.environment))?.delete(queueKey(run.sequence, run.id));
  }

  queued(repository: string, environment: string): number {
    return this.queues.get(lockKeyFor(repository, environment))?.size ?? 0;
  }
}

/** Step Functions' StartExecution as far as intake can tell: a name starts once. */
export class RecordingStarter implements ExecutionStarter {
  readonly started = new Map<string, PipelineInput>();

  async start(name: string, input: PipelineInput): Promise<{ started: boolean; executionId: string }> {
    const executionId = `arn:aws:states:us-east-1:000000000000:execution:tfgate-pipeline:${name}`;
    if (this.started.has(name)) return { started: false, executionId };
    this.started.set(name, input);
    return { started: true, executionId };
  }
}
