import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { LocalBuild, LocalCodeBuild } from '../../src/local-mode/engine.js';
import {
  configYaml,
  pushChange,
  runForSha,
  startTestStack,
  terraformFiles,
  waitForRun,
  type TestStack,
} from '../support/local-stack.js';
import { expectNoLockHeld, expectStateFilesIntact, stageStatuses } from './support.js';

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
  it('FAILED, TIMED_OUT and STOPPED plans each fail their run with that status, free the lock, and ' +
    'lose nothing', async () => {
    let forced: { mode: string; status: Status } | undefined;
    const calls: string[] = [];
    const intercept =
      (real: LocalCodeBuild): LocalCodeBuild =>
      async (params, signal) => {
        const mode = params.EnvironmentVariablesOverride?.find((v) => v.Name === 'TFGATE_MODE')?.Value ?? '?';
        calls.push(mode);
        if (forced && forced.mode === mode) return { Id: `${params.ProjectName}:fake`, BuildStatus: forced.status };
        return real(params, signal);
      };
    stack = await startTestStack({
      config: configYaml({ environments: ['ops', 'apps'], approval: false }),
      intercept: { codeBuild: intercept },
    });

    const goodSha = await pushChange(stack, terraformFiles({ network: 'one' }));
    const good = await waitForRun(stack, (await runForSha(stack, goodSha)).id);
    expect(good.status).toBe('succeeded');

    for (const [mode, status] of [
      ['plan', 'FAILED'],
      ['apply', 'TIMED_OUT'],
      ['plan', 'STOPPED'],
    ] as const) {
      forced = { mode, status };
      const sha = await pushChange(stack, terraformFiles({ network: `n-${status}` }));
      const run = await waitForRun(stack, (await runForSha(stack, sha)).id);
      expect(run.status, status).toBe('failed');
      expect(run.error).toBe(
        status === 'TIMED_OUT'
          ? `ops: the ${mode} build ran past its time limit (timeouts.${mode}) and CodeBuild stopped it`
          : `ops: the ${mode} build ended with status ${status} before reporting a result`,
      );
      // The first environment stops the run; the next one is never planned.
      expect(stageStatuses(run)).toEqual([
        ['ops', 'failed'],
        ['apps', 'skipped'],
      ]);
      await expectNoLockHeld(stack);
    }
    forced = undefined;
    expect((await stack.runs.get(good.id))?.status).toBe('succeeded');
    expect(await expectStateFilesIntact(stack)).toBe(2);

    const nextSha = await pushChange(stack, terraformFiles({ network: 'after' }));
    const next = await waitForRun(stack, (await runForSha(stack, nextSha)).id);
    expect(next.status, next.error).toBe('succeeded');
    await expectNoLockHeld(stack);
  }, 300_000);
});

const runnerGone = async (stack: TestStack) => {
  const runnerFile = path.join(stack.dataDir, 'run', 'build-runner.mjs');
  const found = await promisify(execFile)('pgrep', ['-f', runnerFile]).catch(() => ({ stdout: '' }));
  return found.stdout.trim() === '';
};

describe('build timeouts', () => {
  it('CodeBuild ends a build that passes TimeoutInMinutesOverride itself (TIMED_OUT), and the lock ' +
    'is freed after it ended', async () => {
    stack = await startTestStack({
      config: configYaml({ environments: ['ops'], approval: false, extra: 'timeouts: { plan: 5m }' }),
      buildEnv: { TFGATE_DOUBLE_DELAY_MS: '6000' },
      // Five build minutes of 200 ms: the plan is ended after one second.
      buildMinuteMs: 200,
    });
    const sha = await pushChange(stack, terraformFiles({ network: 'slow' }));
    const timedOut = await waitForRun(stack, (await runForSha(stack, sha)).id);
    expect(timedOut.status).toBe('failed');
    expect(timedOut.error).toMatch(/^ops: /);
    expect(timedOut.error).toMatch(
      /^ops: the plan build ran past its time limit \(timeouts\.plan\) and CodeBuild stopped it/,
    );
    expect(await runnerGone(stack)).toBe(true);
    await expectNoLockHeld(stack);
  }, 300_000);

  it('a task that outlives its build (States.Timeout) stops the build before the run ends and the ' +
    'lock is freed', async () => {
    stack = await startTestStack({
      config: configYaml({ environments: ['ops'], approval: false }),
      buildEnv: { TFGATE_DOUBLE_DELAY_MS: '30000' },
      // As if CodeBuild had lost track of the build: the task gives up after one second.
      taskTimeoutOverrides: { Plan: 1 },
    });
    const sha = await pushChange(stack, terraformFiles({ network: 'slow' }));
    const run = await waitForRun(stack, (await runForSha(stack, sha)).id);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(
      /^ops: the plan build did not finish within its timeout \(timeouts\.plan\) and was stopped/,
    );
    // No waiting here: StopBuild ran, and waited for the build to end, before RecordFailure freed the lock.
    expect(await runnerGone(stack)).toBe(true);
    await expectNoLockHeld(stack);
  }, 300_000);
});
