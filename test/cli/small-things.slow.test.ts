import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Run } from '../../src/domain/run.js';
import { commitAndPush } from '../../src/local-mode/git-repos.js';
import { ProgressEventRunStore, printRunChanges } from '../../src/local-mode/progress.js';
import type { RunStore } from '../../src/domain/ports.js';
import { CLI, runCli, startLocalProcess, type LocalProcess } from '../support/cli-process.js';
import {
  nextApproval,
  operatorHeaders,
  pushChange,
  REPOSITORY,
  runForSha,
  startTestStack,
  TERRAFORM_DOUBLE,
  terraformFiles,
  until,
  waitForRun,
  waitForStage,
  type TestStack,
} from '../support/local-stack.js';

/** Issue 12 point 7: the small things a user trips over, each shown through the CLI or a page. */

let stack: TestStack | undefined;
let processes: LocalProcess[] = [];
let dirs: string[] = [];
let servers: http.Server[] = [];
afterEach(async () => {
  await stack?.cleanup();
  stack = undefined;
  for (const p of processes) await p.stop();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  for (const server of servers) await new Promise((resolve) => server.close(resolve));
  processes = [];
  dirs = [];
  servers = [];
});

const APPROVER_CONFIG = [
  'repositories:',
  `  - name: ${REPOSITORY}`,
  '    branch: main',
  '    environments:',
  '      - name: ops',
  '      - name: apps',
  '        approval:',
  '          approvers: [alice@example.com]',
  '          timeout: 1h',
  '',
].join('\n');

/** A page as the local operator sees it (pages are behind sign-in; the CLI's credential signs in). */
async function pageOf(url: string): Promise<string> {
  const response = await fetch(url, { headers: { accept: 'text/html', ...operatorHeaders(url) } });
  expect(response.status).toBe(200);
  return response.text();
}

/** A run's JSON as the local operator gets it. */
async function jsonOf<T>(url: string): Promise<T> {
  const response = await fetch(url, { headers: { accept: 'application/json', ...operatorHeaders(url) } });
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

describe('tfgate runs | head', () => {
  it('ends quietly when the reader stops reading (no EPIPE crash)', async () => {
    const runs = Array.from({ length: 4000 }, (_, i) => ({
      id: `run-${i}`,
      repository: REPOSITORY,
      sha: 'a'.repeat(40),
      trigger: 'push',
      status: 'succeeded',
      createdAt: new Date().toISOString(),
      stages: [{ environment: 'ops', status: 'applied' }],
    }));
    const server = http.createServer((_request, response) =>
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ runs })),
    );
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const result = await new Promise<{ stdout: string; stderr: string }>((resolve) => {
      const child = spawn(
        'bash',
        ['-c', `"${process.execPath}" "${CLI}" runs --url ${url} | head -3; echo "cli exit: \${PIPESTATUS[0]}"`],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('close', () => resolve({ stdout, stderr }));
    });
    expect(result.stdout.trim().split('\n')).toHaveLength(4);
    expect(result.stdout).toContain('cli exit: 0');
    expect(result.stderr).not.toContain('EPIPE');
    expect(result.stderr).toBe('');
  });
});

describe('approvals from the CLI', () => {
  it('hints --as on the console, names --as when refusing, keeps --reason and shows it in show, ' +
    'JSON and the page', async () => {
    // Two approvers: with one, `tfgate approve` acts as that one without --as (nobody else could be meant).
    stack = await startTestStack({
      config: APPROVER_CONFIG.replace(
        'approvers: [alice@example.com]',
        'approvers: [alice@example.com, carol@example.com]',
      ),
    });
    const seen = nextApproval(stack);
    const sha = await pushChange(stack, terraformFiles({ cluster: 'v1' }));
    const run = await runForSha(stack, sha);
    const approval = (await seen).approval;
    expect(stack.lines.join('\n')).toContain(`npx tfgate approve ${approval.id} --as alice@example.com`);

    const refused = await runCli(['approve', approval.id, '--url', stack.url, '--data', stack.dataDir]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('--as EMAIL');

    const approved = await runCli([
      'approve',
      approval.id,
      '--as',
      'alice@example.com',
      '--reason',
      'reviewed with bob',
      '--url',
      stack.url,
      '--data',
      stack.dataDir,
    ]);
    expect(approved.stderr).toBe('');
    expect(approved.code).toBe(0);
    await waitForRun(stack, run.id);

    const json = await jsonOf<{ stages: Array<{ environment: string; approval?: { reason?: string; by?: string } }> }>(
      `${stack.url}/runs/${run.id}`,
    );
    expect(json.stages.find((s) => s.environment === 'apps')?.approval).toMatchObject({
      by: 'alice@example.com',
      reason: 'reviewed with bob',
    });
    const shown = await runCli(['show', run.id, '--url', stack.url, '--data', stack.dataDir]);
    expect(shown.stdout).toContain('approved by alice@example.com: "reviewed with bob"');
    expect(await pageOf(`${stack.url}/runs/${run.id}`)).toContain('<q>reviewed with bob</q>');
  }, 300_000);
});

describe('show and the run page', () => {
  it('link the plan text and the local logs, artifacts and state; a local pull request shows its number', async () => {
    stack = await startTestStack({ config: APPROVER_CONFIG });
    const remote = stack.remotes[0]!.remote;
    await commitAndPush(remote, {
      files: terraformFiles({ cluster: 'v1' }),
      message: 'feature work',
      branch: 'feature',
    });
    expect(stack.lines.join('\n')).not.toContain('pull_request run created');

    const opened = await runCli(['pr', 'feature', '--data', stack.dataDir]);
    expect(opened.stderr).toBe('');
    const runId = /run (\S+) plans it/.exec(opened.stdout)?.[1];
    expect(opened.stdout).toContain('pull request #1 opened for feature');
    const run = await waitForRun(stack, runId!);
    expect(run).toMatchObject({ trigger: 'pull_request', pullRequest: 1, status: 'succeeded' });
    expect(run.stages.map((s) => s.status)).toEqual(['planned', 'planned']);

    const shown = await runCli(['show', run.id, '--url', stack.url, '--data', stack.dataDir]);
    expect(shown.stdout).toContain('(pull_request #1)');
    expect(shown.stdout).toContain(`plan: ${stack.url}/runs/${run.id}/ops/plan.txt`);
    expect(shown.stdout).toContain(`logs: ${path.join(stack.dataDir, 'logs', run.id)}`);
    expect(shown.stdout).toContain(`artifacts: ${path.join(stack.dataDir, 'artifacts', 'runs', run.id)}`);
    expect(shown.stdout).toContain(`state: ${path.join(stack.dataDir, 'state')}`);
    expect(shown.stdout).toContain(`plan log: ${path.join(stack.dataDir, 'logs', run.id, 'ops-plan.log')}`);
    expect(existsSync(path.join(stack.dataDir, 'logs', run.id, 'ops-plan.log'))).toBe(true);

    const page = await pageOf(`${stack.url}/runs/${run.id}`);
    expect(page).toContain('pull request #1');
    expect(page).toContain(`<a href="/runs/${run.id}/apps/plan.txt">`);
    const planText = await (
      await fetch(`${stack.url}/runs/${run.id}/apps/plan.txt`, { headers: operatorHeaders(stack) })
    ).text();
    expect(planText).toContain('terraform_data.cluster');

    // A new head on the same branch keeps the number.
    await commitAndPush(remote, { files: terraformFiles({ cluster: 'v2' }), message: 'more', branch: 'feature' });
    const again = await runCli(['pr', 'feature', '--data', stack.dataDir]);
    expect(again.stdout).toContain('pull request #1 synchronize for feature');
  }, 300_000);

  it('marks a drift run as drift in the JSON and on the page, found or not', async () => {
    stack = await startTestStack({
      config: APPROVER_CONFIG.replace(
        '      - name: apps\n        approval:\n          approvers: [alice@example.com]\n          timeout: 1h\n',
        '',
      ),
    });
    const sha = await pushChange(stack, terraformFiles({ cluster: 'v1' }));
    await waitForRun(stack, (await runForSha(stack, sha)).id);
    const first = await stack.reconciler.drift(REPOSITORY);
    expect(first.action).toBe('started');
    const clean = await waitForRun(stack, (first as { runId: string }).runId);
    const cleanJson = await jsonOf<{ trigger: string; drift?: unknown }>(`${stack.url}/runs/${clean.id}`);
    expect(cleanJson).toMatchObject({ trigger: 'drift', drift: { detected: false, environments: [] } });
    expect(await pageOf(`${stack.url}/runs/${clean.id}`)).toContain('<td id="run-drift">no drift found</td>');

    // Someone changes the state behind tfgate's back: the next drift run finds it.
    const { rm: remove } = await import('node:fs/promises');
    await remove(
      path.join(
        stack.dataDir,
        'state',
        REPOSITORY.replace('/', '__'),
        'terraform.tfstate.d',
        'ops',
        'terraform.tfstate',
      ),
    );
    const second = await stack.reconciler.drift(REPOSITORY, 1);
    const drifted = await waitForRun(stack, (second as { runId: string }).runId);
    const driftJson = await jsonOf<{ drift?: unknown }>(`${stack.url}/runs/${drifted.id}`);
    expect(driftJson).toMatchObject({ drift: { detected: true, environments: ['ops'] } });
    expect(await pageOf(`${stack.url}/runs/${drifted.id}`)).toContain('drift found in ops');
    expect((await runCli(['show', drifted.id, '--url', stack.url, '--data', stack.dataDir])).stdout).toContain(
      'drift: found in ops',
    );
    expect((await runCli(['runs', '--url', stack.url, '--data', stack.dataDir])).stdout).toContain(`${drifted.id}  `);
    expect((await runCli(['runs', '--url', stack.url, '--data', stack.dataDir])).stdout).toMatch(
      new RegExp(`${drifted.id} .* drift\\(found:ops\\) `),
    );
    expect(await pageOf(`${stack.url}/runs`)).toContain('drift (found in ops)');
    expect(await pageOf(`${stack.url}/runs`)).toContain('drift (none found)');
  }, 300_000);
});

describe('the console', () => {
  it('prints a stage line once when it is recorded twice with the same status', () => {
    const store = new ProgressEventRunStore({} as RunStore);
    const lines: string[] = [];
    const stop = printRunChanges(store, (line) => lines.push(line));
    const run = { id: 'r1', repository: REPOSITORY, sha: 'b'.repeat(40) } as Run;
    store.events.emit('change', {
      run,
      environment: 'apps',
      stage: { status: 'superseded', error: 'superseded by a newer push' },
    });
    store.events.emit('change', {
      run,
      environment: 'apps',
      stage: { status: 'superseded', approval: { id: 'x', status: 'superseded' } },
    });
    store.events.emit('change', { run, environment: 'apps', stage: { status: 'skipped' } });
    stop();
    expect(lines.filter((line) => line.endsWith('apps: superseded'))).toHaveLength(1);
    expect(lines).toHaveLength(2);
  });

  it('says "apps: superseded" once when a newer push replaces a run waiting for approval', async () => {
    stack = await startTestStack();
    const seen = nextApproval(stack);
    const olderSha = await pushChange(stack, terraformFiles({ cluster: 'v1' }));
    const older = await runForSha(stack, olderSha);
    await seen;
    await waitForStage(stack, older.id, 'apps', 'awaiting_approval');
    const newerSeen = nextApproval(stack);
    await pushChange(stack, terraformFiles({ cluster: 'v2' }));
    await newerSeen;
    expect((await waitForRun(stack, older.id)).status).toBe('superseded');
    const superseded = stack.lines.filter((line) => line.includes(`run ${older.id}] apps: superseded`));
    expect(superseded).toHaveLength(1);
  }, 300_000);

  it('stamps progress lines with the time and warns when terraform is not terraform.version', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-console-'));
    dirs.push(dir);
    const version = path.join(dir, 'terraform');
    // A terraform that reports another version than tfgate.yaml asks for.
    await writeFile(
      version,
      `#!/bin/sh\nTFGATE_DOUBLE_VERSION=1.11.4 exec ${JSON.stringify(TERRAFORM_DOUBLE)} "$@"\n`,
      { mode: 0o755 },
    );
    const config = path.join(dir, 'tfgate.yaml');
    await writeFile(config, `${APPROVER_CONFIG}terraform:\n  version: 1.9.8\n`);
    const local = await startLocalProcess([
      '--data',
      path.join(dir, 'data'),
      '--config',
      config,
      '--terraform',
      version,
    ]);
    processes.push(local);
    expect(local.output()).toContain(
      `warning: tfgate.yaml asks for terraform 1.9.8 (terraform.version), but ${version} is 1.11.4`,
    );
    await commitAndPush(local.remote, { files: terraformFiles({ cluster: 'v1' }), message: 'one', branch: 'main' });
    await until('progress lines', () => (/ops: planning/.test(local.output()) ? true : undefined), 300_000);
    const progress = local
      .output()
      .split('\n')
      .filter((line) => line.includes('ops: '));
    expect(progress.length).toBeGreaterThan(0);
    for (const line of progress) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[/);
  }, 300_000);
});

// The demo's own wording (plan counts, not a fixed text) is checked with the real terraform in cli.slow.test.ts.
