import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import {
  configYaml,
  pushChange,
  runForSha,
  startTestStack,
  terraformFiles,
  waitForRun,
  waitForStage,
  type TestStack,
} from '../support/local-stack.js';
import { expectNoLockHeld, expectStateFilesIntact, until } from './support.js';

/** StopExecution from outside tfgate (a person in the console, an operator script) in the middle of a plan. */

const exec = promisify(execFile);
let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.cleanup();
  stack = undefined;
});

describe('an execution aborted from outside', () => {
  it('ends the run interrupted with the reason, stops its build, frees its locks; the next push ' +
    'runs to the end', async () => {
    stack = await startTestStack({
      config: configYaml({ environments: ['ops'], approval: false }),
      buildEnv: { TFGATE_DOUBLE_DELAY_MS: '1500' },
    });
    const sha = await pushChange(stack, terraformFiles({ network: 'one' }));
    const victim = await runForSha(stack, sha);
    await waitForStage(stack, victim.id, 'ops', 'planning');
    expect(stack.engine.abort(victim.executionName, 'stopped by an operator during maintenance')).toBe(true);

    const run = await waitForRun(stack, victim.id);
    expect(run.status).toBe('interrupted');
    expect(run.error).toContain('stopped by an operator during maintenance');
    expect(run.stages[0]!.status).toBe('interrupted');
    await expectNoLockHeld(stack);
    const runnerFile = path.join(stack.dataDir, 'run', 'build-runner.mjs');
    await until(
      'the stopped build to exit',
      async () =>
        (await exec('pgrep', ['-f', runnerFile]).catch(() => ({ stdout: '' }))).stdout.trim() === '' ? true : undefined,
      180_000,
    );

    const nextSha = await pushChange(stack, terraformFiles({ network: 'two' }));
    const next = await waitForRun(stack, (await runForSha(stack, nextSha)).id);
    expect(next.status, next.error).toBe('succeeded');
    expect((await stack.runs.get(victim.id))?.status).toBe('interrupted');
    await expectNoLockHeld(stack);
    expect(await expectStateFilesIntact(stack)).toBe(1);
  }, 300_000);
});
