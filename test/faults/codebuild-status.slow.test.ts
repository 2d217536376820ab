import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { LocalBuild, LocalCodeBuild } from '../../lambdas/core/local/engine.js';
import { configYaml, pushChange, runForSha, startTestStack, terraformFiles, waitForRun, type TestStack } from '../support/local-stack.js';
import { expectNoLockHeld, expectStateFilesIntact, stageStatuses, until } from './support.js';

/**
 * CodeBuild ending a build other than SUCCEEDED. The engine, the definition, the pipeline tasks and
 * the DynamoDB stores are the real ones; only the build stand-in answers with the status under test.
 */

let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.cleanup();
  stack = undefined;
});

type Status = LocalBuild['BuildStatus'];

describe('CodeBuild reporting a failed build', () => {
  it('FAILED, TIMED_OUT and STOPPED plans each fail their run with that status, free the lock, and lose nothing', async () => {
    let forced: { mode: string; status: Status } | undefined;
    const calls: string[] = [];
    const intercept = (real: LocalCodeBuild): LocalCodeBuild => async (params, signal) => {
      const mode = params.EnvironmentVariablesOverride?.find((v) => v.Name === 'TFGATE_MODE')?.Value ?? '?';
      calls.push(mode);
      if (forced && forced.mode === mode) return { Id: `${params.ProjectName}:fake`, BuildStatus: forced.status };
      return real(params, signal);
    };
    stack = await startTestStack({ config: configYaml({ environments: ['ops', 'apps'], approval: false }), intercept: { codeBuild: intercept } });

    const goodSha = await pushChange(stack, terraformFiles({ network: 'one' }));
    const good = await waitForRun(stack, (await runForSha(stack, goodSha)).id);
    expect(good.status).toBe('succeeded');

    for (const [mode, status] of [['plan', 'FAILED'], ['apply', 'TIMED_OUT'], ['plan', 'STOPPED']] as const) {
      forced = { mode, status };
      const sha = await pushChange(stack, terraformFiles({ network: `n-${status}` }));
      const run = await waitForRun(stack, (await runForSha(stack, sha)).id);
      expect(run.status, status).toBe('failed');
      expect(run.error).toBe(`ops: the ${mode} build ended with status ${status} before reporting a result`);
      // The first environment stops the run; the next one is never planned.
      expect(stageStatuses(run)).toEqual([['ops', 'failed'], ['apps', 'skipped']]);
      await expectNoLockHeld(stack);
    }
    forced = undefined;
    expect((await stack.runs.get(good.id))?.status).toBe('succeeded');
    expect(await expectStateFilesIntact(stack)).toBe(2);

    const nextSha = await pushChange(stack, terraformFiles({ network: 'after' }));
    const next = await waitForRun(stack, (await runForSha(stack, nextSha)).id);
    expect(next.status, next.error).toBe('succeeded');
    await expectNoLockHeld(stack);
  }, 180_000);
});

describe("the definition's own build timeout (TimeoutSecondsPath)", () => {
  it('a plan slower than timeouts.plan times out, is stopped, says so, and frees the lock', async () => {
    const run = promisify(execFile);
    stack = await startTestStack({
      config: configYaml({ environments: ['ops'], approval: false, extra: 'timeouts: { plan: 1s }' }),
      buildEnv: { TFGATE_DOUBLE_DELAY_MS: '4000' },
    });
    const sha = await pushChange(stack, terraformFiles({ network: 'slow' }));
    const timedOut = await waitForRun(stack, (await runForSha(stack, sha)).id);
    expect(timedOut.status).toBe('failed');
    expect(timedOut.error).toMatch(/^ops: the plan build did not finish within its timeout \(timeouts\.plan\) and was stopped/);
    await expectNoLockHeld(stack);
    // Step Functions stops a .sync build whose task timed out; a build left running would keep
    // terraform's state lock long after tfgate freed its own lock.
    const runnerFile = path.join(stack.dataDir, 'run', 'build-runner.mjs');
    await until('the timed-out build to be stopped', async () => ((await run('pgrep', ['-f', runnerFile]).catch(() => ({ stdout: '' }))).stdout.trim() === '' ? true : undefined), 2_500);
  }, 120_000);
});
