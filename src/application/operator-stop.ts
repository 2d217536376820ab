import { IllegalTransitionError, FINAL_STAGE_STATUSES } from '../domain/transitions.js';
import type { EnvironmentLocks, UnlockOutcome } from '../domain/locks.js';
import type { ApprovalStore, Clock, RunStore, StagePatch, TaskCallbacks } from '../domain/ports.js';
import { describeStop, isTerminalRun, type OperatorStop, type Run } from '../domain/run.js';

/**
 * An operator's word on a live run (`tfgate unlock --force`): the run ends `interrupted`, with who,
 * why and the fencing number of the hold it ended, and never plans or applies again. The stop is
 * written on the run before the lock is freed, so whoever looks next (restart recovery, the next
 * task of its execution, an approver opening the old link) finds the run ended.
 */

export interface OperatorStopDeps {
  runs: RunStore;
  approvals: ApprovalStore;
  locks: EnvironmentLocks;
  callbacks: TaskCallbacks;
  clock: Clock;
}

/** The error a waiting execution is ended with; the definition's catch-all then records nothing over the stop. */
export const INTERRUPTED_ERROR = 'tfgate.Interrupted';

export interface Operator {
  by: string;
  reason: string;
}

export async function unlockAsOperator(
  deps: OperatorStopDeps,
  repository: string,
  environment: string,
  operator: Operator & { force: boolean },
): Promise<UnlockOutcome & { stopped?: Run }> {
  let stopped: Run | undefined;
  const outcome = await deps.locks.unlock(repository, environment, operator, async (holder, run) => {
    stopped = await stopRun(deps, run, environment, holder.fence, operator);
  });
  // Its places in the other environments' queues go too, now that this lock is freed.
  if (stopped) await deps.locks.releaseAll(stopped);
  return { ...outcome, ...(stopped ? { stopped } : {}) };
}

/**
 * Records the stop, then closes what the run was doing: the stage whose lock is being freed becomes
 * `interrupted`, later ones `skipped`, and every pending approval is closed (its link answers 409
 * from then on) and its waiting execution told. Returns the run as recorded, or undefined when it
 * ended on its own meanwhile (that record stands).
 */
export async function stopRun(
  deps: OperatorStopDeps,
  run: Run,
  environment: string,
  fence: number,
  operator: Operator,
): Promise<Run | undefined> {
  const now = deps.clock.now();
  const stop: OperatorStop = { environment, by: operator.by, reason: operator.reason, at: now.toISOString(), fence };
  const said = describeStop(stop);
  let ended: Run;
  try {
    const current = await deps.runs.get(run.id);
    if (!current || isTerminalRun(current.status)) return undefined;
    ended = await deps.runs.updateRun(run.id, { status: 'interrupted', error: `${environment}: ${said}`, stop }, now);
  } catch (error) {
    if (error instanceof IllegalTransitionError) return undefined;
    throw error;
  }
  let reached = false;
  const waiting: string[] = [];
  for (const stage of ended.stages) {
    if (stage.environment === environment) reached = true;
    let patch: StagePatch | undefined;
    if (!FINAL_STAGE_STATUSES.has(stage.status)) {
      if (stage.environment === environment) {
        // An apply that already started is past the fence: terraform is not killed mid-apply (that
        // leaves state locked or half-written), and the record says so.
        patch = {
          status: 'interrupted',
          error:
            stage.status === 'applying'
              ? `${said}; its apply build had already started and runs to its end (terraform is not killed ` +
                'mid-apply); nothing more of this run is applied'
              : said,
        };
      } else {
        patch = reached
          ? { status: 'skipped', error: `not run: the run was ${said}` }
          : { status: 'interrupted', error: said };
      }
    }
    if (stage.approval?.status === 'pending') {
      const closed = await closeApproval(deps, stage.approval.id, said);
      if (closed) patch = { ...(patch ?? { status: stage.status }), approval: closed.view };
      if (closed?.taskToken) waiting.push(closed.taskToken);
    }
    if (patch) await updateStageUnlessEnded(deps.runs, run.id, stage.environment, patch, now);
  }
  // The execution waiting on an approval ends now instead of at the approval's timeout; told only after
  // every stage is recorded, so its own failure path finds them ended and writes nothing over them.
  // A token nobody waits for any more (tfgate restarted) is simply not delivered.
  for (const token of waiting) {
    await deps.callbacks
      .sendTaskFailure(token, INTERRUPTED_ERROR, `the run was ${said}`)
      .catch(() => ({ delivered: false }));
  }
  return (await deps.runs.get(run.id)) ?? ended;
}

async function updateStageUnlessEnded(
  runs: RunStore,
  runId: string,
  environment: string,
  patch: StagePatch,
  at: Date,
): Promise<void> {
  try {
    await runs.updateStage(runId, environment, patch, at);
  } catch (error) {
    // The execution ended that stage itself a moment ago (a build failed): its record stands.
    if (!(error instanceof IllegalTransitionError)) throw error;
  }
}

async function closeApproval(
  deps: OperatorStopDeps,
  approvalId: string,
  said: string,
): Promise<{ view: NonNullable<StagePatch['approval']>; taskToken?: string } | undefined> {
  const reason = `the run was ${said}`;
  const result = await deps.approvals.decide(approvalId, { status: 'expired', reason }, deps.clock.now());
  const approval = result.approval;
  if (!approval) return undefined;
  return {
    view: {
      id: approval.id,
      status: approval.status,
      ...(approval.decidedBy ? { by: approval.decidedBy } : {}),
      ...(approval.decidedAt ? { at: approval.decidedAt } : {}),
      ...(approval.reason ? { reason: approval.reason } : {}),
    },
    ...(result.decided && approval.taskToken ? { taskToken: approval.taskToken } : {}),
  };
}
