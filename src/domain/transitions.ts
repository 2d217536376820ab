/**
 * The one declaration of which status changes are allowed, for runs and for their stages. Every writer
 * goes through the RunStore, and the store applies this in the same conditional write as the change,
 * so two writers racing (an approval arriving as the reconciler interrupts the run) cannot reopen an
 * ended run or stage. Writing the same status again is always allowed (a stage re-recorded when its
 * approval is closed).
 */
import { TfgateError } from './errors.js';
import {
  STAGE_STATUSES,
  RUN_STATUSES,
  TERMINAL_RUN_STATUSES,
  TERMINAL_STAGE_STATUSES,
  type RunStatus,
  type StageStatus,
} from './run.js';

export class IllegalTransitionError extends TfgateError {
  override name = 'IllegalTransitionError';
}

/**
 * Stage statuses nothing moves on from. `planned` is terminal for a plan-only run but a deploy run
 * goes on from it to approval and apply, and a failure or a newer push may still end it.
 */
export const FINAL_STAGE_STATUSES: ReadonlySet<StageStatus> = new Set(
  [...TERMINAL_STAGE_STATUSES].filter((status) => status !== 'planned'),
);
/** Run statuses nothing moves on from. */
export const FINAL_RUN_STATUSES: ReadonlySet<RunStatus> = TERMINAL_RUN_STATUSES;

/** Which stage statuses may become `to`: every status that has not ended, and `to` itself. */
export function stagePredecessors(to: StageStatus): StageStatus[] {
  return STAGE_STATUSES.filter((from) => from === to || !FINAL_STAGE_STATUSES.has(from));
}

export function runPredecessors(to: RunStatus): RunStatus[] {
  return RUN_STATUSES.filter((from) => from === to || !FINAL_RUN_STATUSES.has(from));
}

export function isAllowedStageTransition(from: StageStatus, to: StageStatus): boolean {
  return stagePredecessors(to).includes(from);
}

export function isAllowedRunTransition(from: RunStatus, to: RunStatus): boolean {
  return runPredecessors(to).includes(from);
}

export function stageTransitionRefused(
  runId: string,
  environment: string,
  from: StageStatus,
  to: StageStatus,
): IllegalTransitionError {
  return new IllegalTransitionError(`run ${runId}: the ${environment} stage is ${from} and cannot become ${to}`);
}

export function runTransitionRefused(runId: string, from: RunStatus, to: RunStatus): IllegalTransitionError {
  return new IllegalTransitionError(`run ${runId} is ${from} and cannot become ${to}`);
}
