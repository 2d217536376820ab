/** Issue 11.7: one SIGTERM (or Ctrl-C) ends `tfgate local` within 5 s, even while a run waits for approval. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush } from '../../lambdas/core/local/git-repos.js';
import { startLocalProcess, type LocalProcess } from '../support/cli-process.js';
import { startTestStack, TERRAFORM_DOUBLE, terraformFiles, until } from '../support/local-stack.js';

let local: LocalProcess | undefined;
let dataDir: string | undefined;

afterEach(async () => {
  if (local && local.child.exitCode === null) local.child.kill('SIGKILL');
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('tfgate local stops on the first signal', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('%s while apps waits for approval: exits within 5 s, the run marked as at any stop', async (signal) => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-stop-'));
    local = await startLocalProcess(['--data', dataDir, '--terraform', TERRAFORM_DOUBLE], { ...process.env, TFGATE_WEBHOOK_SECRET: '' });
    await commitAndPush(local.remote, { files: terraformFiles({ network: 'n' }), message: 'change', branch: 'main' });
    const runId = await until(
      'a run waiting for approval',
      async () => {
        const answer = (await (await fetch(`${local!.url}/runs`, { headers: { accept: 'application/json' } })).json()) as { runs: Array<{ id: string; status: string }> };
        return answer.runs.find((run) => run.status === 'awaiting_approval')?.id;
      },
      60_000,
    );

    const started = Date.now();
    const code = await local.stop(signal);
    const tookMs = Date.now() - started;
    console.log(`tfgate local stopped ${tookMs} ms after ${signal} (exit code ${code})`);
    expect(code).toBe(0);
    expect(tookMs).toBeLessThan(5_000);
    expect(local.output()).toMatch(/stopping…\n[^]*\nstopped\.\n$/);

    // What the stop recorded, read without letting a start recover anything first.
    const stack = await startTestStack({ dataDir, inMemory: false, configFile: path.join(dataDir, 'tfgate.yaml'), keepData: true });
    try {
      const run = (await stack.runs.get(runId))!;
      expect(stack.recovered).not.toContain(runId);
      expect(run.status).toBe('interrupted');
      expect(run.error).toContain('tfgate local stopped');
      expect(await stack.stores.locks.listHeld()).toEqual([]);
    } finally {
      await stack.cleanup();
    }
  }, 120_000);
});
