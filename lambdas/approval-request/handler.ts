import { randomBytes } from 'node:crypto';
import * as z from 'zod/mini';
import { ENGLISH_ISSUES } from '../../src/zod-messages.js';
import type { TfgateConfig } from '../../src/config/load.js';
// From resolved.ts, not load.ts: load.ts brings the YAML parser and the full schema into the bundle.
import { findRepository } from '../../src/config/resolved.js';
import { planBuildKind } from '../../src/domain/builds.js';
import { STAGE_ARTIFACTS, stageArtifactKey } from '../../src/domain/plan-summary.js';
import { approverNames, stageApprovalView } from '../../src/domain/approval-count.js';
import { TfgateError } from '../../src/domain/errors.js';
import type {
  ApprovalRecord,
  ApprovalStore,
  ArtifactStore,
  Clock,
  LockStore,
  Notifier,
  RunStore,
  TaskCallbacks,
} from '../../src/domain/ports.js';
import { systemClock } from '../../src/domain/ports.js';
import type { Run } from '../../src/domain/run.js';
import { supersedeWaitingRun } from '../../src/domain/supersede.js';
import { lockKeyFor } from '../../src/domain/lock-key.js';
import { describeChange, type ChangeDeps } from '../../src/application/change.js';
import type { ResolvedChange } from '../../src/domain/change-range.js';

/**
 * Invoked by the state machine's approval wait with a task token. The token is stored with the
 * approval record and nowhere else; the notification carries one plain link to the approval page.
 */

export class NotifierError extends TfgateError {
  override name = 'NotifierError';
}

const nonEmpty = () => z.string().check(z.minLength(1));

const requestSchema = z.object({
  action: z.literal('requestApproval'),
  runId: nonEmpty(),
  repository: nonEmpty(),
  environment: nonEmpty(),
  taskToken: nonEmpty(),
  planSha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  timeoutSeconds: z.int().check(z.positive()),
});

export interface NotifierDeps {
  config: TfgateConfig;
  runs: RunStore;
  approvals: ApprovalStore;
  artifacts: ArtifactStore;
  notifier: Notifier;
  /** Base URL of the approvals routes (the approvals function URL, or the local server). */
  publicUrl: string;
  /**
   * Lets a run that starts waiting give way at once to a newer push already waiting for this
   * environment's lock (the newer run's own check ran before this approval existed).
   */
  supersede?: { locks: LockStore; callbacks: TaskCallbacks };
  clock?: Clock;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Resumed waits (local restart): a decision taken while no execution waited is passed on at once. */
  callbacks?: TaskCallbacks;
  /**
   * The history and the deployment ledger: the approval covers every commit since the environment's last apply.
   * Without them only the run's own people are known.
   */
  change?: ChangeDeps;
}

/** Plan text shown in a notification or page is bounded; the full text stays in the artifact store. */
const MAX_PLAN_TEXT = 200_000;

export function createApprovalRequester(deps: NotifierDeps): (payload: unknown) => Promise<{ approvalId: string }> {
  const clock = deps.clock ?? systemClock;
  return async (raw) => {
    const parsed = requestSchema.safeParse(raw, ENGLISH_ISSUES);
    if (!parsed.success)
      throw new NotifierError(
        `invalid approval request: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    const request = parsed.data;
    const run = await deps.runs.get(request.runId);
    if (!run) throw new NotifierError(`run ${request.runId} not found`);
    const resumed = await resumeApproval(deps, run, request);
    if (resumed) return resumed;
    const environment = findRepository(deps.config, run.repository)?.environments.find(
      (env) => env.name === request.environment,
    );
    const repository = findRepository(deps.config, run.repository);
    // A rollback asks before an ungated environment too: any approver of the repository's gates may decide.
    const policy =
      environment?.approval ??
      (run.rollback && repository
        ? {
            approvers: [...new Set(repository.environments.flatMap((env) => env.approval?.approvers ?? []))],
            allowSelfApproval: false,
            required: Math.max(1, ...repository.environments.map((env) => env.approval?.required ?? 1)),
          }
        : undefined);
    let change: ResolvedChange | undefined;
    if (deps.change) change = await describeChange(deps.change, run, request.environment);
    const people = change?.people ?? run.people;
    const now = clock.now();
    const approval: ApprovalRecord = {
      id: randomBytes(16).toString('hex'),
      runId: run.id,
      repository: run.repository,
      environment: request.environment,
      sha: run.sha,
      planSha256: request.planSha256,
      status: 'pending',
      createdAt: now.toISOString(),
      expiresAt: Math.floor(now.getTime() / 1000) + request.timeoutSeconds,
      taskToken: request.taskToken,
      approvers: policy?.approvers ?? [],
      allowSelfApproval: policy?.allowSelfApproval ?? false,
      // Fixed when asked: editing tfgate.yaml later does not change what this approval needs.
      required: policy?.required ?? 1,
      approvals: [],
      // Absent when the run does not know who pushed: the page then refuses everyone unless self-approval is allowed.
      ...(people ? { people } : {}),
      ...(change ? { change: change.view } : {}),
    };
    await deps.approvals.create(approval);
    await deps.runs.updateStage(
      run.id,
      request.environment,
      { status: 'awaiting_approval', approval: stageApprovalView(approval) },
      now,
    );
    const updated = await deps.runs.updateRun(run.id, { status: 'awaiting_approval' }, now);
    if (deps.supersede && (await givesWayToNewerPush(deps, updated, request.environment)))
      return { approvalId: approval.id };
    // One plain link for everyone: no identity, no secret; the page asks who is clicking.
    const url = `${deps.publicUrl.replace(/\/+$/, '')}/approvals/${approval.id}`;
    const planText = await deps.artifacts
      .get(stageArtifactKey(run.id, request.environment, STAGE_ARTIFACTS.planText, planBuildKind(run.mode)))
      .then((body) => body?.toString('utf8').slice(0, MAX_PLAN_TEXT))
      .catch(() => undefined);
    const stageRecord = updated.stages.find((s) => s.environment === request.environment);
    if (!stageRecord) throw new NotifierError(`run ${run.id} has no ${request.environment} stage`);
    try {
      await deps.notifier.approvalRequested({
        approval,
        run: updated,
        stage: stageRecord,
        url,
        ...(planText !== undefined ? { planText } : {}),
      });
    } catch (error) {
      // The approval stands and its page works; a lost notification is recorded on the run, not fatal.
      deps.log?.('approval notification failed', {
        runId: run.id,
        environment: request.environment,
        error: (error as Error).message,
      });
      await deps.runs.updateRun(
        run.id,
        { note: `approval notification for ${request.environment} failed: ${(error as Error).message}` },
        clock.now(),
      );
    }
    return { approvalId: approval.id };
  };
}

/**
 * A run resumed after a restart waits again for the approval it already had: same record, same id,
 * same links (nobody is notified twice); only the waiting token is new. A decision that landed while
 * no execution waited is delivered to the new wait straight away.
 */
async function resumeApproval(
  deps: NotifierDeps,
  run: Run,
  request: z.infer<typeof requestSchema>,
): Promise<{ approvalId: string; resumed: true } | undefined> {
  const approvalId = run.stages.find((s) => s.environment === request.environment)?.approval?.id;
  if (!approvalId) return undefined;
  const existing = await deps.approvals.get(approvalId);
  // Only the very plan that approval is about: a different plan needs a new approval.
  if (
    !existing ||
    existing.runId !== run.id ||
    existing.environment !== request.environment ||
    existing.planSha256 !== request.planSha256
  )
    return undefined;
  const attached = await deps.approvals.attachTaskToken(approvalId, run.id, request.taskToken);
  const approval = attached.approval;
  if (!approval) return undefined;
  if (!attached.decided) {
    const callbacks = deps.callbacks ?? deps.supersede?.callbacks;
    if (!callbacks)
      throw new NotifierError(
        `approval ${approvalId} was decided (${approval.status}) while no execution waited, and there is no way ` +
          `to pass that on`,
      );
    const who = approval.decidedBy ?? 'someone';
    if (approval.status === 'approved')
      await callbacks.sendTaskSuccess(request.taskToken, {
        approvalId,
        approvedBy: approverNames(approval),
        planSha256: approval.planSha256,
      });
    else if (approval.status === 'rejected')
      await callbacks.sendTaskFailure(
        request.taskToken,
        'tfgate.Rejected',
        `by ${who}${approval.reason ? `: ${approval.reason}` : ''}`,
      );
    else if (approval.status === 'superseded')
      await callbacks.sendTaskFailure(
        request.taskToken,
        'tfgate.Superseded',
        approval.reason ?? 'superseded by a newer push',
      );
    // expired: the wait's own (short) timeout ends it as expired.
  }
  deps.log?.('waiting again for an approval after a restart', {
    runId: run.id,
    environment: request.environment,
    approvalId,
    status: approval.status,
  });
  return { approvalId, resumed: true };
}

/**
 * Both sides check after writing their own state: the newer run after queuing its token, this run
 * after recording that it waits for approval. So whichever checks last sees the other, and an older
 * run never keeps the lock waiting for a decision that is already out of date.
 */
async function givesWayToNewerPush(deps: NotifierDeps, run: Run, environment: string): Promise<boolean> {
  const { locks, callbacks } = deps.supersede!;
  const queue = await locks.listQueue(lockKeyFor(run.repository, environment));
  // Only a run that is itself asking for the lock (its token is stored) has passed the earlier environments.
  const waiting = queue
    .filter((entry) => entry.sequence > run.sequence && entry.taskToken)
    .sort((a, b) => b.sequence - a.sequence);
  for (const entry of waiting) {
    const newer = await deps.runs.get(entry.runId);
    if (!newer) continue;
    const outcome = await supersedeWaitingRun(
      { runs: deps.runs, approvals: deps.approvals, callbacks, ...(deps.clock ? { clock: deps.clock } : {}) },
      newer,
      run.id,
      environment,
    );
    if (outcome.superseded) return true;
  }
  return false;
}
