import { EventEmitter } from 'node:events';
import { renderSummaryLine } from '../domain/plan-summary.js';
import { WriteObservingRunStore, type RunChange } from '../domain/observed-run-store.js';
import type { ApprovalRecord, ApprovalRequest, Notifier, RunStore } from '../domain/ports.js';
import { isTerminalRun, type Run } from '../domain/run.js';

/**
 * Live progress for `tfgate local` and `tfgate demo`: the run store is wrapped so every recorded
 * transition is also announced, and the console notifier prints approval links.
 */

export type { RunChange };

export class ProgressEventRunStore extends WriteObservingRunStore {
  readonly events = new EventEmitter<{ change: [RunChange]; approval: [ApprovalRequest] }>();

  constructor(inner: RunStore) {
    super(inner);
    this.events.setMaxListeners(100);
  }

  protected changed(change: RunChange): void {
    this.events.emit('change', change);
  }
}

export type Print = (line: string) => void;

function short(run: Run): string {
  return `${run.repository}@${run.sha.slice(0, 8)} run ${run.id}`;
}

/** One line per transition; plan summaries when a plan is recorded; the reason when a run stops. */
export function printRunChanges(store: ProgressEventRunStore, print: Print): () => void {
  // A stage is often recorded twice in a row with the same status (ending a run, then closing its
  // approval): the second line would say nothing new, so it is not printed.
  const lastLine = new Map<string, string>();
  const onChange = (change: RunChange) => {
    const { run } = change;
    if (change.stage && change.environment) {
      const plan = change.stage.plan ? ` (${renderSummaryLine(change.stage.plan)})` : '';
      const by = change.stage.approval?.by ? ` by ${change.stage.approval.by}` : '';
      const line = `[${short(run)}] ${change.environment}: ${change.stage.status}${plan}${by}`;
      const key = `${run.id}\n${change.environment}`;
      if (lastLine.get(key) === line) return;
      lastLine.set(key, line);
      if (lastLine.size > 10_000) lastLine.delete(lastLine.keys().next().value!);
      print(line);
      return;
    }
    if (change.patch?.status) {
      print(`[${short(run)}] run ${change.patch.status}${change.patch.error ? `: ${change.patch.error}` : ''}`);
    } else if (change.patch?.note) {
      print(`[${short(run)}] note: ${change.patch.note}`);
    } else if (!change.patch) {
      print(
        `[${short(run)}] ${run.trigger} run created for ${run.ref} ` +
          `(${run.stages.map((s) => s.environment).join(' → ')})`,
      );
    }
  };
  store.events.on('change', onChange);
  return () => store.events.off('change', onChange);
}

/** `42s`, `1m05s`, `2h03m`: how long a plan or apply has been running. */
export function formatElapsed(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** Where the progress line goes: a status line redrawn in place on a terminal, printed lines elsewhere. */
export interface ProgressOutput {
  isTTY: boolean;
  /** Terminal only: replaces the status line ('' clears it). */
  status(text: string): void;
  /** A line of its own (non-terminal output). */
  print(line: string): void;
}

export interface BuildProgressOptions {
  /** Milliseconds since the epoch (tests inject a clock). */
  now?: () => number;
  /** Calls `tick` every `ms` until the returned function is called. */
  every?: (tick: () => void, ms: number) => () => void;
}

const RUNNING_MODE: Partial<Record<string, 'plan' | 'apply'>> = { planning: 'plan', applying: 'apply' };

function everyInterval(tick: () => void, ms: number): () => void {
  const timer = setInterval(tick, ms);
  // Never what keeps tfgate local or the demo alive.
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * The progress line of running plans and applies with their elapsed time (`apps plan running 1m05s`).
 * On a terminal it is redrawn every second below the printed lines; elsewhere (CI logs, pipes) a line
 * is printed only when its text changes, with the time in whole minutes, so a long plan adds one line
 * a minute, not one a second.
 */
export function showBuildProgress(
  store: ProgressEventRunStore,
  out: ProgressOutput,
  options: BuildProgressOptions = {},
): () => void {
  const now = options.now ?? Date.now;
  const running = new Map<string, { runId: string; environment: string; mode: 'plan' | 'apply'; since: number }>();
  let lastPrinted = '';

  function render(coarse: boolean): string {
    const runs = new Set([...running.values()].map((build) => build.runId));
    return [...running.values()]
      .map((build) => {
        const elapsed = now() - build.since;
        const minutes = Math.floor(elapsed / 60_000);
        const time = coarse ? (minutes === 0 ? '' : ` ${minutes}m`) : ` ${formatElapsed(elapsed)}`;
        return `${runs.size > 1 ? `run ${build.runId} ` : ''}${build.environment} ${build.mode} running${time}`;
      })
      .join(' · ');
  }

  function show(): void {
    if (out.isTTY) {
      out.status(render(false));
      return;
    }
    const text = render(true);
    if (text === lastPrinted) return;
    lastPrinted = text;
    if (text) out.print(text);
  }

  const onChange = (change: RunChange) => {
    if (change.stage?.status && change.environment) {
      const key = `${change.run.id}\n${change.environment}`;
      const mode = RUNNING_MODE[change.stage.status];
      if (!mode) running.delete(key);
      else if (running.get(key)?.mode !== mode) {
        running.set(key, { runId: change.run.id, environment: change.environment, mode, since: now() });
      }
    } else if (change.patch?.status && isTerminalRun(change.patch.status)) {
      // A run that ended (failed, interrupted…) has no build left running, whatever its stages say.
      for (const [key, build] of running) if (build.runId === change.run.id) running.delete(key);
    } else {
      return;
    }
    show();
  };
  store.events.on('change', onChange);
  const stopTicking = (options.every ?? everyInterval)(show, 1000);
  return () => {
    stopTicking();
    store.events.off('change', onChange);
    if (out.isTTY) out.status('');
  };
}

/**
 * The terminal's one writer: printed lines go above the status line, which is redrawn after each, so
 * the two never overwrite each other. Without a terminal there is no status line.
 */
export class ProgressTerminal {
  private statusText = '';

  constructor(private readonly stream: { isTTY?: boolean; write(text: string): unknown }) {}

  get isTTY(): boolean {
    return this.stream.isTTY === true;
  }

  line(text: string): void {
    this.stream.write(this.statusText ? `\r\u001b[2K${text}\n${this.statusText}` : `${text}\n`);
  }

  status(text: string): void {
    if (!this.isTTY || text === this.statusText) return;
    this.statusText = text;
    this.stream.write(`\r\u001b[2K${text}`);
  }
}

/**
 * The listed approver a hint may name with `--as`: a person (not a team) who is not behind the change,
 * since the gate refuses those unless self-approval is on. Undefined when nobody listed may decide.
 */
export function suggestedApprover(approval: ApprovalRecord): string | undefined {
  // Records from before people were kept say nothing: nobody can be shown to be outside the change.
  const people = approval.people ?? { logins: [], emails: [], unknown: 'not recorded' };
  const behind = (entry: string) => {
    const lower = entry.toLowerCase();
    return lower.startsWith('@')
      ? people.logins.some((login) => `@${login.toLowerCase()}` === lower)
      : people.emails.some((email) => email.toLowerCase() === lower);
  };
  const persons = approval.approvers.filter((entry) => !entry.includes('/'));
  if (approval.allowSelfApproval) return persons[0];
  // A change whose people are unknown can be approved by nobody (fail closed): no name would work.
  if (people.unknown) return undefined;
  return persons.find((entry) => !behind(entry));
}

/** Local notifications: the approval link on the console (the pages are on this machine). */
export class ConsoleNotifier implements Notifier {
  /** `dataFlag`: ` --data DIR` when the CLI would not find this data directory by itself. */
  constructor(
    private readonly print: Print,
    private readonly events?: ProgressEventRunStore['events'],
    private readonly dataFlag = '',
  ) {}

  async approvalRequested(request: ApprovalRequest): Promise<void> {
    const { approval, run, stage } = request;
    const summary = stage.plan ? renderSummaryLine(stage.plan) : 'plan recorded';
    this.print(`[${short(run)}] ${approval.environment} is waiting for approval (${summary}).`);
    this.print(`    approve or reject (sign in first): ${request.url}`);
    const approver = suggestedApprover(approval);
    if (approver) {
      const as = `--as ${approver}${this.dataFlag}`;
      this.print(
        `    or: npx tfgate approve ${approval.id} ${as} [--reason "…"]   /   npx tfgate reject ` +
          `${approval.id} ${as} --reason "…"`,
      );
    } else {
      this.print(
        `    (no listed approver of ${approval.environment} outside this change can be named with --as` +
          `${approval.people?.unknown ? `, and who is behind it is unknown (${approval.people.unknown})` : ''}: ` +
          'a team member signs in on the page, or add another approver to tfgate.yaml)',
      );
    }
    this.events?.emit('approval', request);
  }

  async runNotice(run: Run, message: string, runUrl: string): Promise<void> {
    this.print(`[${short(run)}] ${message} ${runUrl}`);
  }
}
