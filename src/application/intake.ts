import { createHash, randomUUID } from 'node:crypto';
import type { RepositoryConfig, TfgateConfig } from '../config/load.js';
import { buildLimits } from '../config/build-limits.js';
import type {
  Clock,
  DeliveryStore,
  ExecutionStarter,
  PipelineInput,
  RunStore,
  SequenceStore,
} from '../domain/ports.js';
import type { Run, RunMode, Trigger } from '../domain/run.js';
import { planBuildKind } from '../domain/builds.js';
import type { EnvironmentLocks } from '../domain/locks.js';
import type { WebhookLogger } from './logger.js';
import { replayOf, type ChangeDeps } from './change.js';

/** A push or pull request event parsed into what starts a run (lambdas/webhook/route.ts makes it). */
export interface RunDecision {
  kind: 'run';
  repository: RepositoryConfig;
  mode: RunMode;
  trigger: 'push' | 'pull_request';
  sha: string;
  ref: string;
  pullRequest?: number;
  pusher?: string;
  author?: Run['author'];
  /** Everyone behind the change as GitHub resolved them (the self-approval check). */
  people?: Run['people'];
  message?: string;
  /** A push of the tracked branch: who pushed it, over what (recorded for the change's pushers). */
  push?: { before?: string; logins: string[]; emails: string[] };
  /** A re-run asked for as a rollback: every environment it changes waits for approval. */
  rollback?: { reason: string };
}

/**
 * Turns a run decision into a recorded, queued and started run, at most once per delivery:
 * claim delivery → sequence → run record → lock queues (deploy) → StartExecution → remember the run.
 */

export interface IntakeDeps {
  config: TfgateConfig;
  runs: RunStore;
  deliveries: DeliveryStore;
  sequences: SequenceStore;
  locks: Pick<EnvironmentLocks, 'enqueue' | 'releaseAll'>;
  starter: ExecutionStarter;
  clock: Clock;
  logger: WebhookLogger;
  newRunId?: () => string;
  /**
   * The history and the deployment ledger: a push is recorded (its pusher, for the change's people) and a push of
   * a commit an environment already applied, or one older, starts nothing however late it arrives.
   */
  change?: ChangeDeps;
}

/** What starts a run: a routed webhook event, or the reconciler and drift schedule (no delivery). */
export type StartDecision = Omit<RunDecision, 'kind' | 'trigger'> & { trigger: Trigger };

export type IntakeOutcome =
  | { kind: 'started'; runId: string; executionName: string }
  | { kind: 'duplicate'; runId?: string; reason?: string }
  | { kind: 'failed'; runId?: string; error: string };

const EXECUTION_NAME_PREFIX = 'gh-';
// Step Functions names: at most 80 characters of [A-Za-z0-9_-].
const PLAIN_DELIVERY_ID = /^[A-Za-z0-9_-]{1,77}$/;

/**
 * The execution name for a delivery. A Standard execution name stays reserved for 90 days, so a
 * redelivered event cannot start a twin even if the delivery record is gone. Ids that do not fit the
 * name rules are hashed rather than cut or rewritten, so two different ids never share a name.
 */
/**
 * One deploy run per (repository, branch, commit), whoever starts it (a delivery under any id, a
 * replayed body, the reconciler): the run claims this key with one conditional write, in the same
 * table as deliveries. A deliberate re-run (`tfgate rerun`) is the only way past it.
 */
export function headClaimKey(repository: string, ref: string, sha: string): string {
  return `head:${createHash('sha256').update([repository.toLowerCase(), ref, sha].join('\0')).digest('hex')}`;
}

export const ALREADY_DEPLOYED = 'this commit already has a deploy run on this branch (a re-run is `tfgate rerun RUN`)';

export function executionNameFor(deliveryId: string): string {
  if (PLAIN_DELIVERY_ID.test(deliveryId)) return `${EXECUTION_NAME_PREFIX}${deliveryId}`;
  return `ghx-${createHash('sha256').update(deliveryId).digest('hex')}`;
}

export function pipelineInputFor(run: Run, repository: RepositoryConfig, config: TfgateConfig): PipelineInput {
  const plan = buildLimits('plan', config);
  const apply = buildLimits('apply', config);
  return {
    runId: run.id,
    mode: run.mode,
    repository: run.repository,
    sha: run.sha,
    sequence: run.sequence,
    planBuild: planBuildKind(run.mode),
    directory: repository.directory,
    environments: repository.environments.map((environment) => ({
      name: environment.name,
      // A rollback asks before every environment it changes, ungated ones included.
      requiresApproval: environment.approval !== undefined || run.rollback !== undefined,
      approvalTimeoutSeconds:
        environment.approval?.timeoutSeconds ?? (run.rollback ? rollbackTimeoutSeconds(repository) : 0),
    })),
    environmentCount: repository.environments.length,
    environmentNames: repository.environments.map((environment) => environment.name).join(','),
    planTimeoutSeconds: plan.taskTimeoutSeconds,
    applyTimeoutSeconds: apply.taskTimeoutSeconds,
    lockWaitSeconds: config.timeouts.lockWaitSeconds,
    builds: { plan, apply },
  };
}

/** An ungated environment's approval in a rollback waits as long as the longest gate of the repository (or a day). */
function rollbackTimeoutSeconds(repository: RepositoryConfig): number {
  const gates = repository.environments.flatMap((environment) =>
    environment.approval ? [environment.approval.timeoutSeconds] : [],
  );
  return gates.length > 0 ? Math.max(...gates) : 24 * 60 * 60;
}

export async function startRun(decision: RunDecision, deliveryId: string, deps: IntakeDeps): Promise<IntakeOutcome> {
  const { deliveries, clock, logger } = deps;
  const claimedAt = clock.now();
  if (!(await deliveries.claim(deliveryId, claimedAt))) {
    const earlier = await deliveries.get(deliveryId);
    return earlier?.runId ? { kind: 'duplicate', runId: earlier.runId } : { kind: 'duplicate' };
  }

  const outcome = await launchRun(decision, { executionName: executionNameFor(deliveryId), deliveryId }, deps);
  if (outcome.kind === 'failed')
    await bestEffort(logger, 'release delivery', { deliveryId }, () => deliveries.release(deliveryId));
  if (outcome.kind !== 'started') return outcome;

  // The run is started; failing to remember it only costs a repeated delivery its runId in the answer.
  await bestEffort(logger, 'attach run to delivery', { deliveryId, runId: outcome.runId }, () =>
    deliveries.attachRun(deliveryId, outcome.runId),
  );
  return outcome;
}

/** Where a run comes from: its execution name, the delivery that asked, or the run it repeats and who asked. */
export interface RunOrigin {
  executionName: string;
  deliveryId?: string;
  rerunOf?: string;
  requestedBy?: string;
}

/**
 * sequence → run record → lock queues (deploy) → StartExecution. The execution name is the guard
 * against twins: Step Functions refuses a name it has seen, and the run is then abandoned.
 */
export async function launchRun(decision: StartDecision, origin: RunOrigin, deps: IntakeDeps): Promise<IntakeOutcome> {
  const { clock, logger } = deps;
  const repository = decision.repository;
  if (decision.mode === 'deploy' && origin.rerunOf === undefined && deps.change) {
    if (decision.push)
      // Recorded first, whatever happens next: a pusher is never forgotten (a missing record fails the gate closed).
      await bestEffort(logger, 'record the push', { sha: decision.sha }, () =>
        deps.change!.ledger.recordPush(repository.name, {
          head: decision.sha,
          ...(decision.push!.before ? { before: decision.push!.before } : {}),
          logins: decision.push!.logins,
          emails: decision.push!.emails,
          at: clock.now().toISOString(),
        }),
      );
    let replay: string | undefined;
    try {
      replay = await replayOf(deps.change, repository.name, decision.sha);
    } catch (error) {
      const why = messageOf(error);
      const reason = `could not tell whether ${decision.sha.slice(0, 7)} replays an applied commit: ${why}`;
      logger.error('webhook intake: replay check failed', { sha: decision.sha, error: messageOf(error) });
      return { kind: 'failed', error: reason };
    }
    if (replay) {
      logger.info('push replays an applied commit: nothing started', { sha: decision.sha, reason: replay });
      return { kind: 'duplicate', reason: replay };
    }
  }
  // A deliberate re-run is recorded as such and is the one way past the one-run-per-commit rule.
  const headKey =
    decision.mode === 'deploy' && origin.rerunOf === undefined
      ? headClaimKey(repository.name, decision.ref, decision.sha)
      : undefined;
  if (headKey && !(await deps.deliveries.claim(headKey, clock.now()))) {
    const earlier = await deps.deliveries.get(headKey);
    return { kind: 'duplicate', reason: ALREADY_DEPLOYED, ...(earlier?.runId ? { runId: earlier.runId } : {}) };
  }
  const outcome = await launchClaimedRun(decision, origin, deps);
  if (headKey && outcome.kind === 'failed')
    await bestEffort(logger, 'release commit claim', { headKey }, () => deps.deliveries.release(headKey));
  if (headKey && outcome.kind === 'started')
    await bestEffort(logger, 'attach run to commit claim', { headKey, runId: outcome.runId }, () =>
      deps.deliveries.attachRun(headKey, outcome.runId),
    );
  return outcome;
}

async function launchClaimedRun(decision: StartDecision, origin: RunOrigin, deps: IntakeDeps): Promise<IntakeOutcome> {
  const { runs, sequences, locks, starter, clock, logger } = deps;
  const { executionName, deliveryId } = origin;
  const repository = decision.repository;
  let run: Run | undefined;
  let queued = false;
  try {
    const sequence = await sequences.next(repository.name);
    run = newRun(decision, {
      id: (deps.newRunId ?? randomUUID)(),
      sequence,
      executionName,
      ...(deliveryId !== undefined ? { deliveryId } : {}),
      ...(origin.rerunOf !== undefined ? { rerunOf: origin.rerunOf } : {}),
      ...(origin.requestedBy !== undefined ? { requestedBy: origin.requestedBy } : {}),
      at: clock.now(),
    });
    await runs.create(run);
    if (run.mode === 'deploy') {
      // Set before enqueueing: if one environment fails, the ones that succeeded must be released too.
      queued = true;
      const queuedRun = run;
      await Promise.all(
        repository.environments.map((environment) => locks.enqueue(repository.name, environment.name, queuedRun)),
      );
    }
    const started = await starter.start(executionName, pipelineInputFor(run, repository, deps.config));
    if (!started.started) {
      // The name is taken: this delivery was handled before (its claim had expired). Never a second run.
      const before =
        deliveryId !== undefined ? `delivery ${deliveryId} was handled before` : 'this run was started before';
      await abandon(run, queued, `execution ${executionName} already exists: ${before}`, deps);
      return { kind: 'duplicate' };
    }
  } catch (error) {
    const reason = `could not start the run: ${messageOf(error)}`;
    logger.error('webhook intake failed', { deliveryId, runId: run?.id, executionName, error: messageOf(error) });
    if (run) await abandon(run, queued, reason, deps);
    return run ? { kind: 'failed', runId: run.id, error: reason } : { kind: 'failed', error: reason };
  }
  return { kind: 'started', runId: run.id, executionName };
}

function newRun(
  decision: StartDecision,
  identity: {
    id: string;
    sequence: number;
    executionName: string;
    deliveryId?: string;
    rerunOf?: string;
    requestedBy?: string;
    at: Date;
  },
): Run {
  const at = identity.at.toISOString();
  return {
    id: identity.id,
    repository: decision.repository.name,
    sha: decision.sha,
    ref: decision.ref,
    trigger: decision.trigger,
    mode: decision.mode,
    ...(decision.pullRequest !== undefined ? { pullRequest: decision.pullRequest } : {}),
    status: 'running',
    createdAt: at,
    updatedAt: at,
    ...(decision.pusher !== undefined ? { pusher: decision.pusher } : {}),
    ...(decision.author !== undefined ? { author: decision.author } : {}),
    ...(decision.people !== undefined ? { people: decision.people } : {}),
    ...(decision.message !== undefined ? { message: decision.message } : {}),
    sequence: identity.sequence,
    executionName: identity.executionName,
    ...(identity.deliveryId !== undefined ? { deliveryId: identity.deliveryId } : {}),
    ...(identity.rerunOf !== undefined ? { rerunOf: identity.rerunOf } : {}),
    ...(identity.requestedBy !== undefined ? { requestedBy: identity.requestedBy } : {}),
    ...(decision.rollback ? { rollback: decision.rollback } : {}),
    stages: decision.repository.environments.map((environment) => ({
      environment: environment.name,
      status: 'pending',
      transitions: [{ status: 'pending', at }],
    })),
  };
}

/** A run no execution will ever drive: record why and take it out of every lock queue. */
async function abandon(run: Run, queued: boolean, reason: string, deps: IntakeDeps): Promise<void> {
  const fields = { runId: run.id, deliveryId: run.deliveryId };
  await bestEffort(deps.logger, 'mark run failed', fields, () =>
    deps.runs.updateRun(run.id, { status: 'failed', error: reason }, deps.clock.now()),
  );
  if (queued) await bestEffort(deps.logger, 'release lock queue entries', fields, () => deps.locks.releaseAll(run));
}

async function bestEffort(
  logger: WebhookLogger,
  what: string,
  fields: Record<string, unknown>,
  step: () => Promise<unknown>,
): Promise<void> {
  try {
    await step();
  } catch (error) {
    logger.error(`webhook intake: ${what} failed`, { ...fields, error: messageOf(error) });
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
