import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush } from '../../src/local-mode/git-repos.js';
import { localCredentialFile } from '../../src/local-mode/secrets.js';
import { CLI, runCli } from '../support/cli-process.js';
import { configYaml, TERRAFORM_DOUBLE, terraformFiles } from '../support/local-stack.js';
import { until } from './support.js';

/**
 * A read-only disk under the data directory. Tests run as root, and chmod does not stop root, so the
 * directory is bind-mounted read-only inside a private mount namespace (`unshare -rm`): the kernel
 * refuses writes with EROFS as it would on a full-disk remount, and nothing leaks outside the test.
 */

const canUnshare =
  spawnSync('unshare', [
    '-rm',
    'sh',
    '-c',
    'd=$(mktemp -d) && mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" && ! touch "$d/x" 2>/dev/null; ' +
      's=$?; rm -rf "$d"; exit $s',
  ]).status === 0;

let children: ChildProcess[] = [];
let dirs: string[] = [];
afterEach(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  children = [];
  dirs = [];
});

/** `tfgate local` in its own mount namespace, with `readOnly` bind-mounted read-only first. */
function localWithReadOnly(
  readOnly: string,
  args: string[],
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const script = `mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"`;
  const child = spawn(
    'unshare',
    ['-rm', 'sh', '-c', script, 'sh', readOnly, process.execPath, CLI, 'local', '--port', '0', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

describe.skipIf(!canUnshare)('a read-only data directory', () => {
  it('tfgate local refuses to start on it: a clear message and exit code, not a stack trace', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-ro-'));
    dirs.push(dir);
    const data = path.join(dir, 'data');
    await mkdir(data);
    const started = Date.now();
    const local = localWithReadOnly(data, ['--data', data, '--terraform', TERRAFORM_DOUBLE]);
    const code = await local.exited;
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(code).toBe(1);
    expect(local.output()).toContain(`tfgate: the data directory ${data} is not writable`);
    expect(local.output()).toMatch(/EROFS|read-only|ENOENT/i);
    expect(local.output()).not.toMatch(/\n\s+at /);
  }, 300_000);

  it('a run whose artifacts cannot be written fails saying why, and holds no lock', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-ro-'));
    dirs.push(dir);
    const data = path.join(dir, 'data');
    const artifacts = path.join(data, 'artifacts');
    await mkdir(artifacts, { recursive: true });
    const config = path.join(dir, 'tfgate.yaml');
    await writeFile(config, configYaml({ approval: false }));
    const local = localWithReadOnly(artifacts, ['--data', data, '--config', config, '--terraform', TERRAFORM_DOUBLE]);
    await until(
      'tfgate local to start',
      () =>
        /Push to a remote above/.test(local.output())
          ? true
          : local.child.exitCode !== null
            ? Promise.reject(new Error(local.output()))
            : undefined,
      180_000,
    );
    const url = /runs page:\s+(http:\/\/\S+)\/runs/.exec(local.output())![1]!;
    const remote = /: git push (\S+) HEAD:/.exec(local.output())![1]!;

    const sha = await commitAndPush(remote, {
      files: terraformFiles({ network: 'one' }),
      message: 'one',
      branch: 'main',
    });
    // The CLI's local credential signs the requests in, as `tfgate runs` does.
    const authorization = `Bearer ${(await readFile(localCredentialFile(data), 'utf8')).trim()}`;
    const run = await until(
      'the run to end',
      async () => {
        const runs = (
          (await (await fetch(`${url}/runs`, { headers: { accept: 'application/json', authorization } })).json()) as {
            runs: Array<{
              sha: string;
              status: string;
              error?: string;
              stages: Array<{ environment: string; status: string }>;
            }>;
          }
        ).runs;
        const found = runs.find((r) => r.sha === sha);
        return found && !['running', 'awaiting_approval'].includes(found.status) ? found : undefined;
      },
      180_000,
    );
    expect(run.status).toBe('failed');
    // The first write of a run is the commit's source archive (the pipeline's), then the plan's.
    expect(run.error).toMatch(/^ops: .*could not store (runs|sources)\/.*(EROFS|ENOENT|read-only)/i);
    expect(run.stages.map((s) => [s.environment, s.status])).toEqual([
      ['ops', 'failed'],
      ['apps', 'skipped'],
    ]);
    for (const env of ['ops', 'apps']) {
      const unlock = await runCli([
        'unlock',
        'acme/infrastructure',
        env,
        '--url',
        url,
        '--data',
        data,
        '--reason',
        'checking',
      ]);
      expect(unlock.stdout).toContain('was not held');
    }
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  }, 300_000);
});
