import { EventEmitter } from 'node:events';
import { renderSummaryLine } from '../domain/plan-summary.js';
import { WriteObservingRunStore, type RunChange } from '../domain/observed-run-store.js';
import type { ApprovalRequest, Notifier, RunStore } from '../domain/ports.js';
import type { Run } from '../domain/run.js';

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
      print(`[${short(run)}] ${run.trigger} run created for ${run.ref} (${run.stages.map((s) => s.environment).join(' → ')})`);
    }
  };
  store.events.on('change', onChange);
  return () => store.events.off('change', onChange);
}

/** Local notifications: the approval link on the console (the pages are on this machine). */
export class ConsoleNotifier implements Notifier {
  constructor(
    private readonly print: Print,
    private readonly events?: ProgressEventRunStore['events'],
  ) {}

  async approvalRequested(request: ApprovalRequest): Promise<void> {
    const { approval, run, stage } = request;
    const summary = stage.plan ? renderSummaryLine(stage.plan) : 'plan recorded';
    this.print(`[${short(run)}] ${approval.environment} is waiting for approval (${summary}).`);
    this.print(`    approve or reject (sign in first): ${request.url}`);
    const example = approval.approvers.find((entry) => !entry.includes('/')) ?? 'WHO';
    this.print(`    or: npx tfgate approve ${approval.id} --as ${example} [--reason "…"]   /   npx tfgate reject ${approval.id} --as ${example} --reason "…"`);
    this.events?.emit('approval', request);
  }

  async runNotice(run: Run, message: string, runUrl: string): Promise<void> {
    this.print(`[${short(run)}] ${message} ${runUrl}`);
  }
}
