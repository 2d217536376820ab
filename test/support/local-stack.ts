import { createHmac, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, inject } from 'vitest';
import { lockKeyFor } from '../../src/adapters/dynamo/table-layout.js';
import type { ApprovalRequest } from '../../src/domain/ports.js';
import { isTerminalRun, type Run, type StageStatus } from '../../src/domain/run.js';
import { commitAndPush } from '../../src/local-mode/git-repos.js';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../src/local-mode/start-stack.js';
import { until } from './poll.js';

export { until } from './poll.js';

/** Helpers for end-to-end tests of the local stack with the terraform double. */

/**
 * How long one step of a run may take before a test says which step it waited for: generous, since a
 * loaded machine runs every process and terraform call many times slower. The slow project's test
 * timeout (vitest.config.ts) is longer, so a stuck step fails by its name.
 */
export const STEP_TIMEOUT_MS = 180_000;

export const TERRAFORM_DOUBLE = fileURLToPath(new URL('../terraform-double/terraform', import.meta.url));
export const REPOSITORY = 'acme/infrastructure';
/** The approver configYaml names, and whom decideThroughPage acts as by default. */
export const TEST_APPROVER = 'approver@example.com';

export interface TestStack extends LocalStack {
  lines: string[];
  cleanup(): Promise<void>;
}

export function configYaml(
  options: { approval?: string | false; environments?: string[]; repository?: string; extra?: string } = {},
): string {
  const environments = options.environments ?? ['ops', 'apps'];
  const last = environments[environments.length - 1];
  return [
    'repositories:',
    `  - name: ${options.repository ?? REPOSITORY}`,
    '    branch: main',
    '    environments:',
    ...environments.flatMap((env) =>
      env === last && options.approval !== false
        ? [
            `      - name: ${env}`,
            '        approval:',
            `          approvers: [${TEST_APPROVER}]`,
            `          timeout: ${options.approval ?? '1h'}`,
          ]
        : [`      - name: ${env}`],
    ),
    options.extra ?? '',
  ].join('\n');
}

export async function startTestStack(
  options: { config?: string; dataDir?: string; keepData?: boolean } & Partial<LocalStackOptions> = {},
): Promise<TestStack> {
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'tfgate-test-')));
  const configFile = path.join(dataDir, 'test-tfgate.yaml');
  await writeFile(configFile, options.config ?? configYaml());
  const lines: string[] = [];
  const { config: _config, keepData, ...rest } = options;
  const stack = await startLocalStack({
    // GitHub sign-in is off unless a test sets it up (TFGATE_GITHUB_CLIENT_* of the machine never leak in).
    signIn: { github: null },
    dataDir,
    cwd: dataDir,
    configFile,
    port: 0,
    inMemory: true,
    terraform: TERRAFORM_DOUBLE,
    retryIntervalMs: 20,
    // Bundled once per test run by test/support/global-setup.ts (absent when a file runs outside vitest's set-up).
    prebuiltRunner: inject('prebuiltRunner'),
    print: (line) => lines.push(line),
    ...rest,
  });
  credentials.set(new URL(stack.url).origin, stack.localCredential);
  return Object.assign(stack, {
    lines,
    async cleanup() {
      await stack.close();
      if (!keepData) await rm(dataDir, { recursive: true, force: true });
    },
  });
}

export function terraformFiles(resources: Record<string, string>, extra = ''): Record<string, string> {
  const blocks = Object.entries(resources).map(
    ([name, input]) => `resource "terraform_data" "${name}" {\n  input = "${input}-\${terraform.workspace}"\n}\n`,
  );
  return { 'main.tf': `${blocks.join('\n')}${extra}` };
}

/** Pushes a commit to the stack's bare repository; the post-receive hook delivers the signed push event. */
export async function pushChange(
  stack: LocalStack,
  files: Record<string, string>,
  options: { message?: string; quiet?: boolean; repository?: string; author?: { name: string; email: string } } = {},
): Promise<string> {
  const remote = stack.remotes.find((r) => r.repository === (options.repository ?? REPOSITORY));
  if (!remote) throw new Error(`no remote for ${options.repository ?? REPOSITORY}`);
  return commitAndPush(remote.remote, {
    files,
    message: options.message ?? 'change',
    branch: remote.branch,
    ...(options.quiet ? { quiet: true } : {}),
    ...(options.author ? { author: options.author } : {}),
  });
}

export async function runForSha(stack: LocalStack, sha: string, timeoutMs = STEP_TIMEOUT_MS): Promise<Run> {
  return until(
    `a run for ${sha.slice(0, 8)}`,
    async () => (await stack.runs.list({ limit: 100 })).find((run) => run.sha === sha),
    timeoutMs,
  );
}

export async function waitForRun(stack: LocalStack, runId: string, timeoutMs = STEP_TIMEOUT_MS): Promise<Run> {
  return until(
    `run ${runId} to finish`,
    async () => {
      const run = await stack.runs.get(runId);
      return run && isTerminalRun(run.status) ? run : undefined;
    },
    timeoutMs,
  );
}

export async function waitForStage(
  stack: LocalStack,
  runId: string,
  environment: string,
  status: StageStatus,
  timeoutMs = STEP_TIMEOUT_MS,
): Promise<Run> {
  return until(
    `run ${runId} ${environment} to be ${status}`,
    async () => {
      const run = await stack.runs.get(runId);
      return run?.stages.find((s) => s.environment === environment)?.status === status ? run : undefined;
    },
    timeoutMs,
  );
}

/** Resolves with the next approval request the stack's notifier announces. */
export function nextApproval(stack: LocalStack, timeoutMs = STEP_TIMEOUT_MS): Promise<ApprovalRequest> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stack.runs.events.off('approval', onApproval);
      reject(new Error('timed out waiting for an approval request'));
    }, timeoutMs);
    const onApproval = (request: ApprovalRequest) => {
      clearTimeout(timer);
      stack.runs.events.off('approval', onApproval);
      resolve(request);
    };
    stack.runs.events.on('approval', onApproval);
  });
}

/** The local credential of each running test stack, by origin: what the tfgate CLI on that machine presents. */
const credentials = new Map<string, string>();

/** For a tfgate local started as a process: the credential its data directory holds, for operatorHeaders. */
export function rememberOperatorCredential(url: string, credential: string): void {
  credentials.set(new URL(url).origin, credential);
}

/** Headers that sign a request in as the local operator (the CLI's credential). */
export function operatorHeaders(stackOrUrl: LocalStack | string): Record<string, string> {
  const origin = new URL(typeof stackOrUrl === 'string' ? stackOrUrl : stackOrUrl.url).origin;
  const credential = credentials.get(origin);
  if (!credential) throw new Error(`no test stack at ${origin}`);
  return { authorization: `Bearer ${credential}` };
}

/**
 * Decides through the approval page with the local credential, as `tfgate approve --as` does: GET
 * the page, POST its form. `as` defaults to the gate's only approver.
 */
export async function decideThroughPage(
  link: string,
  decision: 'approve' | 'reject',
  reason?: string,
  as?: string,
): Promise<{ status: number; body: string }> {
  const headers = operatorHeaders(link);
  const page = await fetch(`${link}${as ? `?as=${encodeURIComponent(as)}` : ''}`, { headers });
  const html = await page.text();
  const token = /name="form_token" value="([^"]+)"/.exec(html)?.[1];
  if (!token)
    throw new Error(
      `no form on the approval page (${page.status}): ${/class="notice[^"]*">([^<]*)/.exec(html)?.[1] ?? ''}`,
    );
  const form = new URLSearchParams({ decision, form_token: token });
  if (reason) form.set('reason', reason);
  if (as) form.set('as', as);
  const answer = await fetch(link, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  return { status: answer.status, body: await answer.text() };
}

export async function runJson(stack: LocalStack, runId: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${stack.url}/runs/${runId}`, {
    headers: { accept: 'application/json', ...operatorHeaders(stack) },
  });
  return (await response.json()) as Record<string, unknown>;
}

export function statePath(stack: LocalStack, environment: string, repository = REPOSITORY): string {
  return path.join(
    stack.dataDir,
    'state',
    repository.replace('/', '__'),
    'terraform.tfstate.d',
    environment,
    'terraform.tfstate',
  );
}

/**
 * Sends a signed GitHub `push` event, shaped as GitHub sends it, for a commit already in the stack's
 * bare repository (pushed with `quiet`): the pusher and the commits' GitHub logins are the caller's.
 */
export async function sendPush(
  stack: LocalStack,
  sha: string,
  who: {
    pusher: string;
    pusherEmail?: string;
    author: { email: string; username?: string };
    message?: string;
    repository?: string;
    /** The branch head before this push (GitHub's `before`); absent: the push created the branch. */
    before?: string;
  },
): Promise<{ status: number; body: { runId?: string; ignored?: string } }> {
  const repository = who.repository ?? REPOSITORY;
  const commit = {
    id: sha,
    message: who.message ?? 'change',
    timestamp: new Date().toISOString(),
    author: {
      name: who.author.username ?? 'someone',
      email: who.author.email,
      ...(who.author.username ? { username: who.author.username } : {}),
    },
    committer: { name: 'GitHub', email: 'noreply@github.com', username: 'web-flow' },
  };
  const payload = JSON.stringify({
    ref: 'refs/heads/main',
    before: who.before ?? '0'.repeat(40),
    after: sha,
    created: false,
    deleted: false,
    repository: { full_name: repository, clone_url: `https://github.com/${repository}.git` },
    pusher: { name: who.pusher, email: who.pusherEmail ?? `${who.pusher}@example.com` },
    sender: { login: who.pusher },
    commits: [commit],
    head_commit: commit,
  });
  const response = await fetch(stack.webhookUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': randomUUID(),
      'x-hub-signature-256': `sha256=${createHmac('sha256', stack.webhookSecret).update(payload).digest('hex')}`,
    },
    body: payload,
  });
  return { status: response.status, body: (await response.json()) as { runId?: string; ignored?: string } };
}

/** Sends a signed GitHub `pull_request` event for a commit already in the stack's bare repository. */
export async function sendPullRequest(
  stack: LocalStack,
  sha: string,
  options: { number?: number; action?: string; repository?: string } = {},
): Promise<{ status: number; body: { runId?: string; ignored?: string } }> {
  const repository = options.repository ?? REPOSITORY;
  const payload = JSON.stringify({
    action: options.action ?? 'opened',
    number: options.number ?? 7,
    pull_request: {
      number: options.number ?? 7,
      head: { sha, ref: 'feature', repo: { full_name: repository } },
      base: { ref: 'main', repo: { full_name: repository } },
    },
    repository: { full_name: repository, clone_url: `https://github.com/${repository}.git` },
    sender: { login: 'octocat' },
  });
  const response = await fetch(stack.webhookUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'pull_request',
      'x-github-delivery': randomUUID(),
      'x-hub-signature-256': `sha256=${createHmac('sha256', stack.webhookSecret).update(payload).digest('hex')}`,
    },
    body: payload,
  });
  return { status: response.status, body: (await response.json()) as { runId?: string; ignored?: string } };
}

/** No environment lock of REPOSITORY, nor any other, is held. */
export async function expectNoLocksHeld(stack: LocalStack): Promise<void> {
  expect(await stack.stores.locks.get(lockKeyFor(REPOSITORY, 'ops'))).toBeUndefined();
  expect(await stack.stores.locks.get(lockKeyFor(REPOSITORY, 'apps'))).toBeUndefined();
  expect(await stack.stores.locks.listHeld()).toEqual([]);
}
