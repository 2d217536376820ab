import { access } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { stageArtifactKey, STAGE_ARTIFACTS } from '../../src/domain/plan-summary.js';
import { lockKeyFor } from '../../src/adapters/dynamo/table-layout.js';
import { runCli } from '../support/cli-process.js';
import {
  decideThroughPage,
  nextApproval,
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
 * Issue 12 point 4: an operator who frees a live run's lock fences that run out: `tfgate unlock`
 * refuses without --force, and with it the old holder's apply refuses to start and says why.
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
    expect(forced.stdout).toContain(`run ${run.id} (awaiting_approval) was still alive`);

    // The approval still decides, but the apply refuses to start: the lock is not the run's any more.
    const decided = await decideThroughPage(approval.url, 'approve');
    expect(decided.status).toBe(200);
    const ended = await waitForRun(stack, run.id);
    expect(ended.status).toBe('failed');
    expect(ended.error).toContain('refusing to apply');
    expect(ended.error).toContain('stuck, says alice');
    expect(ended.error).toContain(`fencing number ${granted!.fence}`);
    expect(ended.stages.find((s) => s.environment === 'apps')?.status).toBe('failed');
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
