import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TERRAFORM_DOUBLE } from './local-stack.js';
import { untilFileExists } from './poll.js';

/** Runs the real `tfgate` CLI as a child process, as a user would. */

export const CLI = fileURLToPath(new URL('../../bin/tfgate.js', import.meta.url));

export interface LocalProcess {
  child: ChildProcess;
  output: () => string;
  url: string;
  remote: string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * A terraform that is the double, but waits at a gate while the test holds it: a build can be caught in
 * the middle for certain (the wrapper says it is waiting), instead of hoping a slow one is still running.
 * The gate directory is open to every account, since builds may run terraform as `nobody`.
 */
export interface HeldTerraform {
  file: string;
  /** Every terraform call from now on waits at the gate. */
  hold(): Promise<void>;
  /** Resolves once a call is waiting at the gate. */
  untilWaiting(timeoutMs?: number): Promise<void>;
  release(): Promise<void>;
}

export async function heldTerraform(dir: string): Promise<HeldTerraform> {
  const gate = path.join(dir, 'terraform-gate');
  await mkdir(gate, { recursive: true });
  await chmod(gate, 0o777);
  const hold = path.join(gate, 'hold');
  const waiting = path.join(gate, 'waiting');
  const file = path.join(dir, 'held-terraform');
  await writeFile(
    file,
    [
      '#!/bin/sh',
      `if [ -e ${JSON.stringify(hold)} ]; then`,
      `  : > ${JSON.stringify(waiting)}`,
      `  while [ -e ${JSON.stringify(hold)} ]; do sleep 0.05; done`,
      'fi',
      `exec ${JSON.stringify(TERRAFORM_DOUBLE)} "$@"`,
      '',
    ].join('\n'),
  );
  await chmod(file, 0o755);
  return {
    file,
    async hold() {
      await rm(waiting, { force: true });
      await writeFile(hold, '');
    },
    untilWaiting: (timeoutMs = 240_000) => untilFileExists(waiting, timeoutMs),
    async release() {
      await rm(hold, { force: true });
    },
  };
}

/** How long `tfgate local` may take to start: generous, since a loaded machine starts Node slowly. */
const START_TIMEOUT_MS = 240_000;

export async function startLocalProcess(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<LocalProcess> {
  const child = spawn(process.execPath, [CLI, 'local', '--port', '0', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!/Push to a remote above/.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      // Not left running behind a failed test.
      if (child.exitCode === null) child.kill('SIGKILL');
      throw new Error(`tfgate local did not start within ${START_TIMEOUT_MS / 1000} s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const url = /runs page:\s+(http:\/\/\S+)\/runs/.exec(output)![1]!;
  const remote = /: git push (\S+) HEAD:/.exec(output)![1]!;
  return {
    child,
    output: () => output,
    url,
    remote,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
