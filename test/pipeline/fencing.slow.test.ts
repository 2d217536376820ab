import { access } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { stageArtifactKey, STAGE_ARTIFACTS } from '../../src/domain/plan-summary.js';
import { lockKeyFor } from '../../src/adapters/dynamo/table-layout.js';
import { runCli } from '../support/cli-process.js';
import {
  decideThroughPage,
  nextApproval,
  operatorHeaders,
  pushChange,
  REPOSITORY,
  runForSha,
  startTestStack,
  terraformFiles,
  waitForRun,
  waitForStage,
  type TestStack,
} from '../support/local-stack.js';

/**
 * Issue 12 point 4 and issue 23 point 1: an operator who frees a live run's lock stops that run:
 * `tfgate unlock` refuses without --force; with it the run ends `interrupted` at once (who, why and the
 * fencing number on the record), its approval link refuses a decision, and no apply build runs.
 */

let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.cleanup();
  stack = undefined;
});

describe('a freed lock fences its old holder', () => {
  it('refuses to unlock a live holder without --force; with it the holder never applies', async () => {
    stack = await startTestStack();
    const approvalSeen = nextApproval(stack);
    const sha = await pushChange(stack, terraformFiles({ cluster: 'v1' }));
    const run = await runForSha(stack, sha);
    const approval = await approvalSeen;
    await waitForStage(stack, run.id, 'apps', 'awaiting_approval');
    const granted = await stack.stores.locks.get(lockKeyFor(REPOSITORY, 'apps'));
    expect(granted?.runId).toBe(run.id);
    expect(granted?.fence).toBeGreaterThan(0);

    const refused = await runCli([
      'unlock',
      REPOSITORY,
      'apps',
      '--url',
      stack.url,
      '--data',
      stack.dataDir,
      '--reason',
      'testing',
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`held by run ${run.id}`);
    expect(refused.stderr).toContain('--force');
    expect((await stack.stores.locks.get(lockKeyFor(REPOSITORY, 'apps')))?.runId).toBe(run.id);

    const forced = await runCli([
      'unlock',
      REPOSITORY,
      'apps',
      '--url',
      stack.url,
      '--data',
      stack.dataDir,
      '--reason',
      'stuck, says alice',
      '--force',
    ]);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain(`freed the apps lock of ${REPOSITORY} (held by run ${run.id})`);
    expect(forced.stdout).toContain(`run ${run.id} was still awaiting_approval: it is now interrupted`);

    // Ended at once, with who and why, and the old approval no longer decides anything.
    const ended = await waitForRun(stack, run.id);
    expect(ended.status).toBe('interrupted');
    expect(ended.error).toContain('stuck, says alice');
    expect(ended.error).toContain(`fencing number ${granted!.fence}`);
    expect(ended.stop).toMatchObject({ environment: 'apps', reason: 'stuck, says alice', fence: granted!.fence });
    expect(ended.stages.find((s) => s.environment === 'apps')).toMatchObject({
      status: 'interrupted',
      approval: { id: approval.approval.id, status: 'expired' },
    });
    const page = await fetch(approval.url, { headers: operatorHeaders(stack) });
    const html = await page.text();
    expect(html).not.toContain('name="form_token"');
    expect(html).toContain('stuck, says alice');
    const decided = await runCli(['approve', approval.approval.id, '--url', stack.url, '--data', stack.dataDir]);
    expect(decided.code).not.toBe(0);
    expect(decided.stderr).toContain('approve refused (409)');
    expect(decided.stderr).toContain('stuck, says alice');
    expect((await waitForRun(stack, run.id)).status).toBe('interrupted');
    // No apply build ran for apps.
    await expect(
      access(`${stack.dataDir}/artifacts/${stageArtifactKey(run.id, 'apps', STAGE_ARTIFACTS.applyResult, 'apply')}`),
    ).rejects.toThrow();
    expect(await stack.stores.locks.get(lockKeyFor(REPOSITORY, 'apps'))).toBeUndefined();

    // The next push gets a new, larger fencing number and goes through.
    const nextApprovalSeen = nextApproval(stack);
    const nextSha = await pushChange(stack, terraformFiles({ cluster: 'v2' }));
    const next = await runForSha(stack, nextSha);
    const nextApprovalRequest = await nextApprovalSeen;
    const regranted = await stack.stores.locks.get(lockKeyFor(REPOSITORY, 'apps'));
    expect(regranted?.fence).toBeGreaterThan(granted!.fence);
    expect((await decideThroughPage(nextApprovalRequest.url, 'approve')).status).toBe(200);
    expect((await waitForRun(stack, next.id)).status).toBe('succeeded');
  }, 300_000);
});
