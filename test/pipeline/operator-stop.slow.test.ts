import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush } from '../../src/local-mode/git-repos.js';
import { localCredentialFile } from '../../src/local-mode/secrets.js';
import { runCli, startLocalProcess, type LocalProcess } from '../support/cli-process.js';
import { configYaml, TERRAFORM_DOUBLE, terraformFiles } from '../support/local-stack.js';

const TERRAFORM = existsSync('/usr/local/bin/terraform') ? '/usr/local/bin/terraform' : TERRAFORM_DOUBLE;

/**
 * Issue 23 point 1, with the real stack as a user runs it: while apps waits for approval the
 * operator runs `tfgate unlock … --force`, stops tfgate local with SIGTERM and starts it again. The
 * run stays ended (interrupted, who and why), nothing is planned again, and the old approval link
 * refuses a decision.
 */

interface RunJson {
  id: string;
  sha: string;
  status: string;
  error?: string;
  stop?: { environment: string; by: string; reason: string; fence: number };
  stages: Array<{
    environment: string;
    status: string;
    approval?: { id: string; status: string };
    error?: string;
    transitions: Array<{ status: string }>;
  }>;
}

let processes: LocalProcess[] = [];
let dirs: string[] = [];
afterEach(async () => {
  for (const p of processes) await p.stop('SIGKILL');
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  processes = [];
  dirs = [];
});

async function getJson<T>(url: string, dataDir: string): Promise<{ status: number; body: T }> {
  const credential = (await readFile(localCredentialFile(dataDir), 'utf8')).trim();
  const response = await fetch(url, { headers: { accept: 'application/json', authorization: `Bearer ${credential}` } });
  return { status: response.status, body: (await response.json()) as T };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("an operator's stop survives a restart", () => {
  it('unlock --force, SIGTERM, start again: the run stays interrupted and its approval is refused', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-operator-stop-'));
    dirs.push(dir);
    await chmod(dir, 0o755);
    const config = path.join(dir, 'tfgate.yaml');
    await writeFile(config, configYaml({ approval: '1h' }));
    const dataDir = path.join(dir, 'data');
    const port = String(await freePort());
    const args = ['--data', dataDir, '--config', config, '--terraform', TERRAFORM, '--port', port];

    const first = await startLocalProcess(args);
    processes.push(first);
    const sha = await commitAndPush(first.remote, {
      files: terraformFiles({ cluster: 'v1' }),
      message: 'Bad change',
      branch: 'main',
    });
    const waiting = await waitFor('apps to wait for approval', async () => {
      const { body } = await getJson<{ runs: RunJson[] }>(`${first.url}/runs`, dataDir);
      return body.runs.find(
        (r) => r.sha === sha && r.stages.some((s) => s.environment === 'apps' && s.status === 'awaiting_approval'),
      );
    });
    const { body: full } = await getJson<RunJson>(`${first.url}/runs/${waiting.id}`, dataDir);
    const approvalId = full.stages.find((s) => s.environment === 'apps')!.approval!.id;

    const unlocked = await runCli([
      'unlock',
      'acme/infrastructure',
      'apps',
      '--force',
      '--reason',
      'bad change, stop it',
      '--url',
      first.url,
      '--data',
      dataDir,
    ]);
    expect(unlocked.code).toBe(0);
    expect(unlocked.stdout).toContain(`run ${waiting.id} was still awaiting_approval: it is now interrupted`);

    expect(await first.stop('SIGTERM')).toBe(0);
    const second = await startLocalProcess(args);
    processes.push(second);
    expect(second.output()).not.toContain('planning it again');
    expect(second.output()).not.toContain(`run ${waiting.id} waits again`);

    // Give a wrongly resumed execution time to show itself: nothing of this run moves again.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const { body: after } = await getJson<RunJson>(`${second.url}/runs/${waiting.id}`, dataDir);
    expect(after.status).toBe('interrupted');
    expect(after.error).toContain('bad change, stop it');
    expect(after.error).toMatch(/stopped by \S+ \(local operator\)/);
    expect(after.stop).toMatchObject({ environment: 'apps', reason: 'bad change, stop it' });
    expect(after.stop!.fence).toBeGreaterThan(0);
    const apps = after.stages.find((s) => s.environment === 'apps')!;
    expect(apps.status).toBe('interrupted');
    expect(apps.approval).toMatchObject({ id: approvalId, status: 'expired' });
    // Planned once, before the stop; nothing after it.
    expect(apps.transitions.map((t) => t.status)).toEqual([
      'pending',
      'waiting_for_lock',
      'planning',
      'planned',
      'awaiting_approval',
      'interrupted',
    ]);

    // The old link: the page offers no decision, and the CLI's decision is refused.
    const approve = await runCli(['approve', approvalId, '--url', second.url, '--data', dataDir]);
    expect(approve.code).not.toBe(0);
    expect(approve.stderr).toContain('approve refused (409)');
    expect(approve.stderr).toContain('bad change, stop it');
    const { body: approvalJson } = await getJson<{ canDecide: boolean; status: string }>(
      `${second.url}/approvals/${approvalId}`,
      dataDir,
    );
    expect(approvalJson).toMatchObject({ canDecide: false, status: 'expired' });

    // Nobody holds apps: the next push may take it.
    const check = await runCli(['unlock', 'acme/infrastructure', 'apps', '--url', second.url, '--data', dataDir]);
    expect(check.stdout).toContain('was not held');
    // `tfgate show` by an 8-character prefix names who stopped it and why.
    const shown = await runCli(['show', waiting.id.slice(0, 8), '--url', second.url, '--data', dataDir]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`run ${waiting.id}: interrupted`);
    expect(shown.stdout).toContain('bad change, stop it');
  }, 300_000);
});
