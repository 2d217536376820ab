import { EventEmitter } from 'node:events';
import { renderSummaryLine } from '../domain/plan-summary.js';
import type { ApprovalRequest, Notifier, RunPatch, RunStore, StagePatch } from '../domain/ports.js';
import type { Run } from '../domain/run.js';

/**
 * Live progress for `tfgate local` and `tfgate demo`: the run store is wrapped so every recorded
 * transition is also announced, and the console notifier prints approval links.
 */

export interface RunChange {
  run: Run;
  environment?: string;
  stage?: StagePatch;
  patch?: RunPatch;
}

export class ObservableRunStore implements RunStore {
  readonly events = new EventEmitter<{ change: [RunChange]; approval: [ApprovalRequest] }>();

  constructor(private readonly inner: RunStore) {
    this.events.setMaxListeners(100);
  }

  async create(run: Run): Promise<void> {
    await this.inner.create(run);
    this.events.emit('change', { run });
  }

  get(id: string) {
    return this.inner.get(id);
  }

  list(options?: { limit?: number }) {
    return this.inner.list(options);
  }

  listActive() {
    return this.inner.listActive();
  }

  async updateStage(runId: string, environment: string, patch: StagePatch, at: Date): Promise<Run> {
    const run = await this.inner.updateStage(runId, environment, patch, at);
    this.events.emit('change', { run, environment, stage: patch });
    return run;
  }

  async updateRun(runId: string, patch: RunPatch, at: Date): Promise<Run> {
    const run = await this.inner.updateRun(runId, patch, at);
    this.events.emit('change', { run, patch });
    return run;
  }
}

export type Print = (line: string) => void;

function short(run: Run): string {
  return `${run.repository}@${run.sha.slice(0, 8)} run ${run.id}`;
}

/** One line per transition; plan summaries when a plan is recorded; the reason when a run stops. */
export function printRunChanges(store: ObservableRunStore, print: Print): () => void {
  const onChange = (change: RunChange) => {
    const { run } = change;
    if (change.stage && change.environment) {
      const plan = change.stage.plan ? ` (${renderSummaryLine(change.stage.plan)})` : '';
      const by = change.stage.approval?.by ? ` by ${change.stage.approval.by}` : '';
      print(`[${short(run)}] ${change.environment}: ${change.stage.status}${plan}${by}`);
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
    private readonly events?: ObservableRunStore['events'],
  ) {}

  async approvalRequested(request: ApprovalRequest): Promise<void> {
    const { approval, run, stage } = request;
    const summary = stage.plan ? renderSummaryLine(stage.plan) : 'plan recorded';
    this.print(`[${short(run)}] ${approval.environment} is waiting for approval (${summary}).`);
    for (const link of request.links) {
      this.print(`    approve or reject${link.approver ? ` as ${link.approver}` : ''}: ${link.url}`);
    }
    this.print(`    or: npx tfgate approve ${approval.id}   /   npx tfgate reject ${approval.id} --reason "…"`);
    this.events?.emit('approval', request);
  }

  async runNotice(run: Run, message: string, runUrl: string): Promise<void> {
    this.print(`[${short(run)}] ${message} ${runUrl}`);
  }
}

/** Sends to several notifiers; one failing does not stop the others, and the failure is reported. */
export class FanOutNotifier implements Notifier {
  constructor(private readonly notifiers: Notifier[]) {}

  async approvalRequested(request: ApprovalRequest): Promise<void> {
    await settleAll(this.notifiers.map((n) => n.approvalRequested(request)));
  }

  async runNotice(run: Run, message: string, runUrl: string): Promise<void> {
    await settleAll(this.notifiers.map((n) => n.runNotice(run, message, runUrl)));
  }
}

async function settleAll(promises: Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
  if (failures.length > 0) throw new AggregateError(failures, failures.map((f) => f.message).join('; '));
}
