import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  configYaml,
  decideThroughPage,
  expectNoLocksHeld,
  nextApproval,
  pushChange,
  runForSha,
  startTestStack,
  statePath,
  terraformFiles,
  waitForRun,
  type TestStack,
} from '../support/local-stack.js';

/** The other ends of a push run through the real definition (the everyday ones are in flow.test.ts). */

let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.cleanup();
  stack = undefined;
});

describe('a push through the pipeline', () => {
  it('a rejection leaves apps untouched and frees the lock', async () => {
    stack = await startTestStack();
    const approval = nextApproval(stack);
    await pushChange(stack, terraformFiles({ network: 'net' }));
    const request = await approval;
    const decision = await decideThroughPage(request.url, 'reject', 'not today');
    expect(decision.status).toBe(200);
    const run = await waitForRun(stack, request.run.id);
    expect(run.status).toBe('rejected');
    expect(run.stages.map((s) => s.status)).toEqual(['applied', 'rejected']);
    expect(run.error).toContain('not today');
    await expect(readFile(statePath(stack, 'apps'), 'utf8')).rejects.toThrow();
    await expectNoLocksHeld(stack);
  });

  it('an approval nobody decides expires at its timeout and frees the lock', async () => {
    stack = await startTestStack({ config: configYaml({ approval: '2s' }) });
    const approval = nextApproval(stack);
    await pushChange(stack, terraformFiles({ network: 'net' }));
    const request = await approval;
    const run = await waitForRun(stack, request.run.id);
    expect(run.status).toBe('expired');
    expect(run.stages[1]).toMatchObject({ status: 'expired', approval: { status: 'expired' } });
    const late = await decideThroughPage(request.url, 'approve').catch(() => ({ status: 0, body: '' }));
    // The page no longer offers a form once expired, so a late click cannot approve.
    expect(late.status === 409 || late.status === 0).toBe(true);
    expect((await stack.stores.approvals.get(request.approval.id))?.status).toBe('expired');
    await expectNoLocksHeld(stack);
  });

  it('asks no approval when an environment has no changes', async () => {
    stack = await startTestStack({ config: configYaml({ approval: '1h' }) });
    const files = terraformFiles({ network: 'net' });
    const first = nextApproval(stack);
    await pushChange(stack, files);
    const request = await first;
    await decideThroughPage(request.url, 'approve');
    await waitForRun(stack, request.run.id);

    let approvalsAsked = 0;
    stack.runs.events.on('approval', () => (approvalsAsked += 1));
    const sha = await pushChange(stack, { ...files, 'README.md': 'docs only\n' }, { message: 'docs' });
    const run = await waitForRun(stack, (await runForSha(stack, sha)).id);
    expect(run.status).toBe('succeeded');
    expect(run.stages.map((s) => s.status)).toEqual(['no_changes', 'no_changes']);
    expect(run.stages.every((s) => s.plan?.hasChanges === false && s.approval === undefined)).toBe(true);
    expect(approvalsAsked).toBe(0);
    await expectNoLocksHeld(stack);
  });
});
