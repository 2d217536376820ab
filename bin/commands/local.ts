import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { locateTerraform } from '../../lambdas/core/terraform-locator.js';
import { startLocalStack, type LocalStack } from '../../lambdas/core/local/runtime.js';
import { localCredentialFile } from '../../lambdas/core/local/secrets.js';
import { CliError } from './client.js';

export interface LocalOptions {
  config?: string;
  data: string;
  port: number;
  host: string;
  terraform?: string;
  webhookSecret?: string;
}

export function serverInfoFile(dataDir: string): string {
  return path.join(path.resolve(dataDir), 'run', 'server.json');
}

const print = (line: string) => process.stdout.write(`${line}\n`);

export function printBanner(stack: LocalStack, terraform: { path: string; source: string }, secretSource: string): void {
  print(`tfgate local is running (data: ${stack.dataDir}, config: ${stack.configFile})`);
  print(`  terraform:   ${terraform.path} (${terraform.source})`);
  print(`  webhook URL: ${stack.webhookUrl}`);
  print(`  webhook secret: ${secretSource === 'generated' ? `${stack.webhookSecret} (kept in ${path.join(stack.dataDir, 'webhook-secret')})` : `from ${secretSource}`}`);
  print(`  runs page:   ${stack.url}/runs (sign in: an approver's email link is printed here${stack.githubSignIn ? ', or GitHub' : ''}; the CLI uses ${localCredentialFile(stack.dataDir)})`);
  for (const remote of stack.remotes) {
    print(`  ${remote.repository}: git push ${remote.remote} HEAD:${remote.branch}`);
  }
  if (stack.recovered.length > 0) print(`  ${stack.recovered.length} run(s) in flight at the last stop were marked interrupted and their locks freed.`);
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
      `the data directory ${dir} is not writable (${code ?? 'error'}: ${message}). tfgate local keeps its state, runs and artifacts there: make it writable, or choose another with --data.`,
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
    print,
  });
  await writeFile(serverInfoFile(stack.dataDir), JSON.stringify({ url: stack.url, pid: process.pid }));
  printBanner(stack, terraform, options.webhookSecret ? '--webhook-secret' : envSecret ? 'TFGATE_WEBHOOK_SECRET' : 'generated');
  print('Push to a remote above to start a run. Ctrl-C stops tfgate local.');
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      print('stopping…');
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await stack.close();
}
