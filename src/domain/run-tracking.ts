/**
 * What every writer of runs is composed with, in AWS and in `tfgate local` alike: the run store is
 * wrapped by GitHub feedback (commit statuses from "queued" on, the pull request comment, drift
 * notices), and the task callbacks record a lock grant as the moment a waiting stage starts planning.
 * Both compositions call `trackRuns`, so neither can lose a decorator the other has.
 */
import { FeedbackRunStore, type FeedbackOptions } from './feedback.js';
import { splitLockKey } from './lock-key.js';
import type { Clock, RunStore, TaskCallbacks } from './ports.js';
import { systemClock } from './ports.js';

/**
 * A lock is often granted by another run's release, long after the waiter asked. The grant is the
 * moment the waiting stage starts planning, so it is recorded then, whoever hands the lock over.
 */
export function recordGrantsAsPlanning(
  callbacks: TaskCallbacks,
  runs: RunStore,
  clock: Clock = systemClock,
): TaskCallbacks {
  return {
    async sendTaskSuccess(taskToken, output) {
      const grant = output as { acquired?: unknown; lockKey?: unknown; holder?: { runId?: unknown } } | undefined;
      const key =
        grant?.acquired === true && typeof grant.lockKey === 'string' ? splitLockKey(grant.lockKey) : undefined;
      if (key && typeof grant?.holder?.runId === 'string') {
        const run = await runs.get(grant.holder.runId);
        const stage = run?.stages.find((s) => s.environment === key.environment);
        if (stage && stage.status === 'waiting_for_lock') {
          await runs.updateStage(grant.holder.runId, key.environment, { status: 'planning' }, clock.now());
        }
      }
      return callbacks.sendTaskSuccess(taskToken, output);
    },
    sendTaskFailure: (taskToken, error, cause) => callbacks.sendTaskFailure(taskToken, error, cause),
  };
}

/** The names of what `trackRuns` composes, in order: a test holds both compositions to this list. */
export const RUN_TRACKING_DECORATORS = ['FeedbackRunStore', 'recordGrantsAsPlanning'] as const;

export interface RunTracking<S extends RunStore = FeedbackRunStore> {
  /** The store every writer uses (the feedback store, or what `observe` wrapped it in). */
  runs: S;
  /** The feedback decorator itself: `drain()` waits for what it set off (end of an invocation, shutdown). */
  feedback: FeedbackRunStore;
  /** Callbacks that record grants through `runs`, so the grant's "planning" gets its feedback too. */
  callbacks: TaskCallbacks;
  /** Which decorators were applied (see RUN_TRACKING_DECORATORS). */
  decorators: readonly string[];
}

/**
 * `observe` wraps the feedback store once more for a composition of its own (local progress on the
 * console); grants are then recorded through the wrapper, so they are observed like any other write.
 */
export function trackRuns(store: RunStore, callbacks: TaskCallbacks, feedback: FeedbackOptions): RunTracking;
export function trackRuns<S extends RunStore>(
  store: RunStore,
  callbacks: TaskCallbacks,
  feedback: FeedbackOptions,
  observe: (runs: FeedbackRunStore) => S,
): RunTracking<S>;
export function trackRuns(
  store: RunStore,
  callbacks: TaskCallbacks,
  feedback: FeedbackOptions,
  observe?: (runs: FeedbackRunStore) => RunStore,
): RunTracking<RunStore> {
  const feedbackStore = new FeedbackRunStore(store, feedback);
  const runs = observe ? observe(feedbackStore) : feedbackStore;
  return {
    runs,
    feedback: feedbackStore,
    callbacks: recordGrantsAsPlanning(callbacks, runs, feedback.clock ?? systemClock),
    decorators: RUN_TRACKING_DECORATORS,
  };
}
