import { describe, expect, it } from 'vitest';
import { ConsoleNotifier, suggestedApprover } from '../../src/local-mode/progress.js';
import { aPlanSummary, aRun, aStage, anApproval } from '../support/builders.js';

/** Issue 23 point 5: the console's approve hint names an approver the gate would accept, and the data directory. */

describe("the console's approve hint", () => {
  it('never names a person behind the change as --as', () => {
    const approval = anApproval({
      approvers: ['alice@example.com', '@bob', 'carol@example.com'],
      people: { logins: ['bob'], emails: ['alice@example.com'] },
    });
    expect(suggestedApprover(approval)).toBe('carol@example.com');
    expect(suggestedApprover({ ...approval, approvers: ['alice@example.com', '@bob'] })).toBeUndefined();
    expect(suggestedApprover({ ...approval, allowSelfApproval: true })).toBe('alice@example.com');
    expect(suggestedApprover({ ...approval, people: { logins: [], emails: [], unknown: 'no pusher' } })).toBe(
      undefined,
    );
  });

  it('prints --as with an eligible approver and --data, or says why there is none', async () => {
    const lines: string[] = [];
    const notifier = new ConsoleNotifier((line) => lines.push(line), undefined, ' --data /tmp/demo');
    const run = aRun({ stages: [aStage('apps', { status: 'awaiting_approval', plan: aPlanSummary({ add: 1 }) })] });
    const approval = anApproval({
      approvers: ['alice@example.com', 'bob@example.com'],
      people: { logins: [], emails: ['alice@example.com'] },
    });
    await notifier.approvalRequested({ approval, run, stage: run.stages[0]!, url: 'http://x/approvals/a' });
    expect(lines.join('\n')).toContain(`npx tfgate approve ${approval.id} --as bob@example.com --data /tmp/demo`);
    expect(lines.join('\n')).not.toContain('--as alice@example.com');

    lines.length = 0;
    const own = { ...approval, approvers: ['alice@example.com'] };
    await notifier.approvalRequested({ approval: own, run, stage: run.stages[0]!, url: 'http://x/approvals/a' });
    expect(lines.join('\n')).not.toContain(`approve ${own.id}`);
    expect(lines.join('\n')).toContain('add another approver to tfgate.yaml');
  });
});
