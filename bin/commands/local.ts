import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import path from 'node:path';
import { locateTerraform } from '../../src/terraform-locator.js';
import { ProgressTerminal, showBuildProgress } from '../../src/local-mode/progress.js';
import { startLocalStack, type LocalStack } from '../../src/local-mode/start-stack.js';
import { localCredentialFile } from '../../src/local-mode/secrets.js';
import { CliError } from './client.js';

export interface LocalOptions {
  config?: string;
  data: string;
  port: number;
  host: string;
  terraform?: string;
  webhookSecret?: string;
  unsandboxedBuilds?: boolean;
}

export function serverInfoFile(dataDir: string): string {
  return path.join(path.resolve(dataDir), 'run', 'server.json');
}

/** stdout's one writer: on a terminal, printed lines go above the live status line of running builds. */
const terminal = new ProgressTerminal(process.stdout);
export const print = (line: string) => terminal.line(line);
/** Progress lines carry the time they happened (UTC, to the second). */
export const printStamped = (line: string) => print(`${new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')} ${line}`);

/** Running plans and applies with their elapsed time, until the returned function is called. */
export function showProgress(stack: LocalStack): () => void {
  const output = { isTTY: terminal.isTTY, status: (text: string) => terminal.status(text), print: printStamped };
  return showBuildProgress(stack.runs, output);
}

/**
 * tfgate.yaml's `terraform.version` is what AWS builds install; locally the binary found is used as
 * it is, so a difference is said at start (a plan made by another version may differ, and state
 * written by a newer terraform cannot be read by an older one).
 */
export async function terraformVersionWarning(binary: string, wanted: string): Promise<string | undefined> {
  let output: string;
  try {
    ({ stdout: output } = await promisify(execFile)(binary, ['version'], {
      timeout: 15_000,
      env: { ...process.env, CHECKPOINT_DISABLE: '1' },
    }));
  } catch (error) {
    return (
      `could not ask ${binary} for its version (${(error as Error).message.split('\n')[0]}); tfgate.yaml ` +
      `asks for terraform ${wanted}`
    );
  }
  const found = /v?(\d+\.\d+\.\d+)/.exec(output)?.[1];
  const core = (version: string) => /^(\d+\.\d+\.\d+)/.exec(version)?.[1];
  if (!found || core(found) === core(wanted)) return undefined;
  return (
    `tfgate.yaml asks for terraform ${wanted} (terraform.version), but ${binary} is ${found}; local plans ` +
    `and applies use ${found}`
  );
}

export function printBanner(
  stack: LocalStack,
  terraform: { path: string; source: string },
  secretSource: string,
): void {
  print(`tfgate local is running (data: ${stack.dataDir}, config: ${stack.configFile})`);
  print(`  terraform:   ${terraform.path} (${terraform.source})`);
  print(`  webhook URL: ${stack.webhookUrl}`);
  const secretFile = path.join(stack.dataDir, 'secrets', 'webhook-secret');
  const secretText =
    secretSource === 'generated' ? `${stack.webhookSecret} (kept in ${secretFile})` : `from ${secretSource}`;
  print(`  webhook secret: ${secretText}`);
  print(
    `  runs page:   ${stack.url}/runs (sign in: an approver's email link is printed ` +
      `here${stack.githubSignIn ? ', or GitHub' : ''}; the CLI uses ${localCredentialFile(stack.dataDir)})`,
  );
  for (const remote of stack.remotes) {
    print(`  ${remote.repository}: git push ${remote.remote} HEAD:${remote.branch}`);
  }
  if (stack.recovered.length > 0)
    print(
      `  ${stack.recovered.length} run(s) in flight at the last stop could not resume: marked interrupted and ` +
        `their locks freed.`,
    );
  for (const resumed of stack.resumed) {
    print(
      resumed.kind === 'approval'
        ? `  run ${resumed.runId} waits again for its ${resumed.environment} approval: ${resumed.approvalUrl}`
        : `  run ${resumed.runId} was mid-way through ${resumed.environment}: planning it again`,
    );
  }
}

/**
 * Everything tfgate local keeps (DynamoDB, artifacts, terraform state, the webhook secret) lives in
 * the data directory: a read-only or full disk is said up front in one line, instead of surfacing
 * as a stack trace from whichever write comes first.
 */
async function ensureWritable(dataDir: string): Promise<void> {
  const dir = path.resolve(dataDir);
  const probe = path.join(dir, `.tfgate-write-check-${process.pid}`);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(probe, 'ok');
    await rm(probe, { force: true });
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw new CliError(
      `the data directory ${dir} is not writable (${code ?? 'error'}: ${message}). tfgate local keeps its state, ` +
        `runs and artifacts there: make it writable, or choose another with --data.`,
      1,
    );
  }
}

export async function runLocal(options: LocalOptions): Promise<void> {
  await ensureWritable(options.data);
  const terraform = await locateTerraform(options.terraform !== undefined ? { flag: options.terraform } : {});
  const envSecret = process.env.TFGATE_WEBHOOK_SECRET || undefined;
  const webhookSecret = options.webhookSecret ?? envSecret;
  const stack = await startLocalStack({
    dataDir: options.data,
    ...(options.config ? { configFile: options.config } : {}),
    host: options.host,
    port: options.port,
    terraform: terraform.path,
    ...(webhookSecret ? { webhookSecret } : {}),
    ...(options.unsandboxedBuilds ? { unsandboxedBuilds: true } : {}),
    print: printStamped,
  });
  await writeFile(serverInfoFile(stack.dataDir), JSON.stringify({ url: stack.url, pid: process.pid }));
  printBanner(
    stack,
    terraform,
    options.webhookSecret ? '--webhook-secret' : envSecret ? 'TFGATE_WEBHOOK_SECRET' : 'generated',
  );
  const versionWarning = await terraformVersionWarning(terraform.path, stack.config.terraform.version);
  if (versionWarning) print(`  warning: ${versionWarning}`);
  print('Push to a remote above to start a run. Ctrl-C stops tfgate local.');
  const stopProgress = showProgress(stack);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      // A second signal means now: whatever close() still waits for is given up.
      const now = () => process.exit(130);
      process.once('SIGINT', now);
      process.once('SIGTERM', now);
      stopProgress();
      print('stopping…');
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  // One signal is enough: builds are stopped and runs in flight are left as they are for the next
  // start to resume (close() does that before anything else), and the process ends within STOP_DEADLINE_MS whatever is
  // left
  // (GitHub feedback still retrying, keep-alive sockets, timers of the waits that were cut short).
  const closed = await Promise.race([
    stack.close().then(() => true),
    new Promise<false>((resolve) => setTimeout(() => resolve(false), STOP_DEADLINE_MS).unref()),
  ]);
  print(
    closed ? 'stopped.' : `stopped after ${STOP_DEADLINE_MS / 1000} s; some GitHub feedback may not have been sent.`,
  );
  process.exit(0);
}

const STOP_DEADLINE_MS = 4_000;
