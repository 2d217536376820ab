/**
 * Where no build sandbox can be made (here: TFGATE_BWRAP names a bubblewrap that does not exist, as on
 * a machine without it): tfgate local says so at start, deploy builds run as before, and pull-request
 * plans are refused, unless it was started with --unsandboxed-builds.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  configYaml,
  pushChange,
  runForSha,
  sendPullRequest,
  startTestStack,
  terraformFiles,
  type TestStack,
  waitForRun,
} from '../support/local-stack.js';
import { commitAndPush } from '../../src/local-mode/git-repos.js';
import { UNSANDBOXED_PULL_REQUEST_REFUSED } from '../../src/local-mode/codebuild.js';
import { REPOSITORY } from '../support/local-stack.js';

let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.cleanup();
  stack = undefined;
});

const withoutBubblewrap = { ...process.env, TFGATE_BWRAP: '/nonexistent/bwrap' };

async function openPullRequest(current: TestStack): Promise<string> {
  const remote = current.remotes.find((r) => r.repository === REPOSITORY)!.remote;
  const sha = await commitAndPush(remote, {
    branch: 'feature',
    message: 'a change under review',
    quiet: true,
    files: terraformFiles({ network: 'pr' }),
  });
  const answer = await sendPullRequest(current, sha);
  expect(answer.status).toBe(202);
  return answer.body.runId!;
}

describe('tfgate local without bubblewrap', () => {
  it('says so at start, runs deploy builds, and refuses pull-request plans with the reason', async () => {
    stack = await startTestStack({
      config: configYaml({ approval: false, environments: ['ops'] }),
      environment: withoutBubblewrap,
    });
    const notice = stack.lines.find((line) => line.startsWith('WARNING: builds are not sandboxed'));
    expect(notice).toContain('/nonexistent/bwrap is not installed');
    expect(notice).toContain('Pull-request plans are refused (start with --unsandboxed-builds');
    expect(stack.sandbox.available).toBe(false);

    const sha = await pushChange(stack, terraformFiles({ network: 'n1' }));
    const deploy = await waitForRun(stack, (await runForSha(stack, sha)).id, 120_000);
    expect(deploy.status, deploy.error).toBe('succeeded');
    expect(deploy.stages.map((s) => s.status)).toEqual(['applied']);

    const refused = await waitForRun(stack, await openPullRequest(stack), 120_000);
    expect(refused.status).toBe('failed');
    expect(JSON.stringify(refused)).toContain('pull-request plans are refused: no sandbox can be made');
    expect(UNSANDBOXED_PULL_REQUEST_REFUSED).toContain('--unsandboxed-builds');
  }, 240_000);

  it('with --unsandboxed-builds: says so at start and plans pull requests', async () => {
    stack = await startTestStack({
      config: configYaml({ approval: false, environments: ['ops'] }),
      environment: withoutBubblewrap,
      unsandboxedBuilds: true,
    });
    expect(stack.lines.find((line) => line.startsWith('WARNING: builds are not sandboxed'))).toContain(
      'Pull-request plans run unsandboxed too: tfgate local was started with --unsandboxed-builds',
    );
    const planned = await waitForRun(stack, await openPullRequest(stack), 120_000);
    expect(planned.status, planned.error).toBe('succeeded');
    expect(planned.stages.map((s) => s.status)).toEqual(['planned']);
  }, 240_000);
});
