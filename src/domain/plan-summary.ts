/**
 * Plan summaries: what a saved plan will do, counted the way terraform's own "Plan: X to add, Y to
 * change, Z to destroy" line counts it, plus the addresses behind each number. The input is the JSON
 * of `terraform show -json <planfile>`, which user code shapes (resource keys, output values), so it is
 * treated as hostile: any shape this code does not understand is refused with a clear error rather
 * than summarised wrongly, because people approve applies on the strength of these numbers.
 */
import { TfgateError } from './errors.js';
import type { PlanSummary } from './run.js';

export class PlanJsonError extends TfgateError {
  override name = 'PlanJsonError';
}

export class StoredPlanSummaryError extends TfgateError {
  override name = 'StoredPlanSummaryError';
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
// A plan with more resource changes than this is not a plan anyone reviews; it is a broken input.
const MAX_RESOURCE_CHANGES = 200_000;
const MAX_ADDRESS_LENGTH = 4096;

type Category = 'create' | 'update' | 'delete' | 'replace' | 'none';

// Every action list terraform's JSON plan format (version 1.x) documents. "read" is a data source,
// "forget" (removed blocks with destroy = false) leaves the real object alone: neither is counted by
// terraform's "Plan:" line, so neither is counted here.
const ACTION_CATEGORIES = new Map<string, Category>([
  ['no-op', 'none'],
  ['read', 'none'],
  ['forget', 'none'],
  ['create', 'create'],
  ['update', 'update'],
  ['delete', 'delete'],
  ['delete,create', 'replace'],
  ['create,delete', 'replace'],
]);

export interface PlanFacts {
  /** terraform plan -detailed-exitcode returned 2: resource or output changes. */
  hasChanges: boolean;
  /** sha256 (hex) of the saved plan file's bytes. */
  sha256: string;
}

/** Parses the text printed by `terraform show -json <planfile>` and summarises it. */
export function summarizePlanJsonText(text: string, facts: PlanFacts): PlanSummary {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new PlanJsonError(`terraform show -json did not print valid JSON: ${(error as Error).message}`);
  }
  return summarizePlan(parsed, facts);
}

export function summarizePlan(plan: unknown, facts: PlanFacts): PlanSummary {
  if (!SHA256_HEX.test(facts.sha256)) throw new PlanJsonError('the plan sha256 must be 64 lower-case hex characters');
  if (!isRecord(plan)) throw new PlanJsonError('the plan JSON must be an object');

  const formatVersion = plan.format_version;
  if (typeof formatVersion !== 'string' || !/^1\.\d+$/.test(formatVersion)) {
    throw new PlanJsonError(`unsupported plan JSON format_version ${JSON.stringify(formatVersion)} (expected 1.x)`);
  }

  const resourceChanges = plan.resource_changes ?? [];
  if (!Array.isArray(resourceChanges)) throw new PlanJsonError('resource_changes must be an array');
  if (resourceChanges.length > MAX_RESOURCE_CHANGES) {
    throw new PlanJsonError(
      `resource_changes holds ${resourceChanges.length} entries, more than ${MAX_RESOURCE_CHANGES}`,
    );
  }

  const addresses: PlanSummary['addresses'] = { create: [], update: [], delete: [], replace: [] };
  resourceChanges.forEach((entry: unknown, index: number) => {
    const { address, category } = readResourceChange(entry, index);
    if (category !== 'none') addresses[category].push(address);
  });

  return {
    add: addresses.create.length + addresses.replace.length,
    change: addresses.update.length,
    destroy: addresses.delete.length + addresses.replace.length,
    replace: addresses.replace.length,
    hasChanges: facts.hasChanges,
    sha256: facts.sha256,
    addresses,
  };
}

function readResourceChange(entry: unknown, index: number): { address: string; category: Category } {
  const where = `resource_changes[${index}]`;
  if (!isRecord(entry)) throw new PlanJsonError(`${where} must be an object`);

  const address = entry.address;
  if (typeof address !== 'string' || address.length === 0 || address.length > MAX_ADDRESS_LENGTH) {
    throw new PlanJsonError(`${where}.address must be a non-empty string of at most ${MAX_ADDRESS_LENGTH} characters`);
  }

  const change = entry.change;
  if (!isRecord(change)) throw new PlanJsonError(`${where}.change must be an object (${address})`);
  const actions = change.actions;
  if (!Array.isArray(actions) || actions.length === 0 || !actions.every((action) => typeof action === 'string')) {
    throw new PlanJsonError(`${where}.change.actions must be a non-empty list of strings (${address})`);
  }
  const category = ACTION_CATEGORIES.get(actions.join(','));
  if (category === undefined) {
    throw new PlanJsonError(
      `${where} has actions ${JSON.stringify(actions)} that tfgate does not know how to count (${address})`,
    );
  }

  // A deposed object (left over from an interrupted create_before_destroy) shares its resource's
  // address; naming it keeps the list honest about what will be destroyed.
  const deposed = entry.deposed;
  if (deposed !== undefined && typeof deposed !== 'string')
    throw new PlanJsonError(`${where}.deposed must be a string (${address})`);
  return { address: deposed ? `${address} (deposed object ${deposed})` : address, category };
}

/** One short line for lists, notifications and commit statuses. */
export function renderSummaryLine(
  summary: Pick<PlanSummary, 'add' | 'change' | 'destroy' | 'replace' | 'hasChanges'>,
): string {
  if (!summary.hasChanges) return 'no changes';
  const counts = `+${summary.add} ~${summary.change} -${summary.destroy}`;
  if (summary.replace > 0) return `${counts} (${summary.replace} to replace)`;
  if (summary.add + summary.change + summary.destroy === 0) return `${counts} (output changes only)`;
  return counts;
}

/**
 * Reads a summary.json back (the pipeline records it on the run, the approval page shows it): it
 * crossed a process and a storage boundary, so it is checked field by field.
 */
export function parseStoredPlanSummary(value: unknown): PlanSummary {
  if (!isRecord(value)) throw new StoredPlanSummaryError('the stored plan summary must be an object');
  const count = (key: 'add' | 'change' | 'destroy' | 'replace'): number => {
    const n = value[key];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
      throw new StoredPlanSummaryError(`the stored plan summary's ${key} must be a non-negative integer`);
    }
    return n;
  };
  const hasChanges = value.hasChanges;
  if (typeof hasChanges !== 'boolean')
    throw new StoredPlanSummaryError("the stored plan summary's hasChanges must be a boolean");
  const sha256 = value.sha256;
  if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256)) {
    throw new StoredPlanSummaryError("the stored plan summary's sha256 must be 64 lower-case hex characters");
  }
  const rawAddresses = value.addresses;
  if (!isRecord(rawAddresses))
    throw new StoredPlanSummaryError("the stored plan summary's addresses must be an object");
  const list = (key: keyof PlanSummary['addresses']): string[] => {
    const items = rawAddresses[key];
    if (!Array.isArray(items) || !items.every((item) => typeof item === 'string')) {
      throw new StoredPlanSummaryError(`the stored plan summary's addresses.${key} must be a list of strings`);
    }
    return [...items] as string[];
  };
  return {
    add: count('add'),
    change: count('change'),
    destroy: count('destroy'),
    replace: count('replace'),
    hasChanges,
    sha256,
    addresses: { create: list('create'), update: list('update'), delete: list('delete'), replace: list('replace') },
  };
}

/**
 * What a run record keeps of a plan's addresses. A DynamoDB item holds 400 KB for the whole run (every
 * stage, its transitions and errors), and run lists go out in one HTTP response, so each stage keeps
 * the counts and at most this many addresses; the full summary stays in the stage's artifacts.
 */
export const RECORDED_ADDRESSES = { count: 100, bytes: 8_000 } as const;

export function capAddressesForRecord(
  summary: PlanSummary,
  limit: { count: number; bytes: number } = RECORDED_ADDRESSES,
): PlanSummary {
  const kept: PlanSummary['addresses'] = { create: [], update: [], delete: [], replace: [] };
  let count = 0;
  let bytes = 0;
  let omitted = 0;
  // Destructive changes first: they are what a reviewer must not miss.
  for (const key of ['delete', 'replace', 'update', 'create'] as const) {
    for (const address of summary.addresses[key]) {
      const size = Buffer.byteLength(address);
      if (count < limit.count && bytes + size <= limit.bytes) {
        kept[key].push(address);
        count += 1;
        bytes += size;
      } else {
        omitted += 1;
      }
    }
  }
  const { omittedAddresses: _previous, ...rest } = summary;
  return {
    ...rest,
    addresses: kept,
    ...(omitted > 0 ? { omittedAddresses: omitted + (summary.omittedAddresses ?? 0) } : {}),
  };
}

// Where a stage's artifacts live: domain/artifact-keys.ts, the one home of artifact keys.
export { STAGE_ARTIFACTS, stageArtifactKey, type StageArtifactName } from './artifact-keys.js';

/** What plan-result.json and apply-result.json hold. */
export interface StageResult {
  ok: boolean;
  /** The build runner's own exit code: 0 on success, 1 on failure. */
  exitCode: number;
  /** The step that failed (checkout, init, workspace, plan, show, verify, apply, artifacts, setup). */
  step?: string;
  /** terraform's exit code for the last terraform command run (plan: 0 no changes, 2 changes). */
  terraformExitCode?: number;
  /** terraform's `Error:` block(s), or tfgate's own reason, bounded to about 4 KB. */
  error?: string;
  summary?: PlanSummary;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
