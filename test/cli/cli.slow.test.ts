import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, runCli, startLocalProcess, type LocalProcess } from '../support/cli-process.js';
import { TERRAFORM_DOUBLE, until } from '../support/local-stack.js';
import { REAL_TERRAFORM } from '../support/real-terraform.js';

/** The CLI as a user runs it: exit codes and output of demo, local, runs and show. */

const NO_TERRAFORM_ENV = {
  PATH: '/usr/bin:/bin',
  HOME: process.env.HOME ?? '/tmp',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

let dirs: string[] = [];
let processes: LocalProcess[] = [];
afterEach(async () => {
  for (const p of processes) await p.stop();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  processes = [];
  dirs = [];
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-cli-'));
  dirs.push(dir);
  return dir;
}

describe('tfgate demo', () => {
  // The demo's template uses a local module, which only the real terraform speaks (the double does not).
  it.skipIf(!REAL_TERRAFORM)('exits 0 after a full tour with the terraform named by TFGATE_TERRAFORM', async () => {
    const data = await tempDir();
    const result = await runCli(['demo', '--auto-approve', '--data', data], {
      ...process.env,
      TFGATE_TERRAFORM: REAL_TERRAFORM!,
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('ops: applied');
    expect(result.stdout).toMatch(/auto-approve: POST \/approvals\/[0-9a-f]{32} → 200/);
    expect(result.stdout).toMatch(/finished: succeeded/);
    // The change is a base key of apps: both environments' plans carry it.
    expect(result.stdout).toMatch(/ops\s+applied\s+\+2 ~0 -0/);
    expect(result.stdout).toMatch(/apps\s+applied\s+\+2 ~0 -0/);
    expect(result.stdout).toContain('terraform_data.cluster, terraform_data.node_pool');
    // Issue 12.7: the demo says what the plan says (printed once terraform made it), not a fixed count.
    expect(result.stdout).not.toContain('one resource updated, one added');
    expect(result.stdout).toMatch(/ops: planned \(\+\d+ ~\d+ -\d+/);
  });

  it.skipIf(!REAL_TERRAFORM)(
    'without --auto-approve waits for a person, and the command it prints approves the run',
    async () => {
      const data = await tempDir();
      const demo = spawn(process.execPath, [CLI, 'demo', '--data', data], {
        env: { ...process.env, TFGATE_TERRAFORM: REAL_TERRAFORM! },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      demo.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      demo.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
      try {
        const command = await until(
          'the demo to wait for a person',
          () =>
            /another terminal: npx tfgate (approve [^;]+);/.exec(output)?.[1] ??
            (demo.exitCode !== null ? 'exited' : undefined),
          180_000,
        );
        expect(command, output).not.toBe('exited');
        expect(command).toContain(`--data ${data}`);
        const approved = await runCli(command.split(' '));
        expect(approved.code, approved.stderr).toBe(0);
        expect(await exited).toBe(0);
        // you@example.com is bound to the stand-in login @you in the starter's people:.
        expect(output).toMatch(/apps\s+applied\s+\+2 ~0 -0, approval approved by @you/);
      } finally {
        if (demo.exitCode === null) demo.kill('SIGTERM');
      }
    },
  );

  it('exits 2 naming the four ways to find terraform when there is none', async () => {
    const result = await runCli(['demo', '--auto-approve'], NO_TERRAFORM_ENV);
    expect(result.code).toBe(2);
    for (const way of ['--terraform', 'TFGATE_TERRAFORM', '`terraform`', '`tofu`'])
      expect(result.stderr).toContain(way);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('tfgate local', () => {
  it('refuses an invalid tfgate.yaml at start with the file, the line and the reason', async () => {
    const dir = await tempDir();
    const config = path.join(dir, 'tfgate.yaml');
    await writeFile(config, 'repositories:\n  - name: acme/infra\n    branch: main\n    enviroments: []\n');
    const result = await runCli([
      'local',
      '--config',
      config,
      '--data',
      path.join(dir, 'data'),
      '--terraform',
      TERRAFORM_DOUBLE,
      '--port',
      '0',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${config}:4:5`);
    expect(result.stderr).toContain('unknown key "enviroments"');
  });

  it('starts with a starter configuration, prints its URLs, and answers runs/show through its API', async () => {
    const dir = await tempDir();
    const local = await startLocalProcess(['--data', path.join(dir, 'data'), '--terraform', TERRAFORM_DOUBLE], {
      ...process.env,
      TFGATE_WEBHOOK_SECRET: 'from-the-environment',
    });
    processes.push(local);
    expect(local.output()).toContain('example/infrastructure: git push');
    expect(local.output()).toContain('webhook secret: from TFGATE_WEBHOOK_SECRET');
    expect(local.output()).not.toContain('from-the-environment');
    expect(await (await fetch(`${local.url}/healthz`)).text()).toBe('ok');

    // The CLI signs in with the local credential of the data directory it is pointed at.
    const data = path.join(dir, 'data');
    const runs = await runCli(['runs', '--json', '--url', local.url, '--data', data]);
    expect(runs.code).toBe(0);
    expect(JSON.parse(runs.stdout)).toEqual({ runs: [] });
    const elsewhere = await runCli(['runs', '--json', '--url', local.url, '--data', path.join(dir, 'not-the-data')]);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toContain('wants a sign-in: the local credential');
    expect(elsewhere.stdout).toBe('');
    const missing = await runCli(['show', 'no-such-run', '--url', local.url, '--data', data]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no run no-such-run');
  });
});
