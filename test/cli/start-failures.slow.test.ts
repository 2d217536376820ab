import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bareRepositoryPath, commitAndPush } from '../../src/local-mode/git-repos.js';
import { localCredentialFile } from '../../src/local-mode/secrets.js';
import { CLI, runCli, startLocalProcess, type LocalProcess } from '../support/cli-process.js';
import { configYaml, REPOSITORY, TERRAFORM_DOUBLE, terraformFiles, until } from '../support/local-stack.js';

/**
 * Issue 23 point 5: a busy port is one line, `tfgate local | head -1` leaves the server running, a
 * configuration that pins no terraform.version gets no version warning, and run ids are taken by
 * unique prefix.
 */

let cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  cleanups = [];
});

async function scratch(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-start-'));
  await chmod(dir, 0o755);
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('tfgate local starting', () => {
  it('says a busy port in one line, with no stack trace, and starts nothing', async () => {
    const dir = await scratch();
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => busy.close(resolve)));
    const { port } = busy.address() as net.AddressInfo;
    const result = await runCli([
      'local',
      '--port',
      String(port),
      '--data',
      path.join(dir, 'data'),
      '--terraform',
      TERRAFORM_DOUBLE,
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toEqual([
      `tfgate: port ${port} on 127.0.0.1 is already in use (another tfgate local?): stop that, or choose another ` +
        'port with --port (--port 0 picks a free one)',
    ]);
  }, 60_000);

  it('keeps serving when the reader of its output goes away (tfgate local | head -1)', async () => {
    const dir = await scratch();
    const config = path.join(dir, 'tfgate.yaml');
    await writeFile(config, configYaml({ approval: false }));
    const dataDir = path.join(dir, 'data');
    // A real `head -1` reads the first line and exits; tfgate local's stdout is the pipe into it.
    const head = spawn('head', ['-1'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let firstLine = '';
    head.stdout.on('data', (chunk: Buffer) => (firstLine += chunk.toString('utf8')));
    const headDone = new Promise((resolve) => head.once('exit', resolve));
    const local = spawn(
      process.execPath,
      [CLI, 'local', '--port', '0', '--data', dataDir, '--config', config, '--terraform', TERRAFORM_DOUBLE],
      { stdio: ['ignore', head.stdin, 'pipe'] },
    );
    head.stdin.destroy();
    let stderr = '';
    local.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    cleanups.push(async () => {
      if (local.exitCode === null) local.kill('SIGKILL');
    });
    await headDone;
    expect(firstLine.trim().length).toBeGreaterThan(0);

    const info = await until(
      'the server to say where it listens',
      async () =>
        (JSON.parse(await readFile(path.join(dataDir, 'run', 'server.json'), 'utf8').catch(() => 'null')) as {
          url: string;
        } | null) ?? undefined,
      60_000,
    );
    const credential = (await readFile(localCredentialFile(dataDir), 'utf8')).trim();
    // A push makes it print a great deal more into the closed pipe; it must carry the run through regardless.
    const sha = await commitAndPush(bareRepositoryPath(dataDir, REPOSITORY), {
      files: terraformFiles({ cluster: 'v1' }),
      message: 'After head exited',
      branch: 'main',
    });
    const done = await until(
      'the run to succeed',
      async () => {
        const response = await fetch(`${info.url}/runs`, {
          headers: { accept: 'application/json', authorization: `Bearer ${credential}` },
        });
        const runs = ((await response.json()) as { runs: Array<{ sha: string; status: string }> }).runs;
        const run = runs.find((r) => r.sha === sha);
        return run?.status === 'succeeded' ? run : undefined;
      },
      120_000,
    );
    expect(done.status).toBe('succeeded');
    expect(local.exitCode).toBe(null);
    expect((await fetch(`${info.url}/healthz`)).status).toBe(200);
    expect(stderr).not.toContain('EPIPE');
  }, 180_000);

  it('names the terraform it uses and its version, and warns about none when tfgate.yaml pins no version', async () => {
    const dir = await scratch();
    const config = path.join(dir, 'tfgate.yaml');
    await writeFile(config, configYaml({ approval: false }));
    expect(await readFile(config, 'utf8')).not.toContain('version');
    const terraform = path.join(dir, 'terraform');
    await writeFile(
      terraform,
      `#!/bin/sh\nTFGATE_DOUBLE_VERSION=1.11.4 exec ${JSON.stringify(TERRAFORM_DOUBLE)} "$@"\n`,
      {
        mode: 0o755,
      },
    );
    const local: LocalProcess = await startLocalProcess([
      '--data',
      path.join(dir, 'data'),
      '--config',
      config,
      '--terraform',
      terraform,
    ]);
    cleanups.push(() => local.stop('SIGKILL'));
    expect(local.output()).toContain(
      `terraform:   ${terraform} 1.11.4 (--terraform; tfgate.yaml pins no terraform.version)`,
    );
    expect(local.output()).not.toContain('warning');
    expect(local.output()).not.toContain('asks for terraform');

    // Run ids by prefix: too short, unknown, and (in operator-stop.slow.test.ts) a unique one.
    const short = await runCli(['show', 'abc', '--url', local.url, '--data', path.join(dir, 'data')]);
    expect(short.code).not.toBe(0);
    expect(short.stderr).toContain('a prefix of at least 8 characters');
    const unknown = await runCli(['show', 'ffffffff', '--url', local.url, '--data', path.join(dir, 'data')]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('no run ffffffff (no run id starts with it)');
  }, 120_000);
});
