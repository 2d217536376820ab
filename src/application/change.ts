/**
 * What an approval covers: every commit between what the environment last applied and the commit being applied,
 * with the people behind them (src/domain/change-range.ts decides; this loads what it needs). Used by the approval
 * request (AWS notifier function, `tfgate local`), the webhook's replay check and re-runs.
 */
import type { TfgateConfig } from '../config/load.js';
import { findRepository } from '../config/resolved.js';
import {
  nextPushToLoad,
  replayReason,
  resolveChange,
  type AppliedRecord,
  type HistoryRange,
  type PromotedRecord,
  type PushRecord,
  type ResolvedChange,
} from '../domain/change-range.js';
import type { CommitHistory, DeploymentLedger } from '../domain/ports.js';
import type { ChangePeople, Run } from '../domain/run.js';

const PUSH_READS_AT_ONCE = 16;

export interface ChangeDeps {
  config: TfgateConfig;
  history: CommitHistory;
  ledger: DeploymentLedger;
}

/** The change `run` brings to `environment`, and its people; never throws for what cannot be known (fail closed). */
export async function describeChange(
  deps: ChangeDeps,
  run: Run,
  environment: string,
  requester?: ChangePeople,
): Promise<ResolvedChange> {
  const repository = findRepository(deps.config, run.repository);
  const branch = repository?.branch ?? run.ref.replace(/^refs\/heads\//, '');
  let applied: AppliedRecord | undefined;
  let history: HistoryRange;
  let undoes: HistoryRange | undefined;
  try {
    applied = await deps.ledger.getApplied(run.repository, environment);
    history = await safeRange(deps, run.repository, branch, applied?.sha, run.sha);
    if (run.rollback && history.kind === 'behind' && applied) {
      // A rollback brings no new commit: it takes the environment back to one it had; what it undoes is shown.
      undoes = await safeRange(deps, run.repository, branch, run.sha, applied.sha);
      history = { kind: 'range', commits: [], pullRequests: [] };
    }
  } catch (error) {
    history = { kind: 'unresolved', reason: `what ${environment} last applied cannot be read: ${messageOf(error)}` };
  }
  const pushes = new Map<string, PushRecord>();
  const limit = (history.kind === 'range' ? history.commits.length : 0) + 2;
  for (let step = 0; step < limit; step++) {
    const next = nextPushToLoad(pushes, run.sha, history);
    if (!next) break;
    const record = await deps.ledger.getPush(run.repository, next).catch(() => undefined);
    if (!record) break;
    pushes.set(next, record);
  }
  if (history.kind === 'range') {
    // Every commit of the range that was the head of some push: its pushers are the change's people too.
    try {
      const unread = history.commits.map((commit) => commit.sha).filter((sha) => !pushes.has(sha));
      // A few reads at a time: a long range must not take one round trip per commit in a row.
      for (let start = 0; start < unread.length; start += PUSH_READS_AT_ONCE) {
        const batch = unread.slice(start, start + PUSH_READS_AT_ONCE);
        const records = await Promise.all(batch.map((sha) => deps.ledger.getPush(run.repository, sha)));
        for (const record of records) if (record) pushes.set(record.head, record);
      }
    } catch (error) {
      history = {
        kind: 'unresolved',
        reason: `who pushed the commits of this change cannot be read: ${messageOf(error)}`,
      };
    }
  }
  const promoted: PromotedRecord[] = [];
  for (const other of repository?.environments ?? []) {
    if (other.name === environment) continue;
    const record = await deps.ledger.getApplied(run.repository, other.name).catch(() => undefined);
    if (record) promoted.push(record);
  }
  // This run's earlier stages hold its commit too, also where their plan had nothing to change. No applied record is
  // written then (code that changed nothing yet stays part of the next range), so the page learns it from the stage.
  for (const stage of run.stages) {
    if (stage.environment === environment) break;
    if (stage.status !== 'applied' && stage.status !== 'no_changes') continue;
    if (promoted.some((record) => record.environment === stage.environment && record.sha === run.sha)) continue;
    promoted.push({
      environment: stage.environment,
      sha: run.sha,
      runId: run.id,
      sequence: run.sequence,
      at: stage.transitions.at(-1)?.at ?? '',
      ...(stage.status === 'no_changes' ? { unchanged: true as const } : {}),
    });
  }
  return resolveChange({
    environment,
    head: run.sha,
    ...(applied ? { applied } : {}),
    history,
    pushes,
    promoted,
    ...(run.people ? { runPeople: run.people } : {}),
    ...(run.requestedBy
      ? {
          rerun: {
            requestedBy: run.requestedBy,
            requester: requester ?? { logins: [], emails: [] },
            ...(run.rollback ? { rollback: { reason: run.rollback.reason, ...(undoes ? { undoes } : {}) } } : {}),
          },
        }
      : {}),
  });
}

/**
 * Why a push of `sha` starts nothing: an environment already applied it or a commit that contains it. Throws
 * when the history cannot tell (the caller then starts nothing and says so: a redelivery or the reconciler
 * tries again).
 */
export async function replayOf(deps: ChangeDeps, repositoryName: string, sha: string): Promise<string | undefined> {
  const repository = findRepository(deps.config, repositoryName);
  for (const environment of repository?.environments ?? []) {
    const applied = await deps.ledger.getApplied(repositoryName, environment.name);
    if (!applied) continue;
    const contained = applied.sha === sha || (await deps.history.contains(repositoryName, applied.sha, sha));
    const reason = replayReason(sha, applied, contained);
    if (reason) return reason;
  }
  return undefined;
}

/**
 * Why re-running `sha` would roll something back, or undefined: a commit that is not the branch head, or one older
 * than what an environment applied. Throws when the head or the history cannot be read.
 */
export async function rollbackReason(
  deps: ChangeDeps,
  repositoryName: string,
  sha: string,
  branchHead: string | undefined,
): Promise<string | undefined> {
  const repository = findRepository(deps.config, repositoryName);
  if (branchHead === undefined) throw new Error(`the head of ${repository?.branch ?? 'the branch'} cannot be read`);
  for (const environment of repository?.environments ?? []) {
    const applied = await deps.ledger.getApplied(repositoryName, environment.name);
    if (!applied || applied.sha === sha) continue;
    if (await deps.history.contains(repositoryName, applied.sha, sha))
      return (
        `${sha.slice(0, 7)} is older than what ${environment.name} applied (${applied.sha.slice(0, 7)} at ` +
        `${applied.at}): running it again would roll ${environment.name} back`
      );
  }
  if (branchHead !== sha)
    return (
      `${sha.slice(0, 7)} is not the head of ${repository?.branch ?? 'the branch'} (${branchHead.slice(0, 7)}): ` +
      'running it again would take the environments back to an older commit'
    );
  return undefined;
}

async function safeRange(
  deps: ChangeDeps,
  repository: string,
  branch: string,
  base: string | undefined,
  head: string,
): Promise<HistoryRange> {
  if (base === head) return { kind: 'range', commits: [], pullRequests: [] };
  try {
    return await deps.history.range(repository, branch, base, head);
  } catch (error) {
    return { kind: 'unresolved', reason: `the history could not be read: ${messageOf(error)}` };
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
