import type { ApprovalRequest, Notifier } from '../../domain/ports.js';
import type { Run } from '../../domain/run.js';

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
  const failures = results
    .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    .map((r) => r.reason as Error);
  if (failures.length > 0) throw new AggregateError(failures, failures.map((f) => f.message).join('; '));
}
