/**
 * The structured view of a saved plan: what `terraform show -json <planfile>` says will happen, grouped
 * the way a reviewer reads it (destroys and replacements first, each named; for every update the
 * attributes it changes, before → after), plus output changes, drift and moved resources.
 *
 * The input is hostile. User code shapes it (addresses, values, map keys), a build that ran that code
 * wrote it, and it may be huge. So this module never throws on any input, bounds everything it keeps
 * (entries, depth, lengths), and never shows a sensitive value: a value is masked where terraform marks
 * it sensitive (`before_sensitive`/`after_sensitive`, an output's flags), where a marker is missing or
 * malformed (in doubt, mask), and wherever a value that is marked sensitive anywhere in the plan turns up
 * unmarked elsewhere (terraform_data's `output` echoes a sensitive `input` without the mark, for one).
 * Pure: no I/O, so the pipeline, the pages and `tfgate plan show` share it.
 */
import { stripTerminalEscapes } from './sanitize.js';

export const SENSITIVE = '(sensitive value)';
export const KNOWN_AFTER_APPLY = '(known after apply)';

export type ResourceAction = 'create' | 'update' | 'delete' | 'replace' | 'read' | 'no-op' | 'forget' | 'unknown';

export interface AttributeChange {
  /** Where in the resource, e.g. `tags["env"]`, `rule[0].port`. */
  path: string;
  /** Display text: a literal, `(sensitive value)`, `(known after apply)`, or `null`. */
  before: string;
  after: string;
}

export interface ResourceView {
  address: string;
  action: ResourceAction;
  /** The address it had before a `moved` block (or a refactoring) renamed it. */
  previousAddress?: string;
  /** A deposed object (left by an interrupted create_before_destroy) of this resource. */
  deposed?: string;
  /** terraform's `action_reason`, e.g. `replace_because_cannot_update`. */
  reason?: string;
  /** The attributes that force a replacement. */
  replacedBecause?: string[];
  /** For updates, replacements and drift: the attributes that change. */
  changes: AttributeChange[];
  /** Changed attributes left out of `changes` (bounds). */
  omittedChanges: number;
}

export interface OutputView {
  name: string;
  action: ResourceAction;
  before: string;
  after: string;
}

export interface PlanSummaryCounts {
  create: number;
  update: number;
  delete: number;
  replace: number;
  read: number;
  noop: number;
  forget: number;
  moved: number;
  unknown: number;
}

export interface PlanView {
  formatVersion?: string;
  terraformVersion?: string;
  /** terraform stopped planning with an error: the plan may be incomplete and cannot be applied. */
  errored: boolean;
  /** `complete: false`: some changes were deferred to a later plan. */
  incomplete: boolean;
  /** A `-refresh-only` plan: it only updates the state to match what exists. */
  refreshOnly: boolean;
  summary: PlanSummaryCounts;
  /**
   * Every resource change but no-ops (moved no-ops included; all no-ops with `noOps`), destroys and
   * replacements first.
   */
  resources: ResourceView[];
  /** Resources left out of `resources` (bounds), and of those how many destroy or replace. */
  omittedResources: number;
  omittedDestructive: number;
  outputs: OutputView[];
  omittedOutputs: number;
  /** Objects changed outside Terraform since the last apply (`resource_drift`). */
  drift: ResourceView[];
  omittedDrift: number;
  /** What could not be read, said plainly (the view shows what it could). */
  problems: string[];
}

export interface PlanViewLimits {
  resources: number;
  changesPerResource: number;
  /** Attribute changes across the whole view. */
  changes: number;
  outputs: number;
  drift: number;
  /** List unchanged resources too (`tfgate plan show --json` names every resource change). */
  noOps?: boolean;
}

/** What the approval page keeps: a 5,000-resource plan still makes a page of reasonable size. */
export const PAGE_LIMITS: PlanViewLimits = {
  resources: 1000,
  changesPerResource: 20,
  changes: 2000,
  outputs: 100,
  drift: 100,
};
/** `tfgate plan show`: every resource named, attribute detail still bounded. */
export const CLI_LIMITS: PlanViewLimits = {
  resources: 200_000,
  changesPerResource: 50,
  changes: 50_000,
  outputs: 10_000,
  drift: 10_000,
  noOps: true,
};

/** Entries read from any one list; beyond this a list is not a plan anyone reviews. */
const MAX_ENTRIES = 200_000;
/** How deep attribute paths are followed; deeper values are shown whole (masked if in doubt). */
const MAX_DEPTH = 24;
const MAX_ADDRESS = 500;
const MAX_PATH = 300;
const MAX_LITERAL = 240;
const MAX_PROBLEMS = 20;
/** Sensitive values shorter than this are masked when equal, not searched for inside other strings. */
const MIN_SECRET_SUBSTRING = 4;
const MAX_SECRETS = 10_000;

const ACTION_ORDER: ResourceAction[] = ['delete', 'replace', 'update', 'create', 'read', 'forget', 'unknown', 'no-op'];

type Json = unknown;

function isRecord(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Text from the plan, safe to show anywhere: no control characters, bounded. */
function clean(text: string, max: number): string {
  const stripped = stripTerminalEscapes(text).replace(/[\n\t]/g, ' ');
  return stripped.length > max ? `${stripped.slice(0, max)}…` : stripped;
}

function actionOf(actions: Json): ResourceAction {
  if (!Array.isArray(actions) || !actions.every((a) => typeof a === 'string')) return 'unknown';
  switch (actions.join(',')) {
    case 'create':
      return 'create';
    case 'update':
      return 'update';
    case 'delete':
      return 'delete';
    case 'delete,create':
    case 'create,delete':
      return 'replace';
    case 'read':
      return 'read';
    case 'no-op':
      return 'no-op';
    case 'forget':
      return 'forget';
    default:
      return 'unknown';
  }
}

// ---------------------------------------------------------------- sensitivity

/**
 * A sensitivity marker as terraform writes it: `true` (all of it), `false` (none), or an object/array
 * mirroring the value. Anything else (a string, a number, absent where terraform always writes one)
 * is a marker this code does not understand, and means "all of it".
 */
type Marker = Json;

function markedAll(marker: Marker): boolean {
  if (marker === true) return true;
  if (marker === false) return false;
  return !isRecord(marker) && !Array.isArray(marker);
}

/** Masked: marked so, or a single value whose marker is a structure (a shape terraform never writes). */
function masked(value: Json, marker: Marker): boolean {
  if (markedAll(marker)) return true;
  return marker !== false && (value === null || typeof value !== 'object');
}

function childMarker(marker: Marker, key: string | number): Marker {
  if (marker === false) return false;
  if (Array.isArray(marker)) return typeof key === 'number' ? (marker[key] ?? false) : true;
  if (isRecord(marker)) return Object.hasOwn(marker, String(key)) ? marker[String(key)] : false;
  return true;
}

/** The unknown marker (after_unknown) has the same shape; odd values there just mean "not unknown". */
function unknownAll(marker: Json): boolean {
  return marker === true;
}

function childUnknown(marker: Json, key: string | number): Json {
  if (Array.isArray(marker)) return typeof key === 'number' ? marker[key] : undefined;
  if (isRecord(marker)) return Object.hasOwn(marker, String(key)) ? marker[String(key)] : undefined;
  return undefined;
}

/** Every value marked sensitive anywhere in the plan: they are masked wherever else they appear. */
class Secrets {
  private readonly exact = new Set<string>();
  private readonly long: string[] = [];

  collect(value: Json, marker: Marker, depth = 0): void {
    if (this.exact.size >= MAX_SECRETS || depth > MAX_DEPTH) return;
    if (markedAll(marker)) {
      this.addLeaves(value, depth);
      return;
    }
    if (Array.isArray(value))
      value.slice(0, 1000).forEach((item, i) => {
        this.collect(item, childMarker(marker, i), depth + 1);
      });
    else if (isRecord(value))
      for (const key of Object.keys(value).slice(0, 1000))
        this.collect(value[key], childMarker(marker, key), depth + 1);
  }

  private addLeaves(value: Json, depth: number): void {
    if (this.exact.size >= MAX_SECRETS || depth > MAX_DEPTH) return;
    if (typeof value === 'string' || typeof value === 'number') {
      const text = String(value);
      if (text.length === 0 || this.exact.has(text)) return;
      this.exact.add(text);
      if (text.length >= MIN_SECRET_SUBSTRING) this.long.push(text);
    } else if (Array.isArray(value)) for (const item of value.slice(0, 1000)) this.addLeaves(item, depth + 1);
    else if (isRecord(value))
      for (const key of Object.keys(value).slice(0, 1000)) this.addLeaves(value[key], depth + 1);
  }

  /** A leaf that is, or contains, a value marked sensitive elsewhere. */
  reveals(value: string | number): boolean {
    const text = String(value);
    if (this.exact.has(text)) return true;
    return typeof value === 'string' && this.long.some((secret) => text.includes(secret));
  }

  /** A map key or a path segment that is itself a secret (for_each over a sensitive set) is masked too. */
  maskKey(key: string): string {
    return this.reveals(key) ? SENSITIVE : key;
  }
}

// ---------------------------------------------------------------- values

interface Side {
  value: Json;
  sensitive: Marker;
  unknown: Json;
}

/** A value as a short literal, sensitive parts masked, unknown parts named, bounded. */
function literal(side: Side, secrets: Secrets, depth = 0): string {
  if (unknownAll(side.unknown)) return KNOWN_AFTER_APPLY;
  if (masked(side.value, side.sensitive)) return SENSITIVE;
  const { value } = side;
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return secrets.reveals(value) ? SENSITIVE : clean(JSON.stringify(value), MAX_LITERAL);
  if (typeof value === 'number') return secrets.reveals(value) ? SENSITIVE : String(value);
  if (typeof value === 'boolean') return String(value);
  if (depth >= 6) return Array.isArray(value) ? '[…]' : '{…}';
  const parts: string[] = [];
  let length = 0;
  const push = (part: string): boolean => {
    length += part.length + 2;
    if (length > MAX_LITERAL) {
      parts.push('…');
      return false;
    }
    parts.push(part);
    return true;
  };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item = literal(
        { value: value[i], sensitive: childMarker(side.sensitive, i), unknown: childUnknown(side.unknown, i) },
        secrets,
        depth + 1,
      );
      if (!push(item)) break;
    }
    return `[${parts.join(', ')}]`;
  }
  if (isRecord(value)) {
    for (const key of Object.keys(value).sort()) {
      const item = literal(
        { value: value[key], sensitive: childMarker(side.sensitive, key), unknown: childUnknown(side.unknown, key) },
        secrets,
        depth + 1,
      );
      if (!push(`${clean(secrets.maskKey(key), 60)} = ${item}`)) break;
    }
    return `{ ${parts.join(', ')} }`;
  }
  return '(unreadable value)';
}

function segment(path: string, key: string | number, secrets: Secrets): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  const shown = secrets.maskKey(key);
  if (shown === key && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return path ? `${path}.${key}` : key;
  return `${path}[${clean(JSON.stringify(shown), 80)}]`;
}

function sameJson(a: Json, b: Json, depth = 0): boolean {
  if (a === b) return true;
  if (depth > MAX_DEPTH || typeof a !== typeof b || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => sameJson(item, b[i], depth + 1));
  }
  if (isRecord(a) && isRecord(b)) {
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    return keys.every((key) => Object.hasOwn(b, key) && sameJson(a[key], b[key], depth + 1));
  }
  return false;
}

class ChangeCollector {
  readonly changes: AttributeChange[] = [];
  omitted = 0;

  constructor(
    private readonly secrets: Secrets,
    private readonly perResource: number,
    private readonly budget: { left: number },
  ) {}

  private add(path: string, before: Side, after: Side): void {
    if (this.changes.length >= this.perResource || this.budget.left <= 0) {
      this.omitted += 1;
      return;
    }
    this.budget.left -= 1;
    this.changes.push({
      path: clean(path || '(whole object)', MAX_PATH),
      before: literal(before, this.secrets),
      after: literal(after, this.secrets),
    });
  }

  /** Walks both sides together and records each leaf (or whole subtree) that differs. */
  diff(path: string, before: Side, after: Side, depth: number): void {
    const afterUnknown = unknownAll(after.unknown);
    const beforeMasked = masked(before.value, before.sensitive);
    const afterMasked = masked(after.value, after.sensitive);
    if (afterUnknown) {
      // "(known after apply)" replaces what was there, whatever it was.
      this.add(path, before, after);
      return;
    }
    if (beforeMasked || afterMasked) {
      // Masked on either side: whether it changed is all that may be said, and only when it did.
      if (!sameJson(before.value, after.value) || beforeMasked !== afterMasked) this.add(path, before, after);
      return;
    }
    const b = before.value;
    const a = after.value;
    const bothRecords = isRecord(b) && isRecord(a);
    const bothLists = Array.isArray(b) && Array.isArray(a) && b.length === a.length;
    if (depth < MAX_DEPTH && (bothRecords || bothLists)) {
      const keys: Array<string | number> = bothLists
        ? (b as Json[]).map((_, i) => i)
        : [...new Set([...Object.keys(b as object), ...Object.keys(a as object)])].sort();
      for (const key of keys) {
        this.diff(
          segment(path, key, this.secrets),
          {
            value: (b as Record<string, Json>)[key as string],
            sensitive: childMarker(before.sensitive, key),
            unknown: undefined,
          },
          {
            value: (a as Record<string, Json>)[key as string],
            sensitive: childMarker(after.sensitive, key),
            unknown: childUnknown(after.unknown, key),
          },
          depth + 1,
        );
        if (this.budget.left <= 0 && this.changes.length > 0) {
          this.omitted += 1;
          return;
        }
      }
      return;
    }
    if (!sameJson(b, a) || hasUnknown(after.unknown)) this.add(path, before, after);
  }
}

function hasUnknown(marker: Json, depth = 0): boolean {
  if (marker === true) return true;
  if (depth > MAX_DEPTH) return false;
  if (Array.isArray(marker)) return marker.some((item) => hasUnknown(item, depth + 1));
  if (isRecord(marker)) return Object.values(marker).some((item) => hasUnknown(item, depth + 1));
  return false;
}

// ---------------------------------------------------------------- the plan

function emptyCounts(): PlanSummaryCounts {
  return { create: 0, update: 0, delete: 0, replace: 0, read: 0, noop: 0, forget: 0, moved: 0, unknown: 0 };
}

function countKey(action: ResourceAction): keyof PlanSummaryCounts {
  return action === 'no-op' ? 'noop' : action;
}

function listOf(plan: Record<string, Json>, key: string, problems: string[]): Json[] {
  const value = plan[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    problems.push(`${key} is not a list; it was left out`);
    return [];
  }
  if (value.length > MAX_ENTRIES)
    problems.push(`${key} holds ${value.length} entries; only the first ${MAX_ENTRIES} were read`);
  return value.length > MAX_ENTRIES ? value.slice(0, MAX_ENTRIES) : value;
}

interface RawChange {
  entry: Record<string, Json>;
  change: Record<string, Json>;
  address: string;
  action: ResourceAction;
}

function readEntry(entry: Json, index: number, list: string, problems: string[]): RawChange | undefined {
  if (!isRecord(entry) || !isRecord(entry.change)) {
    problems.push(`${list}[${index}] is not a resource change; it was left out`);
    return undefined;
  }
  const rawAddress = typeof entry.address === 'string' && entry.address.length > 0 ? entry.address : undefined;
  if (!rawAddress) problems.push(`${list}[${index}] has no address`);
  return {
    entry,
    change: entry.change,
    address: clean(rawAddress ?? `(${list}[${index}] without an address)`, MAX_ADDRESS),
    action: actionOf(entry.change.actions),
  };
}

/**
 * The sides of a change with their markers. A side whose sensitivity marker is missing gets "all of it"
 * (terraform always writes one; without it nothing can be told apart).
 */
function sidesOf(change: Record<string, Json>): { before: Side; after: Side } {
  const marker = (key: string): Marker => (Object.hasOwn(change, key) ? change[key] : true);
  return {
    before: { value: change.before, sensitive: marker('before_sensitive'), unknown: undefined },
    after: { value: change.after, sensitive: marker('after_sensitive'), unknown: change.after_unknown },
  };
}

function replacePaths(change: Record<string, Json>, secrets: Secrets): string[] | undefined {
  const paths = change.replace_paths;
  if (!Array.isArray(paths) || paths.length === 0) return undefined;
  const shown = paths.slice(0, 10).map((steps) => {
    if (!Array.isArray(steps)) return '(unreadable path)';
    let text = '';
    for (const step of steps.slice(0, MAX_DEPTH)) {
      if (typeof step === 'number' || typeof step === 'string') text = segment(text, step, secrets);
    }
    return clean(text || '(whole object)', MAX_PATH);
  });
  if (paths.length > 10) shown.push(`and ${paths.length - 10} more`);
  return shown;
}

function resourceView(
  raw: RawChange,
  secrets: Secrets,
  limits: PlanViewLimits,
  budget: { left: number },
): ResourceView {
  const { entry, change, action } = raw;
  const view: ResourceView = { address: raw.address, action, changes: [], omittedChanges: 0 };
  if (typeof entry.previous_address === 'string' && entry.previous_address !== entry.address)
    view.previousAddress = clean(entry.previous_address, MAX_ADDRESS);
  if (typeof entry.deposed === 'string') view.deposed = clean(entry.deposed, 40);
  if (typeof entry.action_reason === 'string') view.reason = clean(entry.action_reason, 80);
  const because = replacePaths(change, secrets);
  if (because) view.replacedBecause = because;
  if (action === 'update' || action === 'replace') {
    const collector = new ChangeCollector(secrets, limits.changesPerResource, budget);
    const { before, after } = sidesOf(change);
    collector.diff('', before, after, 0);
    view.changes = collector.changes;
    view.omittedChanges = collector.omitted;
  }
  return view;
}

/** Output changes: an output's flags are booleans; anything else masks it. */
function outputViews(plan: Record<string, Json>, secrets: Secrets, limits: PlanViewLimits, problems: string[]) {
  const raw = plan.output_changes;
  const outputs: OutputView[] = [];
  let omitted = 0;
  if (raw === undefined || raw === null) return { outputs, omitted };
  if (!isRecord(raw)) {
    problems.push('output_changes is not an object; it was left out');
    return { outputs, omitted };
  }
  for (const name of Object.keys(raw).sort()) {
    const change = raw[name];
    if (!isRecord(change)) continue;
    const action = actionOf(change.actions);
    if (action === 'no-op') continue;
    if (outputs.length >= limits.outputs) {
      omitted += 1;
      continue;
    }
    const { before, after } = sidesOf(change);
    outputs.push({
      name: clean(secrets.maskKey(name), 120),
      action,
      before: action === 'create' ? 'null' : literal(before, secrets),
      after: action === 'delete' ? 'null' : literal(after, secrets),
    });
  }
  return { outputs, omitted };
}

function collectSecrets(plan: Record<string, Json>, lists: Json[][], secrets: Secrets): void {
  for (const list of lists) {
    for (const entry of list) {
      if (!isRecord(entry) || !isRecord(entry.change)) continue;
      const { before, after } = sidesOf(entry.change);
      secrets.collect(before.value, before.sensitive);
      secrets.collect(after.value, after.sensitive);
    }
  }
  if (isRecord(plan.output_changes)) {
    for (const change of Object.values(plan.output_changes)) {
      if (!isRecord(change)) continue;
      const { before, after } = sidesOf(change);
      secrets.collect(before.value, before.sensitive);
      secrets.collect(after.value, after.sensitive);
    }
  }
  // Root variables declared sensitive: the plan JSON carries their values in clear under `variables`.
  const declared =
    isRecord(plan.configuration) && isRecord(plan.configuration.root_module)
      ? plan.configuration.root_module.variables
      : undefined;
  if (isRecord(declared) && isRecord(plan.variables)) {
    for (const [name, declaration] of Object.entries(declared)) {
      const given = plan.variables[name];
      if (isRecord(declaration) && declaration.sensitive === true && isRecord(given))
        secrets.collect(given.value, true);
    }
  }
}

/** The view of a parsed plan JSON. Never throws; whatever cannot be read is said in `problems`. */
export function buildPlanView(plan: Json, limits: PlanViewLimits = PAGE_LIMITS): PlanView {
  const problems: string[] = [];
  const view: PlanView = {
    errored: false,
    incomplete: false,
    refreshOnly: false,
    summary: emptyCounts(),
    resources: [],
    omittedResources: 0,
    omittedDestructive: 0,
    outputs: [],
    omittedOutputs: 0,
    drift: [],
    omittedDrift: 0,
    problems,
  };
  try {
    if (!isRecord(plan)) {
      problems.push('the plan JSON is not an object');
      return view;
    }
    if (typeof plan.format_version === 'string') view.formatVersion = clean(plan.format_version, 20);
    if (typeof plan.terraform_version === 'string') view.terraformVersion = clean(plan.terraform_version, 40);
    if (view.formatVersion === undefined || !/^1\.\d+$/.test(view.formatVersion))
      problems.push(
        `format_version ${view.formatVersion ?? '(none)'} is not one tfgate knows (1.x); shown as far as it reads`,
      );
    view.errored = plan.errored === true;
    view.incomplete = plan.complete === false;

    const changes = listOf(plan, 'resource_changes', problems);
    const drift = listOf(plan, 'resource_drift', problems);
    view.refreshOnly = plan.resource_changes === undefined && plan.resource_drift !== undefined;
    const secrets = new Secrets();
    collectSecrets(plan, [changes, drift], secrets);
    const budget = { left: limits.changes };

    const raws: RawChange[] = [];
    changes.forEach((entry, index) => {
      const raw = readEntry(entry, index, 'resource_changes', problems);
      if (!raw) return;
      view.summary[countKey(raw.action)] += 1;
      if (typeof raw.entry.previous_address === 'string' && raw.entry.previous_address !== raw.entry.address)
        view.summary.moved += 1;
      if (raw.action === 'unknown')
        problems.push(
          `${raw.address}: actions ${clean(JSON.stringify(raw.change.actions) ?? '', 80)} are not ones tfgate knows`,
        );
      raws.push(raw);
    });
    // Destroys and replacements first: what a reviewer must not miss. Moved no-ops are shown; other no-ops are not.
    const rank = (action: ResourceAction) => ACTION_ORDER.indexOf(action);
    const shown = raws
      .filter((raw) => raw.action !== 'no-op' || limits.noOps || typeof raw.entry.previous_address === 'string')
      .sort((a, b) => rank(a.action) - rank(b.action));
    for (const raw of shown) {
      if (view.resources.length >= limits.resources) {
        view.omittedResources += 1;
        if (raw.action === 'delete' || raw.action === 'replace') view.omittedDestructive += 1;
        continue;
      }
      view.resources.push(resourceView(raw, secrets, limits, budget));
    }

    drift.forEach((entry, index) => {
      const raw = readEntry(entry, index, 'resource_drift', problems);
      if (!raw) return;
      if (view.drift.length >= limits.drift) view.omittedDrift += 1;
      else view.drift.push(resourceView(raw, secrets, limits, budget));
    });

    const outputs = outputViews(plan, secrets, limits, problems);
    view.outputs = outputs.outputs;
    view.omittedOutputs = outputs.omitted;
  } catch (error) {
    // Nothing above should throw; if it does (a stack overflow on a pathological value), say so and keep what was read.
    problems.push(`the plan could not be read whole: ${clean((error as Error)?.message ?? String(error), 200)}`);
  }
  if (problems.length > MAX_PROBLEMS)
    problems.splice(MAX_PROBLEMS, problems.length, `and ${problems.length - MAX_PROBLEMS} more problems`);
  return view;
}

/** Parses `terraform show -json` text; unreadable JSON is a view that says so, never an exception. */
export function planViewOfText(text: string, limits: PlanViewLimits = PAGE_LIMITS): PlanView {
  let parsed: Json;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not the parser's message: it quotes the text around the fault, which may be a secret.
    const view = buildPlanView(undefined, limits);
    view.problems.splice(0, view.problems.length, 'the plan JSON does not parse');
    return view;
  }
  return buildPlanView(parsed, limits);
}

// ---------------------------------------------------------------- rendering as text and as --json

const SYMBOL: Record<ResourceAction, string> = {
  create: '+',
  update: '~',
  delete: '-',
  replace: '-/+',
  read: '<=',
  'no-op': ' ',
  forget: '.',
  unknown: '?',
};

const VERB: Record<ResourceAction, string> = {
  create: 'created',
  update: 'updated in place',
  delete: 'DESTROYED',
  replace: 'REPLACED (destroyed, then created)',
  read: 'read',
  'no-op': 'unchanged',
  forget: 'forgotten (removed from state, not destroyed)',
  unknown: 'changed in a way tfgate does not know',
};

export function summaryText(summary: PlanSummaryCounts): string {
  const parts = [
    `${summary.create} to create`,
    `${summary.update} to update`,
    `${summary.replace} to replace`,
    `${summary.delete} to destroy`,
  ];
  if (summary.read > 0) parts.push(`${summary.read} to read`);
  if (summary.forget > 0) parts.push(`${summary.forget} to forget`);
  if (summary.moved > 0) parts.push(`${summary.moved} moved`);
  if (summary.unknown > 0) parts.push(`${summary.unknown} unknown`);
  return parts.join(', ');
}

function resourceLines(resource: ResourceView, indent: string): string[] {
  const moved = resource.previousAddress ? ` (moved from ${resource.previousAddress})` : '';
  const deposed = resource.deposed ? ` (deposed object ${resource.deposed})` : '';
  const lines = [
    resource.action === 'no-op'
      ? `${indent}${resource.address}: ` +
        (resource.previousAddress ? `moved from ${resource.previousAddress}` : 'no change')
      : `${indent}${SYMBOL[resource.action]} ${resource.address}${deposed}${moved}: ${VERB[resource.action]}`,
  ];
  if (resource.replacedBecause) lines.push(`${indent}    because of: ${resource.replacedBecause.join(', ')}`);
  for (const change of resource.changes) lines.push(`${indent}    ${change.path}: ${change.before} -> ${change.after}`);
  if (resource.omittedChanges > 0) lines.push(`${indent}    … and ${resource.omittedChanges} more attribute changes`);
  return lines;
}

/** The view as `tfgate plan show` prints it. */
export function renderPlanViewText(view: PlanView): string {
  const lines: string[] = [];
  if (view.errored)
    lines.push('ERRORED: terraform stopped planning with an error; this plan is incomplete and cannot be applied.');
  if (view.incomplete) lines.push('INCOMPLETE: some changes were deferred to a later plan.');
  if (view.refreshOnly) lines.push('Refresh-only plan: it only updates the state to match the real objects.');
  lines.push(`Plan: ${summaryText(view.summary)}.`);
  const groups: Array<[string, ResourceView[]]> = [
    ['Destroyed', view.resources.filter((r) => r.action === 'delete')],
    ['Replaced', view.resources.filter((r) => r.action === 'replace')],
    ['Updated in place', view.resources.filter((r) => r.action === 'update')],
    ['Created', view.resources.filter((r) => r.action === 'create')],
    ['Read', view.resources.filter((r) => r.action === 'read')],
    ['Forgotten', view.resources.filter((r) => r.action === 'forget')],
    ['Unknown actions', view.resources.filter((r) => r.action === 'unknown')],
    ['Moved', view.resources.filter((r) => r.action === 'no-op' && r.previousAddress)],
  ];
  for (const [title, resources] of groups) {
    if (resources.length === 0) continue;
    lines.push('', `${title} (${resources.length}):`);
    for (const resource of resources) lines.push(...resourceLines(resource, '  '));
  }
  if (view.omittedResources > 0)
    lines.push(
      '',
      `… ${view.omittedResources} more resource changes not listed` +
        (view.omittedDestructive > 0 ? `, ${view.omittedDestructive} of them destroying or replacing` : ''),
    );
  if (view.outputs.length > 0) {
    lines.push('', `Outputs (${view.outputs.length}):`);
    for (const output of view.outputs)
      lines.push(`  ${SYMBOL[output.action]} ${output.name}: ${output.before} -> ${output.after}`);
    if (view.omittedOutputs > 0) lines.push(`  … and ${view.omittedOutputs} more`);
  }
  if (view.drift.length > 0) {
    lines.push('', `Changed outside Terraform since the last apply (${view.drift.length}):`);
    for (const drift of view.drift) lines.push(...resourceLines(drift, '  '));
    if (view.omittedDrift > 0) lines.push(`  … and ${view.omittedDrift} more`);
  }
  if (view.problems.length > 0) lines.push('', 'Could not read all of it:', ...view.problems.map((p) => `  ${p}`));
  return `${lines.join('\n')}\n`;
}

/** `tfgate plan show --json` (../shared/interface.md): counts, and every resource change the view lists. */
export function planViewJson(view: PlanView): {
  summary: { create: number; update: number; delete: number; replace: number };
  resources: Array<{ address: string; action: ResourceAction }>;
} {
  const { create, update, replace } = view.summary;
  return {
    summary: { create, update, delete: view.summary.delete, replace },
    resources: view.resources.map((resource) => ({ address: resource.address, action: resource.action })),
  };
}
