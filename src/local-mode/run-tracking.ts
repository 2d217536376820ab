import type { RetryPolicy } from '../domain/feedback.js';
import type { ArtifactStore, Clock, Notifier, RunStore, TaskCallbacks, VcsClient } from '../domain/ports.js';
import { trackRuns, type RunTracking } from '../domain/run-tracking.js';
import { ProgressEventRunStore, type Print } from './progress.js';

/**
 * `tfgate local`'s run store: the same `trackRuns` decoration as the AWS entries (GitHub feedback, grants
 * recorded as planning), with live progress on top. The public address and the notifiers exist only once
 * the server listens, so feedback before that carries no link and notices wait for `connect`.
 */
export interface LocalRunTracking extends RunTracking<ProgressEventRunStore> {
  /** Called once the server listens and the notifiers exist. */
  connect(publicUrl: string, notices: Notifier): void;
}

export function composeLocalRunTracking(options: {
  store: RunStore;
  /** The engine's callbacks (it is created last: these reach it once it exists). */
  callbacks: TaskCallbacks;
  vcs: VcsClient;
  artifacts: ArtifactStore;
  clock: Clock;
  print: Print;
  retry?: Partial<RetryPolicy>;
}): LocalRunTracking {
  let publicUrl: string | undefined;
  let notices: Notifier | undefined;
  // Feedback first, then progress events on top: every write, the grant recorder's too, is printed and sent.
  const tracking = trackRuns(
    options.store,
    options.callbacks,
    {
      vcs: options.vcs,
      artifacts: options.artifacts,
      runUrl: (id) => (publicUrl ? `${publicUrl}/runs/${id}` : undefined),
      notifier: {
        approvalRequested: async () => undefined,
        runNotice: async (run, message, runUrl) => notices?.runNotice(run, message, runUrl),
      },
      clock: options.clock,
      ...(options.retry ? { retry: options.retry } : {}),
      log: (message, fields) => options.print(`${message}${fields ? ` ${JSON.stringify(fields)}` : ''}`),
    },
    (feedback) => new ProgressEventRunStore(feedback),
  );
  return {
    ...tracking,
    connect(url, notifier) {
      publicUrl = url;
      notices = notifier;
    },
  };
}
