import { lockKeyFor } from '../lambdas/core/dynamo/table-layout.js';
import { AlreadyExistsError, NotFoundError } from '../lambdas/core/domain/errors.js';
import type { DeliveryStore, ExecutionStarter, PipelineInput, QueueEntry, RunStore, SequenceStore, StagePatch, RunPatch } from '../lambdas/core/domain/ports.js';
import { isTerminalRun, type Run } from '../lambdas/core/domain/run.js';

/**
 * In-memory stand-ins for the ports the webhook intake touches, so the bench can show what the handler
 * itself costs without dynalite's HTTP round trips. They keep the DynamoDB adapters' conditions (a
 * delivery is claimed once, a run id is created once, a queue entry is never overwritten, sequences
 * only grow) and hand out copies, as a store would, so nothing is shared by reference.
 */

const copy = <T>(value: T): T => structuredClone(value);

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

  async list(options: { limit?: number } = {}): Promise<Run[]> {
    const newestFirst = [...this.runs.values()].sort((a, b) => `${b.createdAt}#${b.id}`.localeCompare(`${a.createdAt}#${a.id}`));
    return copy(options.limit === undefined ? newestFirst : newestFirst.slice(0, options.limit));
  }

  async listActive(): Promise<Run[]> {
    return copy([...this.runs.values()].filter((run) => !isTerminalRun(run.status)));
  }

  async updateStage(runId: string, environment: string, patch: StagePatch, at: Date): Promise<Run> {
    const run = this.existing(runId);
    const stage = run.stages.find((s) => s.environment === environment);
    if (!stage) throw new NotFoundError(`Run ${runId} has no stage ${environment}`);
    Object.assign(stage, patch);
    stage.transitions = [...stage.transitions, { status: patch.status, at: at.toISOString() }];
    run.updatedAt = at.toISOString();
    return copy(run);
  }

  async updateRun(runId: string, patch: RunPatch, at: Date): Promise<Run> {
    const run = this.existing(runId);
    if (patch.status !== undefined) run.status = patch.status;
    if (patch.error !== undefined) run.error = patch.error;
    if (patch.note !== undefined) run.notes = [...(run.notes ?? []), patch.note];
    run.updatedAt = at.toISOString();
    return copy(run);
  }

  get size(): number {
    return this.runs.size;
  }

  private existing(runId: string): Run {
    const run = this.runs.get(runId);
    if (!run) throw new NotFoundError(`Run ${runId} not found`);
    return run;
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

  async get(deliveryId: string): Promise<{ deliveryId: string; runId?: string } | undefined> {
    const delivery = this.deliveries.get(deliveryId);
    if (!delivery) return undefined;
    return delivery.runId !== undefined ? { deliveryId, runId: delivery.runId } : { deliveryId };
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

/** The lock queues as intake uses them: enqueue (never overwriting an entry) and, when a start fails, leaving every queue. */
export class MemoryLockQueues {
  private readonly queues = new Map<string, Map<string, QueueEntry>>();

  constructor(private readonly now: () => Date = () => new Date()) {}

  async enqueue(repository: string, environment: string, run: Run): Promise<void> {
    const lockKey = lockKeyFor(repository, environment);
    const queue = this.queues.get(lockKey) ?? new Map<string, QueueEntry>();
    this.queues.set(lockKey, queue);
    const key = `${String(run.sequence).padStart(12, '0')}#${run.id}`;
    if (queue.has(key)) return;
    queue.set(key, { runId: run.id, sequence: run.sequence, executionName: run.executionName, enqueuedAt: this.now().toISOString() });
  }

  async releaseAll(run: Run): Promise<void> {
    if (run.mode !== 'deploy') return;
    for (const stage of run.stages) this.queues.get(lockKeyFor(run.repository, stage.environment))?.delete(`${String(run.sequence).padStart(12, '0')}#${run.id}`);
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
