import type { TfgateConfig } from '../config/load.js';
import type { Reconciler } from '../../lambdas/reconciler/handler.js';

/**
 * `tfgate local`'s stand-in for EventBridge Scheduler: a reconcile pass every interval and a drift
 * pass per repository on its own schedule. Passes never overlap (like the reserved concurrency of 1
 * in AWS), and stop() waits for the one in progress, so the stores it uses can close after it.
 */
export interface LocalScheduleOptions {
  /** false: no reconcile passes. */
  reconcileIntervalMs: number | false;
  /** Replaces every repository's drift schedule (tests); otherwise `drift.intervalSeconds`. */
  driftIntervalMs?: number;
  report?: (line: string) => void;
}

export function startLocalSchedules(
  reconciler: Reconciler,
  config: TfgateConfig,
  options: LocalScheduleOptions,
): { stop(): Promise<void> } {
  const timers: NodeJS.Timeout[] = [];
  let stopped = false;
  let queue: Promise<void> = Promise.resolve();
  const report = options.report ?? (() => undefined);

  const enqueue = (pass: () => Promise<void>) => {
    if (stopped) return;
    queue = queue
      .then(() => (stopped ? undefined : pass()))
      .catch((error: unknown) => report(`reconciler: ${error instanceof Error ? error.message : String(error)}`));
  };

  if (options.reconcileIntervalMs !== false) {
    timers.push(
      setInterval(
        () =>
          enqueue(async () => {
            const result = await reconciler.reconcile();
            for (const outcome of result.repositories) {
              if (outcome.action === 'started')
                report(
                  `reconciler: ${outcome.repository}@${outcome.sha.slice(0, 8)} was pushed without a webhook; ` +
                    `started run ${outcome.runId}`,
                );
            }
            for (const freed of result.freedLocks)
              report(
                `reconciler: freed the ${freed.environment} lock of ${freed.repository} held by ended execution ` +
                  `${freed.executionName} (run ${freed.runId})`,
              );
            for (const error of result.errors) report(`reconciler: ${error}`);
          }),
        options.reconcileIntervalMs,
      ),
    );
  }
  for (const repository of config.repositories) {
    if (!repository.drift) continue;
    const intervalMs = options.driftIntervalMs ?? repository.drift.intervalSeconds * 1000;
    timers.push(
      setInterval(
        () =>
          enqueue(async () => {
            const outcome = await reconciler.drift(repository.name, intervalMs / 1000);
            if (outcome.action === 'started') report(`drift check of ${repository.name} started: run ${outcome.runId}`);
            if (outcome.action === 'failed')
              report(`drift check of ${repository.name} failed to start: ${outcome.error}`);
          }),
        intervalMs,
      ),
    );
  }
  // Timers must not keep a process alive that is otherwise done (tests, a failed start).
  for (const timer of timers) timer.unref();

  return {
    async stop() {
      stopped = true;
      for (const timer of timers) clearInterval(timer);
      await queue;
    },
  };
}
