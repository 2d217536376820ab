import type { RepositoryConfig, TfgateConfig } from '../../src/config/load.js';
// From resolved.ts, not load.ts: load.ts brings the YAML parser and the full schema into the bundle.
import { findRepository } from '../../src/config/resolved.js';
import type { EnvironmentLocks } from '../../src/domain/locks.js';
import type {
  ChangePeopleSource,
  Clock,
  DeliveryStore,
  ExecutionInspector,
  ExecutionStarter,
  LockStore,
  RunStore,
  SequenceStore,
  VcsClient,
} from '../../src/domain/ports.js';
import { systemClock } from '../../src/domain/ports.js';
import {
  deadHolderReason,
  driftExecutionName,
  isJudgeableHolder,
  judgeBranchHead,
  newestDeployRun,
  reconcileExecutionName,
  splitLockKey,
} from '../../src/domain/reconcile.js';
import { isTerminalRun, TERMINAL_STAGE_STATUSES } from '../../src/domain/run.js';
import { launchRun, type IntakeDeps, type IntakeOutcome, type StartDecision } from '../../src/application/intake.js';
import type { ChangeDeps } from '../../src/application/change.js';
import { TfgateError } from '../../src/domain/errors.js';

/**
 * The reconciler: what webhooks and EventBridge cannot guarantee. GitHub does not redeliver a failed
 * webhook, so a pass compares each tracked branch's head with the newest deploy run and starts a
 * `reconcile` run for a head nobody ran; it frees locks whose holder execution has ended without
 * saying so; and on each repository's drift schedule it plans every environment at the head.
 * Scheduled by EventBridge Scheduler in AWS, by timers in `tfgate local`.
 */

export interface ReconcilerDeps {
  config: TfgateConfig;
  runs: RunStore;
  lockStore: Pick<LockStore, 'listHeld'>;
  locks: Pick<EnvironmentLocks, 'enqueue' | 'releaseAll' | 'forceRelease'>;
  deliveries: DeliveryStore;
  sequences: SequenceStore;
  starter: ExecutionStarter;
  inspector: ExecutionInspector;
  vcs: Pick<VcsClient, 'getBranchHead'>;
  /**
   * Who pushed and wrote a head the webhook never announced (GitHub's activity and commits, or the
   * local repository). Absent or failing: the run's approvals fail closed unless self-approval is allowed.
   */
  people?: ChangePeopleSource;
  /** History and ledger: a missed head that is older than what an environment applied starts nothing. */
  change?: ChangeDeps;
  clock?: Clock;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Lock holders younger than this are not judged (their execution may be starting). */
  holderGraceSeconds?: number;
  /**
   * A head first seen less than this long ago is left alone: its push delivery may still be on its
   * way. Either way one conditional write per commit decides who starts its run.
   */
  headGraceSeconds?: number;
  /** How many recent runs are searched for the newest deploy run of a repository. */
  recentRuns?: number;
}

export type RepositoryOutcome =
  | { repository: string; action: 'started'; runId: string; sha: string }
  | { repository: string; action: 'none'; reason: string }
  | { repository: string; action: 'failed'; error: string };

export interface FreedLock {
  repository: string;
  environment: string;
  runId: string;
  executionName: string;
}

export interface ReconcileReport {
  repositories: RepositoryOutcome[];
  freedLocks: FreedLock[];
  errors: string[];
}

export type ReconcilerEvent = { kind: 'reconcile' } | { kind: 'drift'; repository: string };

const DEFAULT_HOLDER_GRACE_SECONDS = 120;
export const DEFAULT_HEAD_GRACE_SECONDS = 90;
const DEFAULT_RECENT_RUNS = 200;

export class ReconcilerEventError extends TfgateError {
  override name = 'ReconcilerEventError';
}

/** EventBridge Scheduler sends the schedule's input; its `kind` picks the pass. */
export function parseReconcilerEvent(event: unknown): ReconcilerEvent {
  const record = (typeof event === 'object' && event !== null ? event : {}) as Record<string, unknown>;
  const kind = record.kind;
  if (kind === undefined || kind === 'reconcile') return { kind: 'reconcile' };
  if (kind === 'drift') {
    if (typeof record.repository !== 'string' || record.repository === '')
      throw new ReconcilerEventError('a drift event needs "repository"');
    return { kind: 'drift', repository: record.repository };
  }
  throw new ReconcilerEventError(`unknown reconciler event kind ${JSON.stringify(kind)}`);
}

export function createReconciler(deps: ReconcilerDeps) {
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? (() => undefined);
  const intake: IntakeDeps = {
    config: deps.config,
    runs: deps.runs,
    deliveries: deps.deliveries,
    sequences: deps.sequences,
    locks: deps.locks,
    starter: deps.starter,
    clock,
    logger: { info: log, warn: log, error: log },
    ...(deps.change ? { change: deps.change } : {}),
  };

  /**
   * The name is claimed first, like a delivery: a pass that races another (or repeats after a
   * crash) is refused before any run record exists. A start that failed gives the name back.
   */
  async function start(decision: StartDecision, executionName: string): Promise<IntakeOutcome> {
    if (!(await deps.deliveries.claim(executionName, clock.now()))) return { kind: 'duplicate' };
    const outcome = await launchRun(decision, { executionName }, intake);
    if (outcome.kind === 'failed') await deps.deliveries.release(executionName).catch(() => undefined);
    return outcome;
  }

  async function peopleBehind(
    repository: RepositoryConfig,
    sha: string,
  ): Promise<NonNullable<StartDecision['people']>> {
    if (!deps.people)
      return {
        logins: [],
        emails: [],
        unknown: `tfgate has no way to find out who pushed ${sha.slice(0, 7)} (no GitHub credentials)`,
      };
    try {
      return await deps.people.changePeople(repository.name, repository.branch, sha);
    } catch (error) {
      return {
        logins: [],
        emails: [],
        unknown: `tfgate could not find out who pushed ${sha.slice(0, 7)}: ${messageOf(error)}`,
      };
    }
  }

  function decisionFor(
    repository: RepositoryConfig,
    sha: string,
    trigger: 'reconcile' | 'drift',
    people?: StartDecision['people'],
  ): StartDecision {
    return {
      ...(people ? { people } : {}),
      repository,
      mode: trigger === 'drift' ? 'plan_only' : 'deploy',
      trigger,
      sha,
      ref: `refs/heads/${repository.branch}`,
      message:
        trigger === 'drift'
          ? 'scheduled drift check'
          : 'started by the reconciler: the push webhook for this commit never arrived',
    };
  }

  async function readHead(repository: RepositoryConfig): Promise<string | undefined> {
    const head = await deps.vcs.getBranchHead(repository.name, repository.branch);
    if (head !== undefined && !/^[0-9a-fA-F]{40}$/.test(head))
      throw new Error(`the branch head of ${repository.name} is not a commit id`);
    return head?.toLowerCase();
  }

  async function catchUp(repository: RepositoryConfig): Promise<RepositoryOutcome> {
    const head = await readHead(repository);
    const recent = await deps.runs.list({ limit: deps.recentRuns ?? DEFAULT_RECENT_RUNS });
    const verdict = judgeBranchHead(head, newestDeployRun(recent, repository.name));
    if (!verdict.start) return { repository: repository.name, action: 'none', reason: verdict.reason };
    const sha = head!;
    const waiting = await headStillYoung(repository, sha);
    if (waiting) return { repository: repository.name, action: 'none', reason: waiting };
    // Resolved before the run exists: its approvals are checked against these people from the start.
    const people = await peopleBehind(repository, sha);
    const outcome = await start(
      decisionFor(repository, sha, 'reconcile', people),
      reconcileExecutionName(repository.name, sha, verdict.newest.id),
    );
    switch (outcome.kind) {
      case 'started':
        log('reconciler started a run for a missed push', { repository: repository.name, sha, runId: outcome.runId });
        return { repository: repository.name, action: 'started', runId: outcome.runId, sha };
      case 'duplicate':
        return {
          repository: repository.name,
          action: 'none',
          reason: outcome.reason ?? 'a run for this head was already started by the reconciler',
        };
      case 'failed':
        return { repository: repository.name, action: 'failed', error: outcome.error };
    }
  }

  /** Records when a head was first seen; says why to wait while it is younger than the grace period. */
  async function headStillYoung(repository: RepositoryConfig, sha: string): Promise<string | undefined> {
    const grace = deps.headGraceSeconds ?? DEFAULT_HEAD_GRACE_SECONDS;
    if (grace <= 0) return undefined;
    const key = `seen:${reconcileExecutionName(repository.name, sha, repository.branch)}`;
    const now = clock.now();
    if (await deps.deliveries.claim(key, now)) return `head first seen now; its push delivery gets ${grace}s to arrive`;
    const seen = Date.parse((await deps.deliveries.get(key))?.claimedAt ?? '');
    if (!Number.isFinite(seen)) return undefined;
    const age = (now.getTime() - seen) / 1000;
    return age < grace ? `head seen ${Math.floor(age)}s ago; its push delivery gets ${grace}s to arrive` : undefined;
  }

  async function freeDeadHolders(report: ReconcileReport): Promise<void> {
    const now = clock.now();
    for (const { lockKey, holder } of await deps.lockStore.listHeld()) {
      try {
        if (!isJudgeableHolder(holder, now, deps.holderGraceSeconds ?? DEFAULT_HOLDER_GRACE_SECONDS)) continue;
        if (await deps.inspector.isRunning(holder.executionName)) continue;
        const key = splitLockKey(lockKey);
        if (!key) continue;
        const reason = deadHolderReason(holder.executionName);
        const freed = await deps.locks.forceRelease(key.repository, key.environment, { by: 'reconciler', reason });
        if (!freed) continue;
        report.freedLocks.push({ ...key, runId: freed.runId, executionName: freed.executionName });
        log('reconciler freed a lock held by an ended execution', {
          lockKey,
          runId: freed.runId,
          executionName: freed.executionName,
        });
        await interrupt(freed.runId, key.environment, reason);
      } catch (error) {
        report.errors.push(`lock ${lockKey}: ${messageOf(error)}`);
      }
    }
  }

  /** The run whose execution is gone can never move again: it ends, with the reason, and leaves every queue. */
  async function interrupt(runId: string, environment: string, reason: string): Promise<void> {
    const run = await deps.runs.get(runId);
    if (!run || isTerminalRun(run.status)) return;
    const now = clock.now();
    for (const stage of run.stages) {
      if (TERMINAL_STAGE_STATUSES.has(stage.status)) continue;
      await deps.runs.updateStage(
        run.id,
        stage.environment,
        stage.environment === environment ? { status: 'interrupted', error: reason } : { status: 'skipped' },
        now,
      );
    }
    const ended = await deps.runs.updateRun(run.id, { status: 'interrupted', error: `${environment}: ${reason}` }, now);
    await deps.locks.releaseAll(ended);
  }

  return {
    async reconcile(): Promise<ReconcileReport> {
      const report: ReconcileReport = { repositories: [], freedLocks: [], errors: [] };
      // Dead holders first: a run started below must not queue behind a lock nobody will release.
      await freeDeadHolders(report);
      for (const repository of deps.config.repositories) {
        try {
          report.repositories.push(await catchUp(repository));
        } catch (error) {
          // One unreachable repository must not stop the others.
          report.repositories.push({ repository: repository.name, action: 'failed', error: messageOf(error) });
        }
      }
      for (const outcome of report.repositories)
        if (outcome.action === 'failed') report.errors.push(`${outcome.repository}: ${outcome.error}`);
      return report;
    },

    /** Plans every environment at the head, applies nothing; the run's end notifies when there is drift. */
    async drift(name: string, slotSeconds?: number): Promise<RepositoryOutcome> {
      const repository = findRepository(deps.config, name);
      if (!repository) return { repository: name, action: 'failed', error: 'repository not configured' };
      try {
        const head = await readHead(repository);
        if (!head) return { repository: repository.name, action: 'none', reason: 'the branch has no head' };
        // A plan taken while a deploy is changing the same state would report the deploy as drift.
        const wanted = repository.name.toLowerCase();
        const busy = (await deps.runs.listActive()).find(
          (run) => run.repository.toLowerCase() === wanted && (run.mode === 'deploy' || run.trigger === 'drift'),
        );
        if (busy) return { repository: repository.name, action: 'none', reason: `run ${busy.id} is in flight` };
        const slotLength = slotSeconds ?? repository.drift?.intervalSeconds ?? 3600;
        const slot = Math.floor(clock.now().getTime() / 1000 / Math.max(1, slotLength));
        const outcome = await start(
          decisionFor(repository, head, 'drift'),
          driftExecutionName(repository.name, head, slot),
        );
        switch (outcome.kind) {
          case 'started':
            return { repository: repository.name, action: 'started', runId: outcome.runId, sha: head };
          case 'duplicate':
            return {
              repository: repository.name,
              action: 'none',
              reason: 'this schedule slot already has a drift run',
            };
          case 'failed':
            return { repository: repository.name, action: 'failed', error: outcome.error };
        }
      } catch (error) {
        return { repository: repository.name, action: 'failed', error: messageOf(error) };
      }
    },
  };
}

export type Reconciler = ReturnType<typeof createReconciler>;

/** The scheduled entry: one event, one pass. Throws only for an event it cannot read. */
export async function handleReconcilerEvent(
  reconciler: Reconciler,
  event: unknown,
): Promise<ReconcileReport | RepositoryOutcome> {
  const parsed = parseReconcilerEvent(event);
  return parsed.kind === 'drift' ? reconciler.drift(parsed.repository) : reconciler.reconcile();
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
