import type { ApprovalStore, Clock, RunStore, TaskCallbacks } from './ports.js';
import { systemClock } from './ports.js';
import type { Run } from './run.js';

/**
 * A newer push replaces an older one that is still waiting for approval in the same environment:
 * approving the older plan would apply a commit that is already out of date, and it would hold the
 * environment's lock until someone decided. Push order (the sequence) decides which run is newer,
 * never the time a stage happens to ask.
 */

export const SUPERSEDED_ERROR = 'tfgate.Superseded';

/** Whether `newer` replaces `older` in `environment`: the rule, without any I/O. */
export function supersedes(newer: Run, older: Run, environment: string): boolean {
  if (newer.id === older.id || newer.repository !== older.repository) return false;
  if (newer.mode !== 'deploy' || older.mode !== 'deploy') return false;
  if (older.sequence >= newer.sequence) return false;
  if (older.status !== 'awaiting_approval') return false;
  const stage = older.stages.find((s) => s.environment === environment);
  return stage?.status === 'awaiting_approval' && stage.approval?.status === 'pending';
}

export function supersededCause(newer: Run): string {
  return `superseded by run ${newer.id} (${newer.sha.slice(0, 12)})`;
}

export interface SupersedeDeps {
  runs: RunStore;
  approvals: ApprovalStore;
  callbacks: TaskCallbacks;
  clock?: Clock;
}

export type SupersedeOutcome =
  | { superseded: true; runId: string; delivered: boolean }
  | { superseded: false; reason: 'not_applicable' | 'decided_meanwhile' };

/**
 * Supersedes `olderRunId` if the rule holds. The approval is closed by the same conditional update a
 * person's decision uses, so of "approve" and "supersede" racing exactly one wins; only the winner
 * resumes the waiting execution. The older run's state machine catches `tfgate.Superseded`, records
 * it and frees its locks, which hands the lock on in push order.
 */
export async function supersedeWaitingRun(
  deps: SupersedeDeps,
  newer: Run,
  olderRunId: string,
  environment: string,
): Promise<SupersedeOutcome> {
  const clock = deps.clock ?? systemClock;
  const older = await deps.runs.get(olderRunId);
  if (!older || !supersedes(newer, older, environment)) return { superseded: false, reason: 'not_applicable' };
  const approvalId = older.stages.find((s) => s.environment === environment)!.approval!.id;
  const cause = supersededCause(newer);
  const result = await deps.approvals.decide(approvalId, { status: 'superseded', reason: cause }, clock.now());
  if (!result.decided) return { superseded: false, reason: 'decided_meanwhile' };
  // The stage shows `superseded` once the older run's failure path records it (failStage).
  const decided = result.approval;
  const { delivered } = await deps.callbacks.sendTaskFailure(decided.taskToken, SUPERSEDED_ERROR, cause);
  if (!delivered) {
    // The older execution stopped waiting on its own (timeout, stop); its own failure path frees the lock.
    await deps.runs.updateRun(
      older.id,
      { note: `${environment}: ${cause}, but the run was no longer waiting` },
      clock.now(),
    );
  }
  return { superseded: true, runId: older.id, delivered };
}
