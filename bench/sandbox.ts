import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { bwrapArguments, hostSystem, probeSandbox, type SandboxMount } from '../src/build-runner/sandbox.js';
import { median, round } from './common.js';
import { NOOP_TERRAFORM } from './pipeline.js';

/**
 * What the build sandbox costs (issue 21): every command a local build runs (tar, each terraform
 * command) starts in a bubblewrap sandbox of its own. Measured as the same command (noop-terraform
 * `version`: bash, no work) started directly and through bubblewrap with the mounts a plan build's
 * terraform gets, alternated, median of the differences. Per build: that times the sandboxed commands
 * of a typical build (`commandsPerBuild`: tar, then terraform init, plan and show, or apply, with init
 * skipped when the commit was initialised before). Printed by `npm run bench` (`sandboxPerBuildMs`) and
 * on its own: `node bin/run-ts.js bench/sandbox.ts [--json]`.
 */

export interface SandboxFigures {
  available: boolean;
  reason?: string;
  perCommandMs: number;
  commandsPerBuild: number;
  perBuildMs: number;
  directMs: number;
  sandboxedMs: number;
  samples: number;
}

/** tar + terraform: a plan (init, plan, show) and an apply (init skipped, apply) average 3.5 commands. */
export const TYPICAL_COMMANDS_PER_BUILD = 3.5;

function timed(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env, stdio: 'ignore' });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve(performance.now() - started) : reject(new Error(`${command} exited with ${code}`)),
    );
  });
}

export async function benchSandbox(
  samples: number,
  commandsPerBuild = TYPICAL_COMMANDS_PER_BUILD,
  bwrap = '/usr/bin/bwrap',
): Promise<SandboxFigures> {
  const probe = await probeSandbox(bwrap);
  if (!probe.available)
    return {
      available: false,
      reason: probe.reason,
      perCommandMs: 0,
      commandsPerBuild,
      perBuildMs: 0,
      directMs: 0,
      sandboxedMs: 0,
      samples: 0,
    };
  const work = await mkdtemp(path.join(os.tmpdir(), 'tfgate-bench-sandbox-'));
  try {
    const dirs = Object.fromEntries(
      await Promise.all(
        ['checkout', 'data', 'home', 'tmp', 'state', 'plugins', 'out'].map(async (name) => {
          const dir = path.join(work, name);
          await mkdir(dir);
          return [name, dir] as const;
        }),
      ),
    );
    await writeFile(path.join(dirs.checkout!, 'main.tf'), '');
    const mounts: SandboxMount[] = [
      { kind: 'ro', source: NOOP_TERRAFORM, target: NOOP_TERRAFORM },
      { kind: 'rw', source: dirs.checkout!, target: dirs.checkout! },
      { kind: 'rw', source: dirs.data!, target: path.join(dirs.checkout!, '.terraform') },
      { kind: 'rw', source: dirs.home!, target: dirs.home! },
      { kind: 'rw', source: dirs.tmp!, target: dirs.tmp! },
      { kind: 'rw', source: dirs.state!, target: dirs.state! },
      { kind: 'ro', source: dirs.plugins!, target: dirs.plugins! },
      { kind: 'rw', source: dirs.out!, target: dirs.out! },
    ];
    const args = bwrapArguments(
      {
        system: hostSystem(),
        mounts,
        cwd: dirs.checkout!,
        disableNestedUserNamespaces: probe.disableNestedUserNamespaces,
      },
      [NOOP_TERRAFORM, 'version'],
    );
    const env = { PATH: '/usr/bin:/bin', HOME: dirs.home, TMPDIR: dirs.tmp };
    // Warm-up: the first start of each reads the binaries from disk.
    await timed(NOOP_TERRAFORM, ['version'], env);
    await timed(bwrap, args, env);
    const direct: number[] = [];
    const sandboxed: number[] = [];
    const differences: number[] = [];
    for (let i = 0; i < samples; i++) {
      const plain = await timed(NOOP_TERRAFORM, ['version'], env);
      const wrapped = await timed(bwrap, args, env);
      direct.push(plain);
      sandboxed.push(wrapped);
      differences.push(wrapped - plain);
    }
    const perCommandMs = Math.max(0, median(differences));
    return {
      available: true,
      perCommandMs: round(perCommandMs, 2),
      commandsPerBuild,
      perBuildMs: round(perCommandMs * commandsPerBuild, 1),
      directMs: round(median(direct), 2),
      sandboxedMs: round(median(sandboxed), 2),
      samples,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export function renderSandboxFigures(figures: SandboxFigures): string {
  if (!figures.available) return `build sandbox: not available here (${figures.reason})`;
  return (
    `build sandbox: ${figures.perBuildMs} ms per build (goal < 20 ms): ${figures.perCommandMs} ms per sandboxed ` +
    `command × ${figures.commandsPerBuild} commands (median of ${figures.samples}: ${figures.sandboxedMs} ms ` +
    `through bubblewrap, ${figures.directMs} ms direct)`
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const figures = await benchSandbox(process.argv.includes('--quick') ? 20 : 100);
  process.stdout.write(
    process.argv.includes('--json') ? `${JSON.stringify(figures, null, 2)}\n` : `${renderSandboxFigures(figures)}\n`,
  );
}
