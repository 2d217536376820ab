import type { Run } from '../core/domain/run.js';

/** The run as `--json` and `Accept: application/json` show it (../shared/interface.md), without internals. */
export function publicRun(run: Run): Record<string, unknown> {
  return {
    id: run.id,
    repository: run.repository,
    sha: run.sha,
    ref: run.ref,
    trigger: run.trigger,
    mode: run.mode,
    ...(run.pullRequest !== undefined ? { pullRequest: run.pullRequest } : {}),
    status: run.status,
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
    ...(run.error ? { error: run.error } : {}),
    ...(run.pusher ? { pusher: run.pusher } : {}),
    ...(run.message ? { message: run.message } : {}),
    ...(run.notes && run.notes.length > 0 ? { notes: run.notes } : {}),
    ...(run.rerunOf ? { rerunOf: run.rerunOf } : {}),
    ...(run.requestedBy ? { requestedBy: run.requestedBy } : {}),
    stages: run.stages.map((stage) => ({
      environment: stage.environment,
      status: stage.status,
      ...(stage.plan ? { plan: stage.plan } : {}),
      ...(stage.approval ? { approval: stage.approval } : {}),
      ...(stage.error ? { error: stage.error } : {}),
      transitions: stage.transitions,
    })),
  };
}
