import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commitAndPush } from '../../src/local-mode/git-repos.js';
import { localCredentialFile } from '../../src/local-mode/secrets.js';
import { startLocalProcess, type LocalProcess } from '../support/cli-process.js';
import { configYaml, TERRAFORM_DOUBLE, until } from '../support/local-stack.js';

/**
 * Issue 12 point 6: a build runs in its own process group with its own tfgate-build-* directory;
 * `kill -9` of tfgate local in the middle of an apply leaves neither behind once it starts again. With the
 * sandbox (issue 21) the provisioner's background process ends with terraform's namespace already.
 */

const TERRAFORM = existsSync('/usr/local/bin/terraform') ? '/usr/local/bin/terraform' : TERRAFORM_DOUBLE;

let processes: LocalProcess[] = [];
let dirs: string[] = [];
let strays: number[] = [];
afterEach(async () => {
  for (const p of processes) await p.stop('SIGKILL');
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone, as it should be.
    }
  }
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  processes = [];
  dirs = [];
  strays = [];
});

/** Alive and not a zombie waiting for a parent that will never reap it (as in a container without init). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'latin1').includes(marker)) found.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

const buildDirs = async (dir: string) => (await readdir(dir)).filter((name) => name.startsWith('tfgate-build-'));

describe('tfgate local killed mid-apply', () => {
  it('leaves no build directory and no build process after its next start', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-reap-'));
    dirs.push(dir);
    const tmp = path.join(dir, 'tmp');
    await mkdir(tmp);
    const config = path.join(dir, 'tfgate.yaml');
    await writeFile(config, configYaml({ approval: false, environments: ['ops'] }));
    const marker = `tfgate-cleanup-${Date.now()}`;
    const env = { ...process.env, TMPDIR: tmp };
    const args = ['--data', path.join(dir, 'data'), '--config', config, '--terraform', TERRAFORM];

    // The provisioner starts a background process the first time only (the resumed run's apply is quick):
    // TF_VAR_first is set for the first tfgate local, not for the second.
    const first = await startLocalProcess(args, { ...env, TF_VAR_first: 'yes' });
    processes.push(first);
    const main = [
      'variable "first" {',
      '  type    = string',
      '  default = "no"',
      '}',
      'resource "terraform_data" "slow" {',
      '  input = "v1"',
      '  provisioner "local-exec" {',
      `    command = "if [ \${var.first} = yes ]; then sh -c 'sleep 120; : ${marker}' & wait; fi"`,
      '  }',
      '}',
      '',
    ].join('\n');
    await commitAndPush(first.remote, { files: { 'main.tf': main }, message: 'slow', branch: 'main' });
    const sleeper = await until('the provisioner to start its sleep', () => processesWith(marker)[0], 180_000);
    strays.push(sleeper);
    const leftBehind = await buildDirs(tmp);
    expect(leftBehind.length).toBeGreaterThan(0);
    expect(isRunning(sleeper)).toBe(true);

    expect(await first.stop('SIGKILL')).toBe(null);
    // The runner notices its parent is gone and stops terraform, but the provisioner's child and the
    // build directory outlive it: they are what the next start must clean.
    const second = await startLocalProcess(args, env);
    processes.push(second);
    expect(isRunning(sleeper)).toBe(false);
    for (const name of leftBehind) expect(existsSync(path.join(tmp, name))).toBe(false);
    expect(second.output()).toMatch(/cleaned up \d+ build\(s\) left by the last stop/);
    const records = await readdir(path.join(dir, 'data', 'run', 'builds')).catch(() => []);
    expect(records.filter((name) => leftBehind.some((left) => name.startsWith(left)))).toEqual([]);

    // The resumed run plans and applies again; once it is done nothing of any build is left.
    // The list is behind sign-in: the local credential the CLI would present signs the request in.
    const credential = (await readFile(localCredentialFile(path.join(dir, 'data')), 'utf8')).trim();
    await until(
      'the resumed run to finish',
      async () => {
        const response = await fetch(`${second.url}/runs`, {
          headers: { accept: 'application/json', authorization: `Bearer ${credential}` },
        });
        expect(response.status).toBe(200);
        const runs = ((await response.json()) as { runs: Array<{ status: string }> }).runs;
        return runs[0] && !['running', 'awaiting_approval'].includes(runs[0].status) ? runs[0] : undefined;
      },
      180_000,
    );
    expect(await buildDirs(tmp)).toEqual([]);
    expect(await readdir(path.join(dir, 'data', 'run', 'builds'))).toEqual([]);
  }, 300_000);
});
