/**
 * The reconciler's rules, apart from any I/O: which branch head deserves a catch-up run, how its
 * execution is named so a second pass cannot start a twin, and when a lock holder counts as dead.
 */
import { createHash } from 'node:crypto';
import type { LockHolder } from './ports.js';
import type { Run } from './run.js';

function digest(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 40);
}

/**
 * Named after what the pass saw (repository, head, and the newest deploy run then): a repeated pass
 * over the same situation gets the same name and is refused, while the same head reached again
 * later (a revert pushed back) is a new situation with a new name.
 */
export function reconcileExecutionName(repository: string, sha: string, newestRunId: string): string {
  return `reconcile-${digest(repository.toLowerCase(), sha, newestRunId)}`;
}

/** One drift run per repository, head and schedule slot, however often the schedule fires in that slot. */
export function driftExecutionName(repository: string, sha: string, slot: number): string {
  return `drift-${digest(repository.toLowerCase(), sha, String(slot))}`;
}

/** The newest run that deploys the tracked branch: what the branch head is compared against. */
export function newestDeployRun(runsNewestFirst: Run[], repository: string): Run | undefined {
  const wanted = repository.toLowerCase();
  return runsNewestFirst.find((run) => run.mode === 'deploy' && run.repository.toLowerCase() === wanted);
}

export type HeadVerdict = { start: true; newest: Run } | { start: false; reason: string };

/**
 * A head differing from the newest deploy run's commit was pushed without a run: its webhook never
 * arrived. A repository without any deploy run yet is left alone: there is no baseline to say the
 * head was ever meant to be deployed by tfgate (a seeded or freshly connected repository).
 */
export function judgeBranchHead(head: string | undefined, newest: Run | undefined): HeadVerdict {
  if (!head) return { start: false, reason: 'the branch has no head' };
  if (!newest) return { start: false, reason: 'no deploy run yet to compare with' };
  if (newest.sha === head.toLowerCase()) return { start: false, reason: 'the head has a run' };
  return { start: true, newest };
}

/**
 * A holder that took the lock moments ago may belong to a run whose execution is still being
 * started (intake queues first, then starts); only older holders are judged.
 */
export function isJudgeableHolder(holder: LockHolder, now: Date, graceSeconds: number): boolean {
  const acquired = Date.parse(holder.acquiredAt);
  return !Number.isFinite(acquired) || now.getTime() - acquired >= graceSeconds * 1000;
}

export function deadHolderReason(executionName: string): string {
  return `holder execution ${executionName} is not running`;
}

export { splitLockKey } from './lock-key.js';
