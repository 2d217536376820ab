import { Transform } from 'node:stream';
import { createHash } from 'node:crypto';
import * as z from 'zod/mini';
import { ENGLISH_ISSUES } from '../../src/zod-messages.js';
import { LockLostError, type EnvironmentLocks } from '../../src/domain/locks.js';
import type {
  ApprovalStore,
  ArtifactStore,
  BuildController,
  Clock,
  DeploymentLedger,
  RunStore,
  SourceArchiver,
  TaskCallbacks,
} from '../../src/domain/ports.js';
import { planBuildKind, sourceArchiveKey } from '../../src/domain/builds.js';
import { planViewKey } from '../../src/domain/artifact-keys.js';
import { stageApprovalView } from '../../src/domain/approval-count.js';
import { buildPlanView, PAGE_LIMITS, planViewOfText, type PlanView } from '../../src/domain/plan-view.js';
import { systemClock } from '../../src/domain/ports.js';
import {
  isTerminalRun,
  TERMINAL_STAGE_STATUSES,
  type PlanSummary,
  type Run,
  type RunStatus,
  type StageStatus,
} from '../../src/domain/run.js';
import { RETRYABLE_ERROR_NAME, TfgateError } from '../../src/domain/errors.js';
import {
  capAddressesForRecord,
  parseStoredPlanSummary,
  STAGE_ARTIFACTS,
  stageArtifactKey,
} from '../../src/domain/plan-summary.js';
import { supersedeWaitingRun } from '../../src/domain/supersede.js';

/**
 * The state machine's Lambda tasks (the `action` field picks one). Written once: the AWS entry
 * (lambda.ts) and the local engine call the same function with the same payloads.
 */

export class PipelineTaskError extends TfgateError {
  override name = 'PipelineTaskError';
}

/** The stopped build has not ended yet; the definition retries StopBuild on this name. */
export class BuildStillRunning extends TfgateError {
  override name = 'BuildStillRunning';
}

/** Thrown for failures worth a Retry in the definition (it lists RETRYABLE_ERROR_NAME). */
export class RetryableTaskError extends TfgateError {
  override name = RETRYABLE_ERROR_NAME;
}

const nonEmpty = () => z.string().check(z.minLength(1));
const count = () => z.int().check(z.nonnegative());

const base = {
  runId: nonEmpty(),
  mode: z.enum(['deploy', 'plan_only']),
  repository: nonEmpty(),
  sequence: count(),
  environment: nonEmpty(),
};

const taskError = z.looseObject({ Error: z.optional(z.string()), Cause: z.optional(z.string()) });

const payloadSchema = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('prepareSource'),
    runId: nonEmpty(),
    repository: nonEmpty(),
    sha: z.string().check(z.regex(/^[0-9a-f]{40}$/)),
  }),
  z.object({
    action: z.literal('beginStage'),
    ...base,
    taskToken: nonEmpty(),
    executionName: nonEmpty(),
    planTimeoutSeconds: z.int().check(z.positive()),
    applyTimeoutSeconds: z.int().check(z.positive()),
    approvalTimeoutSeconds: z.optional(count()),
  }),
  z.object({ action: z.literal('afterPlan'), ...base, requiresApproval: z.boolean() }),
  z.object({
    action: z.literal('checkLock'),
    ...base,
    /** The grant the lock wait returned (`$.lock`): its holder's fencing number is what the apply may use. */
    lock: z.optional(
      z.nullable(z.looseObject({ holder: z.optional(z.partial(z.object({ runId: z.string(), fence: count() }))) })),
    ),
  }),
  z.object({ action: z.literal('finishStage'), ...base, outcome: z.enum(['apply', 'approve', 'done']) }),
  z.object({
    action: z.literal('failStage'),
    ...base,
    kind: z.enum(['failed', 'rejected', 'expired', 'superseded']),
    during: z.enum(['lock', 'plan', 'apply', 'task', 'approval', 'fence']),
    error: z.optional(taskError),
  }),
  z.object({
    action: z.literal('stopBuild'),
    runId: nonEmpty(),
    environment: nonEmpty(),
    buildMode: z.enum(['plan', 'apply']),
    projectName: nonEmpty(),
  }),
  z.object({ action: z.literal('completeRun'), runId: nonEmpty() }),
  z.object({
    action: z.literal('executionEnded'),
    runId: nonEmpty(),
    status: z.enum(['FAILED', 'TIMED_OUT', 'ABORTED']),
    error: z.optional(z.string()),
    cause: z.optional(z.string()),
    /** Overrides the generic explanation (e.g. `tfgate local` restarted while the run was in flight). */
    reason: z.optional(z.string()),
  }),
]);

export interface PipelineDeps {
  runs: RunStore;
  approvals: ApprovalStore;
  locks: EnvironmentLocks;
  artifacts: ArtifactStore;
  callbacks: TaskCallbacks;
  /** Stops a build whose task timed out; without one, such a build is left to CodeBuild's own timeout. */
  builds?: BuildController;
  /** Fetches a commit from the configured location (never a payload's URL) before any build runs. */
  sources: SourceArchiver;
  /** Where each environment's last successful apply is recorded: the base of the next change's range. */
  ledger?: DeploymentLedger;
  clock?: Clock;
  /** How long one stopBuild task waits for the build to end before the definition's Retry takes over. */
  stopWaitMs?: number;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

/** Larger plan JSON is not parsed in the pipeline function (memory, time); the plan text still shows it. */
const MAX_PLAN_JSON_BYTES = 64 * 1024 * 1024;

/** Within the pipeline function's 50-second timeout, with room for the StopBuild calls themselves. */
const STOP_WAIT_MS = 35_000;

/** Extra lease beyond the stage's own timeouts, so a healthy holder's lease never lapses. */
const LEASE_MARGIN_SECONDS = 900;

export type AfterPlanResult = { next: 'apply' | 'approve' | 'done'; planSha256: string };
export type PreparedSource = { key: string; sha256: string };

function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function createPipelineTasks(deps: PipelineDeps): (payload: unknown) => Promise<unknown> {
  const clock = deps.clock ?? systemClock;
  const { runs, approvals, locks, artifacts } = deps;

  async function mustGetRun(runId: string): Promise<Run> {
    const run = await runs.get(runId);
    if (!run) throw new PipelineTaskError(`run ${runId} not found`);
    return run;
  }

  async function readSummary(runId: string, environment: string, runMode: Run['mode']): Promise<PlanSummary> {
    const body = await artifacts.get(
      stageArtifactKey(runId, environment, STAGE_ARTIFACTS.summary, planBuildKind(runMode)),
    );
    if (!body) throw new PipelineTaskError(`the plan build for ${environment} stored no summary`);
    return parseStoredPlanSummary(JSON.parse(body.toString('utf8')));
  }

  /**
   * The sha256 an approval pins is computed here, from the stored plan, never taken from a file the
   * build wrote: the summary must describe exactly these bytes or the stage fails.
   */
  async function storedPlanSha256(
    runId: string,
    environment: string,
    runMode: Run['mode'],
    summary: PlanSummary,
  ): Promise<string> {
    const key = stageArtifactKey(runId, environment, STAGE_ARTIFACTS.planFile, planBuildKind(runMode));
    const bytes = await artifacts.get(key);
    if (!bytes) throw new PipelineTaskError(`the plan build for ${environment} stored no plan file (${key})`);
    const sha256 = sha256Of(bytes);
    if (sha256 !== summary.sha256) {
      throw new PipelineTaskError(
        `the stored plan for ${environment} (sha256 ${sha256}) is not the plan its summary describes ` +
          `(${summary.sha256}); refusing to go on`,
      );
    }
    return sha256;
  }

  /**
   * The structured plan view, worked out here once per plan from the stored plan.json (the pipeline, not the
   * build, which ran the code under review) and stored small where no build may write, so an approval page
   * reads kilobytes instead of parsing the whole plan on every view. A view that cannot be made is said on the
   * page; the plan text still stands, so it never fails the stage.
   */
  async function storePlanView(runId: string, environment: string, runMode: Run['mode'], summary: PlanSummary) {
    const kind = planBuildKind(runMode);
    try {
      const body = await artifacts.get(stageArtifactKey(runId, environment, STAGE_ARTIFACTS.planJson, kind));
      let view: PlanView;
      if (!body) {
        view = buildPlanView(undefined);
        view.problems.splice(0, view.problems.length, 'the plan build stored no plan JSON');
      } else if (body.length > MAX_PLAN_JSON_BYTES) {
        view = buildPlanView(undefined);
        view.problems.splice(0, view.problems.length, `the plan JSON is ${body.length} bytes, too large to show here`);
      } else {
        view = planViewOfText(body.toString('utf8'), PAGE_LIMITS);
        const counted = view.summary;
        if (
          counted.create + counted.replace !== summary.add ||
          counted.update !== summary.change ||
          counted.delete + counted.replace !== summary.destroy
        )
          view.problems.push(
            "the plan JSON's counts differ from the plan summary's; trust neither, read the plan text",
          );
      }
      await artifacts.put(planViewKey(runId, environment, kind), JSON.stringify(view), 'application/json');
    } catch (error) {
      deps.log?.('plan view not stored', { runId, environment, error: (error as Error).message });
    }
  }

  async function prepareSource(repository: string, sha: string): Promise<PreparedSource> {
    const key = sourceArchiveKey(repository, sha);
    if (deps.sources.archiveStream && artifacts.putStream) return streamSource(repository, sha, key);
    let archive = await artifacts.get(key);
    if (!archive) {
      archive = await deps.sources.archive(repository, sha);
      try {
        await artifacts.put(key, archive, 'application/gzip');
        await artifacts.put(`${key}.sha256`, `${sha256Of(archive)}\n`, 'text/plain; charset=utf-8');
      } catch (error) {
        throw new PipelineTaskError(`could not store ${key}: ${(error as Error).message}`);
      }
    }
    // Recomputed from the bytes every time: the build checks the archive against this value.
    return { key, sha256: sha256Of(archive) };
  }

  /**
   * AWS: the archive goes from GitHub to S3 as it arrives, hashed on the way (memory flat in the repository's
   * size). Only this function writes under sources/, so the stored sha256 of an archive already there is
   * the one computed from its bytes when it was stored.
   */
  async function streamSource(repository: string, sha: string, key: string): Promise<PreparedSource> {
    const stored = (await artifacts.get(`${key}.sha256`))?.toString('utf8').trim();
    if (stored && /^[0-9a-f]{64}$/.test(stored)) return { key, sha256: stored };
    const hash = createHash('sha256');
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    const archive = await deps.sources.archiveStream!(repository, sha);
    archive.on('error', (error) => hashing.destroy(error));
    try {
      await artifacts.putStream!(key, archive.pipe(hashing), 'application/gzip');
      const sha256 = hash.digest('hex');
      await artifacts.put(`${key}.sha256`, `${sha256}\n`, 'text/plain; charset=utf-8');
      return { key, sha256 };
    } catch (error) {
      throw new PipelineTaskError(`could not store ${key}: ${(error as Error).message}`);
    }
  }

  async function buildError(
    runId: string,
    environment: string,
    runMode: Run['mode'],
    mode: 'plan' | 'apply',
    cause: string | undefined,
  ): Promise<string> {
    const status = buildStatusOf(cause);
    let reported: string | undefined;
    const key =
      mode === 'plan'
        ? stageArtifactKey(runId, environment, STAGE_ARTIFACTS.planResult, planBuildKind(runMode))
        : stageArtifactKey(runId, environment, STAGE_ARTIFACTS.applyResult, 'apply');
    const result = await artifacts.get(key).catch(() => undefined);
    if (result) {
      try {
        const parsed = JSON.parse(result.toString('utf8')) as { ok?: boolean; error?: string };
        if (parsed.ok === false && parsed.error) reported = parsed.error;
      } catch {
        // An unreadable result file falls through to the build status below.
      }
    }
    // CodeBuild ended the build at TimeoutInMinutesOverride; what the interrupted runner said comes second.
    if (status === 'TIMED_OUT') {
      return (
        `the ${mode} build ran past its time limit (timeouts.${mode}) and CodeBuild stopped ` +
        `it${reported ? `: ${truncate(reported, 1000)}` : ''}`
      );
    }
    if (reported) return reported;
    const killedBy = buildSignalOf(cause);
    const said = buildDetailOf(cause);
    return status
      ? `the ${mode} build ended with status ${status} before reporting a result` +
          (killedBy ? ` (its process was killed by ${killedBy})` : '') +
          (said ? `: ${truncate(said, 1000)}` : '')
      : `the ${mode} build failed: ${truncate(cause ?? 'no detail', 2000)}`;
  }

  /** Marks the failing stage, skips the later ones, sets the run status, frees every lock. */
  async function stopRun(
    run: Run,
    environment: string | undefined,
    stageStatus: StageStatus,
    runStatus: RunStatus,
    error: string,
  ): Promise<void> {
    const now = clock.now();
    let reachedFailingStage = environment === undefined;
    for (const stage of run.stages) {
      if (stage.environment === environment) {
        reachedFailingStage = true;
        if (!TERMINAL_STAGE_STATUSES.has(stage.status) || stage.status === 'planned') {
          await runs.updateStage(run.id, stage.environment, { status: stageStatus, error }, now);
        }
        await expirePendingApproval(run, stage.environment, stageStatus);
        continue;
      }
      if (!TERMINAL_STAGE_STATUSES.has(stage.status)) {
        const status: StageStatus = reachedFailingStage && environment !== undefined ? 'skipped' : stageStatus;
        await runs.updateStage(run.id, stage.environment, { status }, now);
        await expirePendingApproval(run, stage.environment, stageStatus);
      }
    }
    // Locks first: once the run reads as ended, whoever looks can count on its locks being free.
    await locks.releaseAll(run);
    if (!isTerminalRun(run.status)) await runs.updateRun(run.id, { status: runStatus, error }, now);
  }

  /** An approval whose wait ended some other way can no longer be decided. */
  async function expirePendingApproval(run: Run, environment: string, outcome: StageStatus): Promise<void> {
    const stage = run.stages.find((s) => s.environment === environment);
    const approvalId = stage?.approval?.id;
    if (!approvalId || stage?.approval?.status !== 'pending') return;
    const status = outcome === 'superseded' ? 'superseded' : outcome === 'rejected' ? 'rejected' : 'expired';
    const result = await approvals.decide(approvalId, { status, reason: `the run ended: ${outcome}` }, clock.now());
    const approval = result.approval;
    if (approval) {
      await runs.updateStage(
        run.id,
        environment,
        {
          status: outcome,
          // Partial approvals (the two-person rule) stay on the record: who had approved when it ended.
          approval: stageApprovalView(approval, {
            ...(approval.decidedBy ? { by: approval.decidedBy } : {}),
            ...(approval.decidedAt ? { at: approval.decidedAt } : {}),
          }),
        },
        clock.now(),
      );
    }
  }

  return async function handle(raw: unknown): Promise<unknown> {
    const parsed = payloadSchema.safeParse(raw, ENGLISH_ISSUES);
    if (!parsed.success)
      throw new PipelineTaskError(
        `invalid task payload: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    const payload = parsed.data;
    switch (payload.action) {
      case 'prepareSource':
        return prepareSource(payload.repository, payload.sha);
      case 'beginStage': {
        const run = await mustGetRun(payload.runId);
        // A run that has ended (an operator stopped it, a newer push superseded it) takes no lock again.
        if (isTerminalRun(run.status))
          throw new PipelineTaskError(`run ${run.id} has ended (${run.status}); it plans nothing more`);
        const now = clock.now();
        if (payload.mode === 'plan_only') {
          // Pull request and drift plans change nothing, so they never wait behind a deploy's lock.
          await runs.updateStage(run.id, payload.environment, { status: 'planning' }, now);
          await deps.callbacks.sendTaskSuccess(payload.taskToken, { acquired: true, lockKey: null });
          return { acquired: true };
        }
        await runs.updateStage(run.id, payload.environment, { status: 'waiting_for_lock' }, now);
        const leaseSeconds =
          payload.planTimeoutSeconds +
          (payload.approvalTimeoutSeconds ?? 0) +
          payload.applyTimeoutSeconds +
          LEASE_MARGIN_SECONDS;
        const result = await locks.request(payload.repository, payload.environment, {
          runId: run.id,
          sequence: payload.sequence,
          executionName: payload.executionName,
          taskToken: payload.taskToken,
          leaseSeconds,
        });
        if (!result.acquired) {
          // An older push still waiting for approval here is out of date now: it gives way, and its
          // failure path hands the lock on in push order (this run's token is already queued).
          const outcome = await supersedeWaitingRun(
            { runs, approvals, callbacks: deps.callbacks, clock },
            run,
            result.holder.runId,
            payload.environment,
          );
          if (outcome.superseded) return { acquired: false, holder: result.holder.runId, superseded: outcome.runId };
        }
        return { acquired: result.acquired, holder: result.holder.runId };
      }
      case 'afterPlan': {
        const summary = await readSummary(payload.runId, payload.environment, payload.mode);
        const planSha256 = await storedPlanSha256(payload.runId, payload.environment, payload.mode, summary);
        const now = clock.now();
        let next: AfterPlanResult['next'];
        if (payload.mode === 'plan_only' || !summary.hasChanges) next = 'done';
        else next = payload.requiresApproval ? 'approve' : 'apply';
        if (summary.hasChanges) await storePlanView(payload.runId, payload.environment, payload.mode, summary);
        await runs.updateStage(
          payload.runId,
          payload.environment,
          { status: 'planned', plan: capAddressesForRecord(summary) },
          now,
        );
        if (next === 'apply') await runs.updateStage(payload.runId, payload.environment, { status: 'applying' }, now);
        return { next, planSha256 } satisfies AfterPlanResult;
      }
      case 'checkLock': {
        // The apply build starts only if the run still holds the environment's lock under the fencing
        // number it was granted: an operator's `tfgate unlock --force` (or a lease takeover) stops it here.
        if (payload.mode !== 'deploy') return { ok: true };
        const current = await mustGetRun(payload.runId);
        if (isTerminalRun(current.status)) {
          throw new LockLostError(
            `run ${current.id} has ended (${current.status}${current.error ? `: ${current.error}` : ''}); ` +
              'refusing to apply',
          );
        }
        const fence = payload.lock?.holder?.fence;
        if (fence === undefined)
          throw new LockLostError(`the ${payload.environment} lock grant carries no fencing number; refusing to apply`);
        const holder = await locks.checkFence(payload.repository, payload.environment, payload.runId, fence);
        return { ok: true, fence: holder.fence };
      }
      case 'finishStage': {
        const run = await mustGetRun(payload.runId);
        const stage = run.stages.find((s) => s.environment === payload.environment);
        const now = clock.now();
        if (payload.outcome === 'apply' || payload.outcome === 'approve') {
          await runs.updateStage(run.id, payload.environment, { status: 'applied' }, now);
          // Before the lock is released: the next run's change starts from here. Only a newer push's apply wins.
          if (payload.mode === 'deploy' && deps.ledger)
            await deps.ledger.recordApplied(run.repository, {
              environment: payload.environment,
              sha: run.sha,
              runId: run.id,
              sequence: run.sequence,
              at: now.toISOString(),
            });
        } else if (!stage?.plan?.hasChanges) {
          await runs.updateStage(run.id, payload.environment, { status: 'no_changes' }, now);
        }
        if (payload.mode === 'deploy')
          await locks.release(payload.repository, payload.environment, run.id, payload.sequence);
        return { ok: true };
      }
      case 'failStage': {
        const run = await mustGetRun(payload.runId);
        const cause = payload.error?.Cause;
        let message: string;
        switch (payload.kind) {
          case 'rejected':
            message = `rejected${cause ? `: ${cause}` : ''}`;
            break;
          case 'expired':
            message = `no decision on the ${payload.environment} approval before its timeout`;
            break;
          case 'superseded':
            message = cause || 'superseded by a newer push';
            break;
          default:
            if (
              (payload.during === 'plan' || payload.during === 'apply') &&
              payload.error?.Error === 'States.Timeout'
            ) {
              // The task's own TimeoutSecondsPath fired: the build is being stopped and reports nothing.
              message =
                `the ${payload.during} build did not finish within its timeout ` +
                `(timeouts.${payload.during}) and was stopped`;
            } else if (payload.during === 'plan' || payload.during === 'apply') {
              message = await buildError(run.id, payload.environment, run.mode, payload.during, cause);
            } else if (payload.during === 'fence') {
              message = lambdaErrorMessage(cause);
            } else if (payload.during === 'lock' && payload.error?.Error === 'States.Timeout') {
              message = `waited too long for the ${payload.environment} lock`;
            } else {
              message = `${payload.error?.Error ?? 'error'}: ${lambdaErrorMessage(cause)}`;
            }
        }
        const runStatus: RunStatus = payload.kind;
        await stopRun(run, payload.environment, payload.kind, runStatus, `${payload.environment}: ${message}`);
        return { ok: true };
      }
      case 'stopBuild': {
        if (!deps.builds) return { stopped: 0 };
        const query = {
          projectName: payload.projectName,
          runId: payload.runId,
          environment: payload.environment,
          mode: payload.buildMode,
        };
        const result = await deps.builds.stopStageBuilds(query, deps.stopWaitMs ?? STOP_WAIT_MS);
        if (result.stillRunning > 0) {
          throw new BuildStillRunning(
            `${result.stillRunning} ${payload.buildMode} build(s) of run ${payload.runId} in ` +
              `${payload.environment} have not ended yet`,
          );
        }
        return { stopped: result.stopped };
      }
      case 'completeRun': {
        const run = await mustGetRun(payload.runId);
        if (!isTerminalRun(run.status)) await runs.updateRun(run.id, { status: 'succeeded' }, clock.now());
        return { ok: true };
      }
      case 'executionEnded': {
        const run = await runs.get(payload.runId);
        if (!run || isTerminalRun(run.status)) {
          // The definition's own failure path already recorded why; still make sure nothing stays locked.
          if (run) await locks.releaseAll(run);
          return { ok: true };
        }
        const reason =
          payload.reason ??
          (payload.status === 'ABORTED'
            ? 'the execution was stopped from outside tfgate'
            : payload.status === 'TIMED_OUT'
              ? 'the execution reached its time limit'
              : `the execution failed: ${payload.error ?? ''} ${lambdaErrorMessage(payload.cause)}`.trim());
        const current = run.stages.find((s) => !TERMINAL_STAGE_STATUSES.has(s.status) && s.status !== 'pending');
        const status: RunStatus = payload.status === 'ABORTED' ? 'interrupted' : 'failed';
        await stopRun(run, current?.environment, status === 'interrupted' ? 'interrupted' : 'failed', status, reason);
        return { ok: true };
      }
    }
  };
}

function buildStatusOf(cause: string | undefined): string | undefined {
  if (!cause) return undefined;
  try {
    const parsed = JSON.parse(cause) as { Build?: { BuildStatus?: string } };
    return parsed.Build?.BuildStatus;
  } catch {
    return undefined;
  }
}

/** The local build stand-in says which signal ended the runner (CodeBuild's own record has no such field). */
function buildSignalOf(cause: string | undefined): string | undefined {
  if (!cause) return undefined;
  try {
    const signal = (JSON.parse(cause) as { Build?: { Signal?: unknown } }).Build?.Signal;
    return typeof signal === 'string' && /^SIG[A-Z0-9]+$/.test(signal) ? signal : undefined;
  } catch {
    return undefined;
  }
}

/** The last thing the build said when it could not store a result (the local stand-in records it). */
function buildDetailOf(cause: string | undefined): string | undefined {
  if (!cause) return undefined;
  try {
    const error = (JSON.parse(cause) as { Build?: { Error?: unknown } }).Build?.Error;
    return typeof error === 'string' && error.trim() ? error.trim() : undefined;
  } catch {
    return undefined;
  }
}

/** Lambda task failures carry `{"errorType", "errorMessage"}` JSON as their cause. */
function lambdaErrorMessage(cause: string | undefined): string {
  if (!cause) return '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    if (typeof parsed.errorMessage === 'string') return truncate(parsed.errorMessage, 2000);
  } catch {
    // Not JSON: show it as it is.
  }
  return truncate(cause, 2000);
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
