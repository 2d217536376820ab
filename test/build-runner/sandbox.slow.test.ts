/**
 * The build sandbox with real bubblewrap (and, for the init cache, real terraform): what a sandboxed
 * command sees and keeps, and the race issue 21 found on the init-cache restore: a process the plan left
 * behind swapping `.terraform` (and what is inside it) for links to a directory of the user's while a
 * later build of the same commit restores its initialised data directory.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { spawn as nodeSpawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCommand, type SpawnFunction } from '../../src/build-runner/process.js';
import { hostSystem } from '../../src/build-runner/sandbox.js';
import { until } from '../support/poll.js';
import { createSandbox, runInProcess, type Sandbox } from './fixtures.js';

const BWRAP = '/usr/bin/bwrap';
const REAL_TERRAFORM = '/usr/local/bin/terraform';
const hasBwrap = existsSync(BWRAP) && os.platform() === 'linux';

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

let sandbox: Sandbox;
const nonces: string[] = [];
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  for (const nonce of nonces.splice(0))
    for (const pid of processesWith(nonce))
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone.
      }
  await sandbox.cleanup();
});

describe.skipIf(!hasBwrap)('a sandboxed command (real bubblewrap)', () => {
  it('is PID 1, sees only its mounts, writes only the read-write ones, and takes its setsid child along', async () => {
    const rw = path.join(sandbox.root, 'rw');
    const ro = path.join(sandbox.root, 'ro');
    const hidden = path.join(sandbox.root, 'home', '.aws');
    await mkdir(rw);
    await mkdir(ro);
    await mkdir(hidden, { recursive: true });
    await writeFile(path.join(hidden, 'credentials'), 'HIDDEN-MARKER');
    await writeFile(path.join(ro, 'file'), 'read me');
    const nonce = `tfgate-sandboxed-${randomBytes(6).toString('hex')}`;
    nonces.push(nonce);
    const script = [
      'echo "pid=$$"',
      `cat ${ro}/file; echo`,
      `echo ok > ${rw}/written && echo "rw=yes"`,
      `echo no > ${ro}/written 2>/dev/null && echo "ro=WRITABLE"`,
      `cat ${hidden}/credentials 2>/dev/null`,
      'cat /etc/shadow 2>/dev/null && echo SHADOW',
      'ls /root 2>/dev/null && echo ROOT-HOME',
      `env -i setsid sh -c 'sleep 1000; : ${nonce}' >/dev/null 2>&1 &`,
      'sleep 0.3',
      `ps -eo args 2>/dev/null | grep -c '${nonce}' || true`,
    ].join('\n');
    let out = '';
    const result = await runCommand(
      nodeSpawn as SpawnFunction,
      {
        command: '/bin/sh',
        args: ['-c', script],
        cwd: rw,
        env: { PATH: '/usr/bin:/bin' },
        sandbox: {
          bwrap: BWRAP,
          spec: {
            system: hostSystem(),
            mounts: [
              { kind: 'rw', source: rw, target: rw },
              { kind: 'ro', source: ro, target: ro },
            ],
            disableNestedUserNamespaces: true,
          },
        },
      },
      { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (out += t) } },
    );
    expect(result.exitCode, out).toBe(0);
    expect(out).toContain('pid=1\n');
    expect(out).toContain('read me');
    expect(out).toContain('rw=yes');
    expect(await readFile(path.join(rw, 'written'), 'utf8')).toBe('ok\n');
    expect(existsSync(path.join(ro, 'written'))).toBe(false);
    for (const leak of ['ro=WRITABLE', 'HIDDEN-MARKER', 'SHADOW', 'ROOT-HOME']) expect(out).not.toContain(leak);
    // The setsid child ran inside (seen by ps in the sandbox) and is gone now that the command ended.
    await until('the setsid child to be gone', () => (processesWith(nonce).length === 0 ? true : undefined), 10_000);
  });
});

const PROVIDER_PATH =
  'terraform.d/plugins/registry.terraform.io/evil/racer/1.0.0/linux_amd64/terraform-provider-racer_v1.0.0';

/**
 * A provider that, when terraform starts it at plan time, leaves a process behind (`env -i setsid`) that
 * keeps swapping the build's .terraform and what is in it for links to the victim directory.
 */
function racerProvider(victim: string, nonce: string): string {
  return `#!/bin/sh
env -i setsid sh -c 'while :; do
  for d in "$0/.terraform/providers" "$0/.terraform/modules" "$0/.terraform"; do
    rm -rf "$d" 2>/dev/null; ln -sfn "$1" "$d" 2>/dev/null
  done
done; : ${nonce}' "$PWD" "${victim}" >/dev/null 2>&1 &
sleep 1
exit 1
`;
}

async function describeTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (current: string) => {
    const info = await lstat(current);
    out.push(`${path.relative(dir, current) || '.'} ${info.mode.toString(8)} ${info.uid}:${info.gid} ${info.size}`);
    if (info.isDirectory()) for (const name of (await readdir(current)).sort()) await walk(path.join(current, name));
  };
  await walk(dir);
  return out;
}

describe.skipIf(!hasBwrap || !existsSync(REAL_TERRAFORM))('the init-cache restore race (real terraform)', () => {
  it('a process the plan left swapping .terraform for a link takes nothing, and ends with the build', async () => {
    const victim = path.join(sandbox.root, 'victim');
    await mkdir(victim);
    await writeFile(path.join(victim, 'secret'), 'VICTIM-SECRET');
    await chmod(path.join(victim, 'secret'), 0o600);
    await chmod(victim, 0o700);
    const before = await describeTree(victim);
    const nonce = `tfgate-racer-${randomBytes(6).toString('hex')}`;
    nonces.push(nonce);
    const sha = await sandbox.commit({
      'main.tf':
        'terraform {\n  required_providers {\n    racer = { source = "evil/racer", version = "1.0.0" }\n  }\n}\n' +
        'provider "racer" {}\n',
      [PROVIDER_PATH]: racerProvider(victim, nonce),
    });
    const cacheDir = path.join(sandbox.root, 'cache');
    const settings = {
      terraform: REAL_TERRAFORM,
      sandbox: JSON.stringify({ bwrap: BWRAP, disableNestedUserNamespaces: true, readOnly: [] }),
    };
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TFGATE_INIT_CACHE: cacheDir,
      CHECKPOINT_DISABLE: '1',
    };

    // Watched from outside: the racer does run while a build runs (so the test is not empty).
    let seen = 0;
    const watch = setInterval(() => (seen = Math.max(seen, processesWith(nonce).length)), 50);
    // The first plan initialises (and keeps the snapshot), then runs the provider: the racer starts.
    const first = await runInProcess(
      sandbox,
      { mode: 'plan', runId: 'run-1', environment: 'ops', sha, ...settings },
      { env },
    );
    expect(first.exitCode).toBe(1);
    expect(first.stdout).toContain('$ terraform init');
    // It did run (its link would show in the plan's own .terraform), and it ended with the build.
    await until('the racer to be gone', () => (processesWith(nonce).length === 0 ? true : undefined), 20_000);

    // Builds of the same commit restore the snapshot; each starts the racer again while later ones restore.
    const builds = await Promise.all(
      ['run-2', 'run-3', 'run-4'].map((runId) =>
        runInProcess(sandbox, { mode: 'plan', runId, environment: 'ops', sha, ...settings }, { env }),
      ),
    );
    const restored = builds.filter((b) => b.stdout.includes('terraform init skipped'));
    expect(restored.length, builds.map((b) => b.stdout + b.stderr).join('\n')).toBeGreaterThan(0);
    await until('every racer to be gone', () => (processesWith(nonce).length === 0 ? true : undefined), 20_000);
    clearInterval(watch);
    expect(seen, first.stdout + first.stderr).toBeGreaterThan(0);

    // Nothing of the victim changed, moved or was copied anywhere tfgate keeps.
    expect(await describeTree(victim)).toEqual(before);
    expect(await readFile(path.join(victim, 'secret'), 'utf8')).toBe('VICTIM-SECRET');
    const cached = await describeTree(cacheDir);
    for (const entry of cached) expect(entry).not.toMatch(/victim|secret/);
    const links: string[] = [];
    const findLinks = async (dir: string) => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isSymbolicLink()) links.push(await readlink(full));
        else if (entry.isDirectory()) await findLinks(full);
      }
    };
    await findLinks(cacheDir);
    expect(links.filter((link) => link.includes(victim))).toEqual([]);
    // The runner's work directories are gone; the victim is still the test's.
    expect((await stat(victim)).uid).toBe(process.getuid!());
    expect((await readdir(sandbox.tmpDir)).filter((name) => name.startsWith('tfgate-build-'))).toEqual([]);
    await rm(victim, { recursive: true, force: true });
  }, 240_000);
});
