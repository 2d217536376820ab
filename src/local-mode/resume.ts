import { findRepository, type TfgateConfig } from '../config/load.js';
import type { ApprovalStore, Clock, LockStore, PipelineInput, RunStore } from '../domain/ports.js';
import { describeStop, type Run, type Stage, type StageStatus } from '../domain/run.js';
import { lockKeyFor } from '../domain/lock-key.js';
import { pipelineInputFor } from '../application/intake.js';

/**
 * `tfgate local` restarted: the executions in memory are gone, the runs, approvals, locks and saved
 * plans are not. A run that was waiting for an approval waits again for the same approval (same id,
 * same link, the saved plan and its sha256, the lock grant it held); a run that was anywhere else
 * (waiting for a lock, planning, applying, between environments) plans that environment again. Each
 * is started again under its own execution name, so its lock and queue entries still name it.
 */

export interface Resumption {
  run: Run;
  environment: string;
  kind: 'approval' | 'replan';
  input: PipelineInput;
  /** Said on the run and printed at start. */
  note: string;
  approvalId?: string;
  /** The token the resumed approval wait uses, already stored with the approval. */
  firstWaitToken?: string;
}

export interface ResumeDeps {
  config: TfgateConfig;
  runs: RunStore;
  approvals: ApprovalStore;
  locks: LockStore;
  clock: Clock;
  /** Makes the token a resumed execution's first wait will use (LocalEngine.presetToken). */
  presetToken: (executionName: string) => string;
}

export type ResumeDecision =
  | { kind: 'resume'; resumption: Resumption }
  | { kind: 'interrupt'; reason: string }
  /** A decision already recorded (a rejection, a supersede, a failure) that the run had not finished acting on. */
  | { kind: 'end'; environment: string; outcome: 'rejected' | 'superseded' | 'failed' | 'expired'; reason: string }
  | { kind: 'complete' };

/** Stages a run has finished with, per mode ('planned' ends a plan-only stage, not a deploy stage). */
const DONE: Record<Run['mode'], ReadonlySet<StageStatus>> = {
  deploy: new Set(['applied', 'no_changes', 'skipped']),
  plan_only: new Set(['planned', 'no_changes', 'skipped']),
};

/**
 * Every queue entry's task token belonged to an execution that no longer exists: left in place, the
 * next grant would go to a dead token and drop that run from the queue. Its resumed execution stores
 * a fresh one when it asks again.
 */
export async function clearStaleWaiterTokens(config: TfgateConfig, locks: LockStore): Promise<number> {
  let cleared = 0;
  for (const repository of config.repositories) {
    for (const environment of repository.environments) {
      const lockKey = lockKeyFor(repository.name, environment.name);
      for (const entry of await locks.listQueue(lockKey)) {
        if (entry.taskToken && (await locks.takeWaiterToken(lockKey, entry.runId, entry.sequence))) cleared += 1;
      }
    }
  }
  return cleared;
}

export async function decideResumption(run: Run, deps: ResumeDeps): Promise<ResumeDecision> {
  const repository = findRepository(deps.config, run.repository);
  if (!repository)
    return { kind: 'interrupt', reason: 'tfgate local restarted, and the repository is no longer in tfgate.yaml' };
  const configured = repository.environments.map((env) => env.name).join(',');
  if (configured !== run.stages.map((stage) => stage.environment).join(',')) {
    return {
      kind: 'interrupt',
      reason: 'tfgate local restarted, and the environments in tfgate.yaml changed since the run began',
    };
  }
  const index = run.stages.findIndex((stage) => !DONE[run.mode].has(stage.status));
  if (index < 0) return { kind: 'complete' };
  const stage = run.stages[index]!;
  // What an operator or an approver already said is honoured before anything is planned again.
  const said = await recordedEnd(run, stage, deps);
  if (said) return said;
  const input: PipelineInput = pipelineInputFor(run, repository, deps.config);
  const now = deps.clock.now();

  if (run.mode === 'deploy' && stage.status === 'awaiting_approval' && stage.approval && stage.plan) {
    const approval = await deps.approvals.get(stage.approval.id);
    const lockKey = lockKeyFor(run.repository, stage.environment);
    const holder = await deps.locks.get(lockKey);
    if (
      approval &&
      approval.runId === run.id &&
      approval.planSha256 === stage.plan.sha256 &&
      holder?.runId === run.id
    ) {
      // Stored now, before tfgate listens again: a decision posted at once reaches the resumed wait.
      const firstWaitToken = deps.presetToken(run.executionName);
      await deps.approvals.attachTaskToken(approval.id, run.id, firstWaitToken);
      // The wait's timeout is what is left of the approval's own; an approval that ran out while
      // tfgate was stopped expires at once, through the definition's own expiry path.
      const remaining = Math.max(1, approval.expiresAt - Math.floor(now.getTime() / 1000));
      input.environments = input.environments.map((env, i) =>
        i === index ? { ...env, approvalTimeoutSeconds: remaining } : env,
      );
      input.resume = { index, at: 'approval' };
      input.plan = { next: 'approve', planSha256: approval.planSha256 };
      input.lock = { acquired: true, lockKey, holder };
      return {
        kind: 'resume',
        resumption: {
          run,
          environment: stage.environment,
          kind: 'approval',
          input,
          approvalId: approval.id,
          firstWaitToken,
          note:
            `tfgate local restarted: ${stage.environment} waits again for approval ${approval.id} (the same ` +
            `link, plan sha256 ${approval.planSha256})`,
        },
      };
    }
  }

  // Anything else was mid-way (or its approval expired): that environment is planned again.
  if (stage.approval?.status === 'pending') {
    const closed = await deps.approvals.decide(
      stage.approval.id,
      { status: 'expired', reason: 'tfgate local restarted; the environment is planned again' },
      now,
    );
    if (closed.approval) {
      await deps.runs.updateStage(
        run.id,
        stage.environment,
        { status: stage.status, approval: { id: closed.approval.id, status: closed.approval.status } },
        now,
      );
    }
  }
  input.resume = { index, at: 'lock' };
  return {
    kind: 'resume',
    resumption: {
      run,
      environment: stage.environment,
      kind: 'replan',
      input,
      note:
        `tfgate local restarted while ${stage.environment} was ${stage.status.replace(/_/g, ' ')}: ` +
        `${stage.environment} is planned again`,
    },
  };
}

/**
 * A run is never planned again when what was recorded says it ended: an operator's stop (on the run,
 * or a forced release of one of its locks in the lock history, with the fencing number it ended), a
 * stage already ended, or its approval rejected or superseded before the run could act on it.
 */
async function recordedEnd(run: Run, stage: Stage, deps: ResumeDeps): Promise<ResumeDecision | undefined> {
  if (run.stop) return { kind: 'interrupt', reason: describeStop(run.stop) };
  if (run.mode === 'deploy') {
    for (const each of run.stages) {
      const events = await deps.locks.listEvents(lockKeyFor(run.repository, each.environment));
      const forced = events.filter((event) => event.kind === 'forced_release' && event.runId === run.id).pop();
      if (forced) {
        const fence = forced.fence !== undefined ? `, fencing number ${forced.fence}` : '';
        return {
          kind: 'interrupt',
          reason:
            `the ${each.environment} lock was freed by ${forced.by ?? 'an operator'} at ${forced.at}` +
            `${forced.reason ? `: ${forced.reason}` : ''} (${each.environment} lock${fence}); the run plans and ` +
            'applies nothing more',
        };
      }
    }
  }
  switch (stage.status) {
    case 'interrupted':
      return { kind: 'interrupt', reason: stage.error ?? `${stage.environment} was interrupted` };
    case 'failed':
    case 'rejected':
    case 'expired':
    case 'superseded':
      return {
        kind: 'end',
        environment: stage.environment,
        outcome: stage.status,
        reason: stage.error ?? stage.approval?.reason ?? `${stage.environment} ${stage.status}`,
      };
    default:
      break;
  }
  if (!stage.approval) return undefined;
  const approval = await deps.approvals.get(stage.approval.id);
  if (approval?.status === 'rejected')
    return {
      kind: 'end',
      environment: stage.environment,
      outcome: 'rejected',
      reason: `by ${approval.decidedBy ?? 'an approver'}${approval.reason ? `: ${approval.reason}` : ''}`,
    };
  if (approval?.status === 'superseded')
    return {
      kind: 'end',
      environment: stage.environment,
      outcome: 'superseded',
      reason: approval.reason ?? 'superseded by a newer push',
    };
  return undefined;
}
