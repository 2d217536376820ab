/**
 * The "creates everything again" stop. A deploy plan that would create every resource of a root, in an
 * environment that has applied resources before, almost never means what it says: the state is missing
 * (lost, a changed backend) or the environment was renamed (a new workspace starts empty). Applied, it
 * duplicates infrastructure or fails half-way on names already taken; in an environment without a gate
 * nobody would even see it first. So such a plan stops before any approval, with the reason.
 */
import type { AppliedRecord, AppliedRecords } from './managed-state.js';

/** Managed resources the plan creates, when every managed resource change is a create; otherwise undefined. */
export function createsEverything(planJson: string): number | undefined {
  let plan: unknown;
  try {
    plan = JSON.parse(planJson);
  } catch {
    return undefined;
  }
  const changes = (plan as { resource_changes?: unknown } | null)?.resource_changes;
  if (!Array.isArray(changes)) return undefined;
  let creates = 0;
  for (const entry of changes) {
    const change = entry as { mode?: unknown; change?: { actions?: unknown } } | null;
    if (change?.mode !== 'managed') continue;
    const actions = change.change?.actions;
    if (!Array.isArray(actions) || actions.length !== 1 || actions[0] !== 'create') return undefined;
    creates += 1;
  }
  return creates > 0 ? creates : undefined;
}

/** Managed resources the plan's `planned_values` hold (what exists once it is applied); undefined if unreadable. */
export function resourcesAfterApply(planJson: string): number | undefined {
  let plan: unknown;
  try {
    plan = JSON.parse(planJson);
  } catch {
    return undefined;
  }
  const root = (plan as { planned_values?: { root_module?: unknown } } | null)?.planned_values?.root_module;
  if (root === undefined) return (plan as object | null) && typeof plan === 'object' ? 0 : undefined;
  let count = 0;
  const visit = (module: unknown, depth: number) => {
    if (!module || typeof module !== 'object' || depth > 100) return;
    const { resources, child_modules: children } = module as { resources?: unknown; child_modules?: unknown };
    if (Array.isArray(resources))
      count += resources.filter((r) => (r as { mode?: unknown } | null)?.mode === 'managed').length;
    if (Array.isArray(children)) for (const child of children) visit(child, depth + 1);
  };
  visit(root, 0);
  return count;
}

export interface FullCreateContext {
  environment: string;
  /** The environments configured for this repository, in order; unknown (older state machine): no rename check. */
  configured?: string[];
  records: AppliedRecords;
  /** How to find the state, named in the message (a bucket and key, or a directory). */
  stateLocation: string;
}

/** The reason to stop, or undefined when the plan may go on. */
export async function fullCreateStop(creates: number, context: FullCreateContext): Promise<string | undefined> {
  const { environment, records } = context;
  const own = await records.get(environment);
  const clear = (cleared: string[]) =>
    `If creating everything in ${environment} is really intended (the resources were removed on purpose), delete ` +
    `${cleared.map((name) => records.describe(name)).join(' and ')} and push again.`;
  if (own && own.resources > 0) {
    return (
      `stopped before approval: this plan would create all ${creates} resources of ${environment}, which held ` +
      `${own.resources} after its last apply (${describeApply(own)}). Its state is missing or not the one it ` +
      `applied to (lost state, a changed backend): applying would create everything again. Restore the state at ` +
      `${context.stateLocation} (the state bucket keeps earlier versions). ${clear([environment])}`
    );
  }
  if (own || !context.configured) return undefined;
  const others = (await records.environments()).filter(
    (name) => name !== environment && !context.configured!.includes(name),
  );
  const applied: AppliedRecord[] = [];
  for (const name of others) {
    const record = await records.get(name);
    if (record && record.resources > 0) applied.push(record);
  }
  if (applied.length === 0) return undefined;
  const described = applied.map((record) => `${record.environment} (${describeApply(record)})`).join(', ');
  return (
    `stopped before approval: this plan would create all ${creates} resources of ${environment}, which has never ` +
    `applied, while ${described} applied this root and is no longer configured. A renamed environment starts from ` +
    `an empty workspace: applying would create everything again beside what exists. Move the old environment's ` +
    `state to ${context.stateLocation} (or rename the environment back). ${clear(applied.map((r) => r.environment))}`
  );
}

function describeApply(record: AppliedRecord): string {
  return `run ${record.runId || '?'}, commit ${record.sha.slice(0, 12) || '?'}, ${record.at || 'time unknown'}`;
}
