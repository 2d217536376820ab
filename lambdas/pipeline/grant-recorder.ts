import type { Clock, RunStore, TaskCallbacks } from '../core/domain/ports.js';
import { systemClock } from '../core/domain/ports.js';

/**
 * A lock is often granted by another run's release, long after the waiter asked. The grant is the
 * moment the waiting stage starts planning, so it is recorded then, whoever hands the lock over.
 */
export function recordGrantsAsPlanning(callbacks: TaskCallbacks, runs: RunStore, clock: Clock = systemClock): TaskCallbacks {
  return {
    async sendTaskSuccess(taskToken, output) {
      const grant = output as { acquired?: unknown; lockKey?: unknown; holder?: { runId?: unknown } } | undefined;
      if (grant?.acquired === true && typeof grant.lockKey === 'string' && typeof grant.holder?.runId === 'string') {
        const environment = grant.lockKey.slice(grant.lockKey.lastIndexOf('#') + 1);
        const run = await runs.get(grant.holder.runId);
        const stage = run?.stages.find((s) => s.environment === environment);
        if (stage && stage.status === 'waiting_for_lock') {
          await runs.updateStage(grant.holder.runId, environment, { status: 'planning' }, clock.now());
        }
      }
      return callbacks.sendTaskSuccess(taskToken, output);
    },
    sendTaskFailure: (taskToken, error, cause) => callbacks.sendTaskFailure(taskToken, error, cause),
  };
}
