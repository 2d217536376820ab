/**
 * Feedback to GitHub (commit statuses, the pull request plan comment) and drift notices, driven by
 * what the run store records. The pipeline never calls GitHub itself: whatever changes a run through
 * this decorator gets its feedback sent, in the order the changes happened.
 *
 * Feedback is best-effort. Calls run in the background (the store call returns at once), failures
 * are retried a few times, and a failure that remains leaves one note on the run. A run never fails
 * or waits because GitHub is slow, rate-limited or down.
 */
import { planBuildKind } from './builds.js';
import { renderSummaryLine, STAGE_ARTIFACTS, stageArtifactKey } from './plan-summary.js';
import { PLAN_COMMENT_MARKER, renderPlanComment, renderPlanningComment } from './pr-comment.js';
import { WriteObservingRunStore, type RunChange } from './observed-run-store.js';
import type { ArtifactStore, Clock, CommitState, Notifier, RetryHint, RunStore, VcsClient } from './ports.js';
import { systemClock } from './ports.js';
import { isTerminalRun, type Run, type Stage } from './run.js';

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  baseDelayMs: number;
  /** No single wait is longer, whatever Retry-After asks for: the run's feedback must not lag far behind. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 1000, maxDelayMs: 10_000 };

export interface FeedbackOptions {
  vcs: VcsClient;
  artifacts: ArtifactStore;
  /** The run page (`<publicUrl>/runs/<id>`); undefined while the public address is not known yet. */
  runUrl: (runId: string) => string | undefined;
  /** Drift notices (Slack, email, console). */
  notifier?: Notifier;
  clock?: Clock;
  retry?: Partial<RetryPolicy>;
  sleep?: (ms: number) => Promise<void>;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export const STATUS_CONTEXT_PREFIX = 'tfgate/';
export const FEEDBACK_FAILED_NOTE = 'GitHub feedback failed';
const NOTICE_FAILED_NOTE = 'The drift notification failed';
const MAX_DESCRIPTION = 140;
// Enough to find the newer run of the same pull request; older ones are long done.
const RECENT_RUNS = 50;

export function statusContext(environment: string): string {
  return `${STATUS_CONTEXT_PREFIX}${environment}`;
}

/** What GitHub shows for one environment of a run. */
export function commitStatusFor(run: Run, stage: Stage): { state: CommitState; description: string } {
  const line = stage.plan ? renderSummaryLine(stage.plan) : undefined;
  const withPlan = (text: string) => (line ? `${line}: ${text}` : text);
  const error = stage.error ?? run.error;
  const why = (prefix: string) => (error ? `${prefix}: ${stripEnvironment(error, stage.environment)}` : prefix);
  switch (stage.status) {
    case 'pending':
      return pending('queued');
    case 'waiting_for_lock':
      return pending(`waiting for the ${stage.environment} lock`);
    case 'planning':
      return pending('planning');
    case 'planned':
      return run.mode === 'plan_only'
        ? done('success', `plan: ${line ?? 'recorded'} (not applied)`)
        : pending(withPlan('planned'));
    case 'awaiting_approval':
      return pending(withPlan('waiting for approval'));
    case 'applying':
      return pending(withPlan('applying'));
    case 'applied':
      return done('success', `applied ${line ?? ''}`.trim());
    case 'no_changes':
      return done('success', 'no changes');
    case 'failed':
      return done('failure', why('failed'));
    case 'rejected':
      return done('failure', stage.approval?.by ? `rejected by ${stage.approval.by}` : 'rejected');
    case 'expired':
      return done('failure', 'no approval decision before the timeout');
    case 'superseded':
      return done('error', 'superseded by a newer push');
    case 'skipped':
      return done('error', 'skipped: an earlier environment did not finish');
    case 'interrupted':
      return done('error', why('interrupted'));
  }
}

function pending(description: string) {
  return done('pending', description);
}

function done(state: CommitState, description: string) {
  const flat = description.replace(/\s+/g, ' ').trim();
  return { state, description: flat.length > MAX_DESCRIPTION ? `${flat.slice(0, MAX_DESCRIPTION - 1)}…` : flat };
}

/** failStage records "<env>: <why>"; the status context already names the environment. */
function stripEnvironment(error: string, environment: string): string {
  return error.startsWith(`${environment}: `) ? error.slice(environment.length + 2) : error;
}

/** Any failure that does not say otherwise is worth another try (network errors, timeouts). */
function retryHintOf(error: unknown): RetryHint {
  if (typeof error !== 'object' || error === null) return {};
  const hint = error as RetryHint;
  return {
    ...(typeof hint.retryable === 'boolean' ? { retryable: hint.retryable } : {}),
    ...(typeof hint.retryAfterMs === 'number' && Number.isFinite(hint.retryAfterMs)
      ? { retryAfterMs: hint.retryAfterMs }
      : {}),
  };
}

export async function withRetry<T>(
  operation: () => Promise<T>,
  policy: RetryPolicy,
  sleep: (ms: number) => Promise<void>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      const hint = retryHintOf(error);
      if (hint.retryable === false || attempt >= policy.attempts) throw error;
      const backoff = policy.baseDelayMs * 2 ** (attempt - 1);
      await sleep(Math.min(policy.maxDelayMs, Math.max(backoff, hint.retryAfterMs ?? 0)));
    }
  }
}

interface RunFeedbackState {
  /** The last status sent per environment, as `state description`. */
  sent: Map<string, string>;
  comment?: 'planning' | 'final';
  noticed: boolean;
  noted: boolean;
  lastUpdatedAt: string;
  chain: Promise<void>;
  queued: number;
}

export class FeedbackRunStore extends WriteObservingRunStore {
  private readonly clock: Clock;
  private readonly retry: RetryPolicy;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly states = new Map<string, RunFeedbackState>();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    inner: RunStore,
    private readonly options: FeedbackOptions,
  ) {
    super(inner);
    this.clock = options.clock ?? systemClock;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  protected changed(change: RunChange): void {
    if (change.environment !== undefined) this.observe(change.run, change.environment);
    // A note changes nothing GitHub shows (and the feedback's own note must not loop back here).
    else if (!change.patch || change.patch.status !== undefined || change.patch.error !== undefined)
      this.observe(change.run, 'all');
  }

  /**
   * Waits for the feedback already set off (tests, shutdown, the end of a Lambda invocation).
   * With a timeout it gives up waiting (the calls go on) and says whether everything finished.
   */
  async drain(timeoutMs?: number): Promise<boolean> {
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    while (this.inFlight.size > 0) {
      const all = Promise.allSettled([...this.inFlight]).then(() => true);
      if (deadline === undefined) {
        await all;
        continue;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        all,
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), remaining))),
      ]);
      clearTimeout(timer);
      if (!finished) return false;
    }
    return true;
  }

  private observe(run: Run, scope: string): void {
    let state = this.states.get(run.id);
    if (!state) {
      state = { sent: new Map(), noticed: false, noted: false, lastUpdatedAt: '', chain: Promise.resolve(), queued: 0 };
      this.states.set(run.id, state);
    }
    const current = state;
    current.queued += 1;
    // One chain per run keeps its calls in the order its changes happened (pending before success).
    const task = current.chain
      .then(() => this.sync(run, scope, current))
      .catch((error: unknown) => {
        this.options.log?.('feedback failed unexpectedly', { runId: run.id, error: messageOf(error) });
      });
    current.chain = task;
    const tracked = task.finally(() => {
      this.inFlight.delete(tracked);
      current.queued -= 1;
      // Terminal runs are finished with; keeping their state would grow without bound in `tfgate local`.
      if (current.queued === 0 && isTerminalRun(run.status) && this.states.get(run.id) === current)
        this.states.delete(run.id);
    });
    this.inFlight.add(tracked);
  }

  private async sync(run: Run, scope: string, state: RunFeedbackState): Promise<void> {
    // A snapshot older than one already handled (two writers raced) would roll GitHub back.
    if (run.updatedAt < state.lastUpdatedAt) return;
    state.lastUpdatedAt = run.updatedAt;

    // Drift runs plan the branch head the deploy runs already reported on: their plans must not
    // overwrite those statuses. Their channel is the notice.
    if (run.trigger !== 'drift') {
      for (const stage of run.stages) {
        if (scope !== 'all' && scope !== stage.environment) continue;
        await this.sendStatus(run, stage, state);
      }
    }
    if (run.mode === 'plan_only' && run.pullRequest !== undefined) await this.sendComment(run, run.pullRequest, state);
    if (run.trigger === 'drift' && isTerminalRun(run.status) && !state.noticed) await this.sendDriftNotice(run, state);
  }

  private async sendStatus(run: Run, stage: Stage, state: RunFeedbackState): Promise<void> {
    const status = commitStatusFor(run, stage);
    const key = `${status.state} ${status.description}`;
    if (state.sent.get(stage.environment) === key) return;
    const targetUrl = this.options.runUrl(run.id);
    try {
      await withRetry(
        () =>
          this.options.vcs.setCommitStatus(run.repository, run.sha, {
            context: statusContext(stage.environment),
            ...status,
            ...(targetUrl ? { targetUrl } : {}),
          }),
        this.retry,
        this.sleep,
      );
      state.sent.set(stage.environment, key);
    } catch (error) {
      await this.noteFailure(
        run,
        state,
        FEEDBACK_FAILED_NOTE,
        `the ${statusContext(stage.environment)} commit status could not be set`,
        error,
      );
    }
  }

  private async sendComment(run: Run, pullRequest: number, state: RunFeedbackState): Promise<void> {
    const terminal = isTerminalRun(run.status);
    const wanted = terminal ? 'final' : 'planning';
    if (state.comment === 'final' || state.comment === wanted) return;
    try {
      // Runs of two commits can overlap; the older one must not replace the newer one's comment.
      if (await this.supersededInPullRequest(run, pullRequest)) {
        state.comment = 'final';
        return;
      }
      const runUrl = this.pageOf(run);
      const body = terminal
        ? renderPlanComment({ run, planTexts: await this.planTexts(run), runUrl })
        : renderPlanningComment(run, runUrl);
      await withRetry(
        () => this.options.vcs.upsertPullRequestComment(run.repository, pullRequest, PLAN_COMMENT_MARKER, body),
        this.retry,
        this.sleep,
      );
      state.comment = wanted;
    } catch (error) {
      await this.noteFailure(
        run,
        state,
        FEEDBACK_FAILED_NOTE,
        `the plan comment on pull request #${pullRequest} could not be written`,
        error,
      );
    }
  }

  private pageOf(run: Run): string {
    return this.options.runUrl(run.id) ?? `/runs/${run.id}`;
  }

  private async supersededInPullRequest(run: Run, pullRequest: number): Promise<boolean> {
    const recent = await this.inner.list({ limit: RECENT_RUNS });
    return recent.some(
      (other) =>
        other.id !== run.id &&
        other.repository === run.repository &&
        other.pullRequest === pullRequest &&
        other.mode === 'plan_only' &&
        other.createdAt > run.createdAt,
    );
  }

  private async planTexts(run: Run): Promise<Record<string, string | undefined>> {
    const texts: Record<string, string | undefined> = {};
    for (const stage of run.stages) {
      if (!stage.plan) continue;
      const body = await this.options.artifacts
        .get(stageArtifactKey(run.id, stage.environment, STAGE_ARTIFACTS.planText, planBuildKind(run.mode)))
        .catch(() => undefined);
      texts[stage.environment] = body?.toString('utf8');
    }
    return texts;
  }

  private async sendDriftNotice(run: Run, state: RunFeedbackState): Promise<void> {
    state.noticed = true;
    const notifier = this.options.notifier;
    if (!notifier) return;
    const message = driftMessage(run);
    if (!message) return;
    try {
      await withRetry(() => notifier.runNotice(run, message, this.pageOf(run)), this.retry, this.sleep);
    } catch (error) {
      await this.noteFailure(run, state, NOTICE_FAILED_NOTE, 'the notification could not be sent', error);
    }
  }

  /** One note per run, whatever number of calls failed: the run page says feedback is incomplete. */
  private async noteFailure(
    run: Run,
    state: RunFeedbackState,
    prefix: string,
    what: string,
    error: unknown,
  ): Promise<void> {
    this.options.log?.('feedback failed', { runId: run.id, what, error: messageOf(error) });
    if (prefix === FEEDBACK_FAILED_NOTE) {
      if (state.noted || (run.notes ?? []).some((note) => note.startsWith(FEEDBACK_FAILED_NOTE))) return;
      state.noted = true;
    }
    try {
      await this.inner.updateRun(
        run.id,
        { note: `${prefix}: ${what} (${truncate(messageOf(error), 300)}). The run itself is not affected.` },
        this.clock.now(),
      );
    } catch (noteError) {
      this.options.log?.('feedback: the failure note could not be recorded', {
        runId: run.id,
        error: messageOf(noteError),
      });
    }
  }
}

/** The drift notice: undefined when the state matches the code (nothing to say). */
export function driftMessage(run: Run): string | undefined {
  const where = `${run.repository} (${run.ref.replace(/^refs\/heads\//, '')} at ${run.sha.slice(0, 8)})`;
  if (run.status !== 'succeeded')
    return (
      `The drift check of ${where} did not finish: ` +
      `${run.status}${run.error ? `: ${truncate(run.error, 300)}` : ''}.`
    );
  const drifted = run.stages.filter((stage) => stage.plan?.hasChanges);
  if (drifted.length === 0) return undefined;
  const summary = run.stages
    .map(
      (stage) => `${stage.environment} ${stage.plan ? renderSummaryLine(stage.plan) : stage.status.replace(/_/g, ' ')}`,
    )
    .join(', ');
  return (
    `Drift in ${where}: the infrastructure differs from the code in ` +
    `${drifted.map((s) => s.environment).join(', ')} (${summary}).`
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
