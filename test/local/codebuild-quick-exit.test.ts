import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';

/**
 * The 200-runs bench stalled with build records left and no build process alive: a runner that ended
 * while the stand-in was still writing its build record emitted 'close' before anyone listened, so the
 * build never ended. Here the record write is held back until the runner has certainly exited.
 */

const recordWrites = vi.hoisted(() => ({ delayMs: 0 }));

vi.mock('../../src/local-mode/build-reaper.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/local-mode/build-reaper.js')>();
  return {
    ...original,
    async openBuildSlot(...args: Parameters<typeof original.openBuildSlot>) {
      const slot = await original.openBuildSlot(...args);
      return {
        ...slot,
        async started(pgid: number) {
          // A busy file system: the record is written long after a quick runner is gone.
          await new Promise((resolve) => setTimeout(resolve, recordWrites.delayMs));
          await slot.started(pgid);
        },
      };
    },
  };
});

const { createLocalCodeBuild } = await import('../../src/local-mode/codebuild.js');

let dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  dirs = [];
});

it('ends a build whose runner exits before its build record is written', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-quick-exit-'));
  dirs.push(dir);
  const runnerFile = path.join(dir, 'runner.mjs');
  await writeFile(runnerFile, "process.stdout.write('planned\\n'); process.exit(0);\n");
  const buildsDir = path.join(dir, 'builds');
  recordWrites.delayMs = 1500;
  const codeBuild = createLocalCodeBuild({
    runnerFile,
    artifactsDir: path.join(dir, 'artifacts'),
    logsDir: path.join(dir, 'logs'),
    terraform: '/bin/false',
    stateDirFor: () => path.join(dir, 'state'),
    buildsDir,
    userEnv: { PATH: process.env.PATH ?? '', HOME: dir, TMPDIR: dir },
  });

  const build = codeBuild(
    {
      ProjectName: 'tfgate-plan',
      EnvironmentVariablesOverride: [
        { Name: 'TFGATE_RUN_ID', Value: 'run-1' },
        { Name: 'TFGATE_ENVIRONMENT', Value: 'ops' },
        { Name: 'TFGATE_MODE', Value: 'plan' },
      ],
    },
    new AbortController().signal,
  );
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<'stalled'>((resolve) => (timer = setTimeout(() => resolve('stalled'), 10_000)));
  const outcome = await Promise.race([build, stalled]);
  clearTimeout(timer);
  expect(outcome).toMatchObject({ BuildStatus: 'SUCCEEDED' });
  // Cleaned up as every ended build is: no record, no tfgate-build-* directory.
  expect(await readdir(buildsDir)).toEqual([]);
  expect((await readdir(dir)).filter((name) => name.startsWith('tfgate-build-'))).toEqual([]);
}, 20_000);
