import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import {
  configYaml,
  pushChange,
  runForSha,
  startTestStack,
  statePath,
  terraformFiles,
  waitForRun,
  waitForStage,
  type TestStack,
} from '../support/local-stack.js';
import { expectNoLockHeld, expectStateFilesIntact, until } from './support.js';

/** The build runner (CodeBuild's process locally) dies with SIGKILL in the middle of an apply. */

const run = promisify(execFile);
let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.cleanup();
  stack = undefined;
});

async function pids(pattern: string): Promise<number[]> {
  const found = await run('pgrep', ['-f', pattern]).catch(() => ({ stdout: '' }));
  return found.stdout.split('\n').filter(Boolean).map(Number);
}

describe('the build runner killed during an apply', () => {
  it('fails the run saying so, frees the lock, keeps the earlier run and the state whole', async () => {
    stack = await startTestStack({
      config: configYaml({ environments: ['ops'], approval: false }),
      buildEnv: { TFGATE_DOUBLE_DELAY_MS: '1200' },
    });
    const firstSha = await pushChange(stack, terraformFiles({ network: 'one' }));
    const first = await waitForRun(stack, (await runForSha(stack, firstSha)).id);
    expect(first.status).toBe('succeeded');
    const stateBefore = await readFile(statePath(stack, 'ops'), 'utf8');

    const sha = await pushChange(stack, terraformFiles({ network: 'two', extra: 'x' }));
    const victim = await runForSha(stack, sha);
    await waitForStage(stack, victim.id, 'ops', 'applying');
    // This stack's own runner only: other suites run build runners of their own in parallel.
    const runnerFile = path.join(stack.dataDir, 'run', 'build-runner.mjs');
    const [runner] = await until('the apply build runner', async () => {
      const found = await pids(runnerFile);
      return found.length > 0 ? found : undefined;
    });
    // Killed while `terraform apply` runs under it (the double sleeps there, holding the state lock,
    // before it changes anything).
    await until('terraform apply under the runner', async () =>
      (await run('pgrep', ['-P', String(runner), '-f', ' apply ']).catch(() => ({ stdout: '' }))).stdout.trim()
        ? true
        : undefined,
    );
    process.kill(runner!, 'SIGKILL');

    const failed = await waitForRun(stack, victim.id);
    expect(failed.status).toBe('failed');
    expect(failed.stages[0]!.status).toBe('failed');
    expect(failed.error).toMatch(/ops: the apply build .*(killed|SIGKILL)/);
    await expectNoLockHeld(stack);
    // Nothing of the killed build keeps running (terraform would otherwise go on holding the state lock).
    await until(
      'the killed build to leave no process behind',
      async () => ((await pids(runnerFile)).length === 0 ? true : undefined),
      180_000,
    );

    expect((await stack.runs.get(first.id))?.status).toBe('succeeded');
    expect(await expectStateFilesIntact(stack)).toBeGreaterThan(0);
    // The run says failed, so nothing of it may have been applied behind its back: terraform went
    // down with the runner (as in CodeBuild, where the container goes) instead of finishing alone.
    expect(await readFile(statePath(stack, 'ops'), 'utf8')).toBe(stateBefore);

    // The environment is usable again: the next push plans against the state as it is and applies.
    const nextSha = await pushChange(stack, terraformFiles({ network: 'three' }));
    const next = await waitForRun(stack, (await runForSha(stack, nextSha)).id);
    expect(next.status, next.error).toBe('succeeded');
    await expectNoLockHeld(stack);
  }, 300_000);
});
