import type { PlanSummary, Run } from '../domain/run.js';

/** Where a run's outputs are: links served by the routes, and (locally) paths on this machine. */
export interface RunFiles {
  /** Run-wide, e.g. the local logs, artifacts and state directories. */
  locations: Record<string, string>;
  /** Per environment, e.g. the plan text link and the local build log paths. */
  stages: Record<string, Record<string, string>>;
}

/** A drift run (scheduled plan of every environment) says whether it found drift, and where. */
export function driftOf(run: Run): { detected: boolean; environments: string[] } | undefined {
  if (run.trigger !== 'drift') return undefined;
  const environments = run.stages.filter((stage) => stage.plan?.hasChanges === true).map((stage) => stage.environment);
  return { detected: environments.length > 0, environments };
}

/** The run as `--json` and `Accept: application/json` show it (../shared/interface.md), without internals. */
/** `addresses: false` (run lists): each plan's counts without its address list, to keep pages small. */
export function publicRun(run: Run, options: { addresses?: boolean; files?: RunFiles } = {}): Record<string, unknown> {
  const drift = driftOf(run);
  const files = options.files;
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
    ...(run.stop ? { stop: run.stop } : {}),
    ...(drift ? { drift } : {}),
    ...(files && Object.keys(files.locations).length > 0 ? { locations: files.locations } : {}),
    ...(run.rerunOf ? { rerunOf: run.rerunOf } : {}),
    ...(run.requestedBy ? { requestedBy: run.requestedBy } : {}),
    stages: run.stages.map((stage) => ({
      environment: stage.environment,
      status: stage.status,
      ...(stage.plan ? { plan: options.addresses === false ? withoutAddresses(stage.plan) : stage.plan } : {}),
      ...(stage.approval ? { approval: stage.approval } : {}),
      ...(stage.error ? { error: stage.error } : {}),
      ...(files?.stages[stage.environment] && Object.keys(files.stages[stage.environment]!).length > 0
        ? { files: files.stages[stage.environment] }
        : {}),
      transitions: stage.transitions,
    })),
  };
}

function withoutAddresses(plan: PlanSummary): Omit<PlanSummary, 'addresses' | 'omittedAddresses'> {
  const { addresses: _addresses, omittedAddresses: _omitted, ...counts } = plan;
  return counts;
}
