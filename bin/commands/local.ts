import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { locateTerraform, terraformVersionOf, type TerraformLocation } from '../../src/terraform-locator.js';
import { ProgressTerminal, showBuildProgress } from '../../src/local-mode/progress.js';
import { startLocalStack, type LocalStack } from '../../src/local-mode/start-stack.js';
import { localCredentialFile } from '../../src/local-mode/secrets.js';
import { assertCanListen } from '../../src/local-mode/server.js';
import { CliError } from './client.js';
import { serverInfoFile } from './server-info.js';

export interface LocalOptions {
  config?: string;
  data: string;
  port: number;
  host: string;
  terraform?: string;
  webhookSecret?: string;
  unsandboxedBuilds?: boolean;
}

export { serverInfoFile };

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
 * What the start-up banner says about terraform's version. Locally the binary found is used as it is;
 * tfgate.yaml's `terraform.version` is what AWS builds install. Only a version somebody pinned can
 * disagree with the binary, and only then is there a warning (a plan made by another version may
 * differ, and state written by a newer terraform cannot be read by an older one).
 */
export async function terraformVersionNote(
  binary: string,
  pinned: string | undefined,
): Promise<{ version: string; warning?: string }> {
  const found = await terraformVersionOf(binary);
  const core = (version: string) => /^(\d+\.\d+\.\d+)/.exec(version)?.[1];
  if (!found.version) {
    return {
      version: 'version unknown',
      ...(pinned ? { warning: `${found.problem}; tfgate.yaml asks for terraform ${pinned}` } : {}),
    };
  }
  if (!pinned || core(found.version) === core(pinned)) return { version: found.version };
  return {
    version: found.version,
    warning:
      `tfgate.yaml asks for terraform ${pinned} (terraform.version), but ${binary} is ${found.version}; local ` +
      `plans and applies use ${found.version}`,
  };
}

const FOUND_BY: Record<TerraformLocation['source'], string> = {
  flag: '--terraform',
  env: 'TFGATE_TERRAFORM',
  'terraform-on-path': 'terraform on PATH',
  'tofu-on-path': 'tofu on PATH',
};

export function printBanner(
  stack: LocalStack,
  terraform: TerraformLocation,
  secretSource: string,
  version: { version: string; warning?: string },
): void {
  print(`tfgate local is running (data: ${stack.dataDir}, config: ${stack.configFile})`);
  const pinned = stack.config.terraform.version;
  print(
    `  terraform:   ${terraform.path} ${version.version} (${FOUND_BY[terraform.source]}; ` +
      `${pinned ? `tfgate.yaml pins ${pinned} for AWS builds` : 'tfgate.yaml pins no terraform.version'})`,
  );
  if (version.warning) print(`  warning: ${version.warning}`);
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
      `  ${stack.recovered.length} run(s) in flight at the last stop did not resume: each ended as its record ` +
        `says (stopped by an operator, rejected, interrupted…) and their locks were freed: ` +
        stack.recovered.join(', '),
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
  await assertCanListen(options.host, options.port);
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
    await terraformVersionNote(terraform.path, stack.config.terraform.version),
  );
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
