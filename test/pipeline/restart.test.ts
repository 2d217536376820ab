import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush } from '../../lambdas/core/local/git-repos.js';
import { localCredentialFile } from '../../lambdas/core/local/secrets.js';
import { runCli, slowTerraform, startLocalProcess, type LocalProcess } from '../support/cli-process.js';
import { configYaml, terraformFiles } from '../support/local-stack.js';

/** `tfgate local` killed outright in the middle of a run, then started again on the same data directory. */

interface RunJson {
  id: string;
  sha: string;
  status: string;
  error?: string;
  stages: Array<{ environment: string; status: string }>;
}

let processes: LocalProcess[] = [];
let dirs: string[] = [];
afterEach(async () => {
  for (const p of processes) await p.stop('SIGKILL');
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  processes = [];
  dirs = [];
});

/** The data directory of the tfgate local under test: its local credential signs the requests in. */
let dataDir = '';

async function runs(url: string): Promise<RunJson[]> {
  const credential = (await readFile(localCredentialFile(dataDir), 'utf8')).trim();
  const response = await fetch(`${url}/runs`, { headers: { accept: 'application/json', authorization: `Bearer ${credential}` } });
  return ((await response.json()) as { runs: RunJson[] }).runs;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const finished = (status: string) => !['running', 'awaiting_approval'].includes(status);

describe('tfgate local killed during a run', () => {
  it('keeps finished runs, marks the one in flight interrupted, frees its locks', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-restart-'));
    dirs.push(dir);
    const config = path.join(dir, 'tfgate.yaml');
    await writeFile(config, configYaml({ approval: false }));
    const terraform = await slowTerraform(dir, 1500);
    dataDir = path.join(dir, 'data');
    const args = ['--data', dataDir, '--config', config, '--terraform', terraform];

    const first = await startLocalProcess(args);
    processes.push(first);
    const doneSha = await commitAndPush(first.remote, { files: terraformFiles({ network: 'one' }), message: 'one', branch: 'main' });
    await waitFor('the first run to finish', async () => (await runs(first.url)).find((r) => r.sha === doneSha && finished(r.status)), 120_000);

    const cutSha = await commitAndPush(first.remote, { files: terraformFiles({ network: 'two' }), message: 'two', branch: 'main' });
    await waitFor('the second run to be planning', async () =>
      (await runs(first.url)).find((r) => r.sha === cutSha && r.stages.some((s) => s.status === 'planning' || s.status === 'applying')),
    );
    expect(await first.stop('SIGKILL')).toBe(null);

    const second = await startLocalProcess(args);
    processes.push(second);
    expect(second.output()).toContain('1 run(s) in flight at the last stop were marked interrupted');
    const after = await runs(second.url);
    expect(after.find((r) => r.sha === doneSha)?.status).toBe('succeeded');
    const cut = after.find((r) => r.sha === cutSha)!;
    expect(cut.status).toBe('interrupted');
    expect(cut.error).toContain('tfgate local stopped while this run was in flight');

    // Its locks are free: the unlock command finds nothing to free, and a new push runs to the end.
    for (const env of ['ops', 'apps']) {
      const unlock = await runCli(['unlock', 'acme/infrastructure', env, '--url', second.url, '--data', dataDir, '--reason', 'checking']);
      expect(unlock.stdout).toContain('was not held');
    }
    const nextSha = await commitAndPush(second.remote, { files: terraformFiles({ network: 'three' }), message: 'three', branch: 'main' });
    const next = await waitFor('the third run to finish', async () => (await runs(second.url)).find((r) => r.sha === nextSha && finished(r.status)), 120_000);
    expect(next.status).toBe('succeeded');
  });
});
