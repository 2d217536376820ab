import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lockKeyFor } from '../../src/adapters/dynamo/table-layout.js';
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
 * Issue 12 point 3, in process: tfgate local stopped (not killed) while apps waits for approval keeps
 * the run for the next start, and a decision posted the moment the stack is back is not lost.
 */

let stacks: TestStack[] = [];
let dirs: string[] = [];
afterEach(async () => {
  for (const stack of stacks) await stack.cleanup();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  stacks = [];
  dirs = [];
});

describe('a stopped tfgate local', () => {
  it('resumes the approval wait with the same approval, and an immediate decision applies it', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-resume-'));
    dirs.push(dataDir);
    const first = await startTestStack({ dataDir, keepData: true, inMemory: false });
    stacks.push(first);
    const seen = nextApproval(first);
    const sha = await pushChange(first, terraformFiles({ cluster: 'v1' }));
    const run = await runForSha(first, sha);
    const approval = (await seen).approval;
    await waitForStage(first, run.id, 'apps', 'awaiting_approval');
    const fence = (await first.stores.locks.get(lockKeyFor(REPOSITORY, 'apps')))?.fence;
    await first.close();

    const second = await startTestStack({ dataDir, keepData: true, inMemory: false });
    stacks.push(second);
    expect(second.resumed).toEqual([
      { runId: run.id, environment: 'apps', kind: 'approval', approvalUrl: `${second.url}/approvals/${approval.id}` },
    ]);
    expect(second.recovered).toEqual([]);
    // Posted at once: the resumed execution may not have reached its wait yet.
    const decided = await decideThroughPage(`${second.url}/approvals/${approval.id}`, 'approve');
    expect(decided.status).toBe(200);
    const done = await waitForRun(second, run.id);
    expect(done.status).toBe('succeeded');
    expect(done.stages.find((s) => s.environment === 'apps')).toMatchObject({
      status: 'applied',
      approval: { id: approval.id, status: 'approved' },
    });
    expect(done.notes?.join('\n')).toContain(`apps waits again for approval ${approval.id}`);
    // The lock it held across the restart (same fencing number) was released at the end.
    expect(fence).toBeGreaterThan(0);
    expect(await second.stores.locks.get(lockKeyFor(REPOSITORY, 'apps'))).toBeUndefined();
  }, 300_000);
});
