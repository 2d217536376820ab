import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TERRAFORM_DOUBLE } from './local-stack.js';

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
 * A terraform that is the double, slowed down (a wrapper script, since tfgate passes builds only their own variables).
 */
export async function slowTerraform(dir: string, delayMs: number): Promise<string> {
  const file = path.join(dir, 'slow-terraform');
  await writeFile(file, `#!/bin/sh\nTFGATE_DOUBLE_DELAY_MS=${delayMs} exec ${JSON.stringify(TERRAFORM_DOUBLE)} "$@"\n`);
  await chmod(file, 0o755);
  return file;
}

export async function startLocalProcess(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<LocalProcess> {
  const child = spawn(process.execPath, [CLI, 'local', '--port', '0', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (!/Push to a remote above/.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`tfgate local did not start:\n${output}`);
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
