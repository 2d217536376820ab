import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isTerminalRun, type Run } from '../src/domain/run.js';
import { bareRepositoryPath, ensureBareRepository, git, SKIP_HOOK_ENV } from '../src/local-mode/git-repos.js';
import { startLocalStack, type LocalStack } from '../src/local-mode/start-stack.js';
import { measureProcess, pushHeaders, pushPayload, signed } from './common.js';

/**
 * Parts 4 to 6: the local stack (the same definition file, handlers and stores as `tfgate local`) with
 * a terraform that does no work, so what is left is tfgate's own time; and the same runs counted the
 * way AWS bills them: states entered (Standard workflows bill every state transition), Lambda
 * invocations, DynamoDB request units.
 */

export const NOOP_TERRAFORM = fileURLToPath(new URL('./noop-terraform', import.meta.url));
const SECRET = 'bench-webhook-secret';
const DEFINITION = JSON.parse(
  await readFile(fileURLToPath(new URL('../statemachine/pipeline.asl.json', import.meta.url)), 'utf8'),
) as { States: Record<string, { Type: string; Resource?: string }> };
const BUILD_STATES = new Set(
  Object.entries(DEFINITION.States)
    .filter(([, s]) => s.Resource?.includes(':codebuild:'))
    .map(([name]) => name),
);
const LAMBDA_STATES = new Set(
  Object.entries(DEFINITION.States)
    .filter(([, s]) => s.Resource?.includes(':lambda:invoke'))
    .map(([name]) => name),
);

// ---------------------------------------------------------------- counting

interface StateEntry {
  execution: string;
  state: string;
  at: number;
}

/**
 * DynamoDB calls and the request units DynamoDB reports for them (dynalite computes them by item size, as DynamoDB
 * does).
 */
export interface DynamoCounts {
  calls: Record<string, number>;
  readUnits: number;
  writeUnits: number;
}

const WRITE_COMMANDS = new Set([
  'PutCommand',
  'UpdateCommand',
  'DeleteCommand',
  'BatchWriteCommand',
  'TransactWriteCommand',
]);

let dynamoCounts: DynamoCounts = { calls: {}, readUnits: 0, writeUnits: 0 };

export function resetDynamoCounts(): DynamoCounts {
  const previous = dynamoCounts;
  dynamoCounts = { calls: {}, readUnits: 0, writeUnits: 0 };
  return previous;
}

let counting = false;

/**
 * Every store goes through a DocumentClient, so counting there sees every call the functions would make
 * in AWS. Each call asks for ReturnConsumedCapacity; where the answer carries none (a refused
 * conditional write, an operation dynalite does not meter) one unit is counted, DynamoDB's minimum.
 */
export function countDynamoCalls(): void {
  if (counting) return;
  counting = true;
  type Send = (
    this: DynamoDBDocumentClient,
    command: { constructor: { name: string }; input: Record<string, unknown> },
    ...rest: unknown[]
  ) => Promise<Record<string, unknown>>;
  const prototype = DynamoDBDocumentClient.prototype as unknown as { send: Send };
  const inherited = (Object.getPrototypeOf(DynamoDBDocumentClient.prototype) as { send: Send }).send;
  prototype.send = async function (command, ...rest) {
    const name = command.constructor.name;
    const isWrite = WRITE_COMMANDS.has(name);
    if (/^(Get|Put|Update|Delete|Query|Scan|Batch|Transact)/.test(name))
      command.input.ReturnConsumedCapacity ??= 'TOTAL';
    dynamoCounts.calls[name] = (dynamoCounts.calls[name] ?? 0) + 1;
    let units: number | undefined;
    try {
      const output = await inherited.call(this, command, ...rest);
      const consumed = output.ConsumedCapacity as
        | { CapacityUnits?: number }
        | Array<{ CapacityUnits?: number }>
        | undefined;
      units = Array.isArray(consumed)
        ? consumed.reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0)
        : consumed?.CapacityUnits;
      return output;
    } finally {
      const billed = units && units > 0 ? units : 1;
      if (isWrite) dynamoCounts.writeUnits += billed;
      else dynamoCounts.readUnits += billed;
    }
  };
}

// ---------------------------------------------------------------- the stack

export interface BenchStack {
  stack: LocalStack;
  states: StateEntry[];
  /** The build logs' directory: noop-terraform's timing lines are in there. */
  terraformLog: string;
  /** HTTP requests to the approval pages (the approvals function's invocations in AWS). */
  approvalRequests: { count: number };
  /** Per repository, commits not pushed yet (oldest first): one run per commit, so each push needs its own. */
  commits: Map<string, string[]>;
  close(): Promise<void>;
}

export function configFor(repositories: string[], approval: boolean): string {
  return [
    'repositories:',
    ...repositories.flatMap((name) => [
      `  - name: ${name}`,
      '    branch: main',
      '    environments:',
      '      - name: ops',
      '      - name: apps',
      ...(approval ? ['        approval: { approvers: [bench@example.com], timeout: 1h }'] : []),
    ]),
    '',
  ].join('\n');
}

/**
 * `count` commits on `branch`, each changing main.tf, pushed at once without starting a run (the hook
 * is told to stay quiet). tfgate starts one deploy run per commit, so every measured push needs a
 * commit of its own.
 */
export async function seedCommits(
  bare: string,
  branch: string,
  count: number,
  files?: Record<string, string>,
): Promise<string[]> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'tfgate-bench-work-'));
  // A teammate's commits: the approver (bench@example.com) may not approve a change of their own.
  const identity = {
    GIT_AUTHOR_NAME: 'bench author',
    GIT_AUTHOR_EMAIL: 'author@example.com',
    GIT_COMMITTER_NAME: 'bench author',
    GIT_COMMITTER_EMAIL: 'author@example.com',
  };
  try {
    await git(['init', '--quiet', `--initial-branch=${branch}`, work]);
    const shas: string[] = [];
    for (let i = 0; i < count; i++) {
      // Given files: all in the first commit, the later ones empty (same tree, a sha of their own).
      const tree = files
        ? i === 0
          ? files
          : {}
        : { 'main.tf': `# bench commit ${i}\nresource "terraform_data" "noop" {}\n` };
      for (const [name, body] of Object.entries(tree)) {
        await mkdir(path.dirname(path.join(work, name)), { recursive: true });
        await writeFile(path.join(work, name), body);
      }
      await git(['add', '--all'], { cwd: work });
      await git(['commit', '--quiet', '--allow-empty', '-m', `bench ${i}`], { cwd: work, env: identity });
      shas.push((await git(['rev-parse', 'HEAD'], { cwd: work })).trim());
    }
    await git(['push', '--quiet', '--force', bare, `HEAD:refs/heads/${branch}`], {
      cwd: work,
      env: { [SKIP_HOOK_ENV]: '1' },
    });
    return shas;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Commits go into the bare repositories before the stack starts: no hook target yet, so no run is started by them. */
export interface BenchStackOptions {
  approval: boolean;
  commitsPerRepository: number;
  /** The terraform builds run; noop-terraform unless given. */
  terraform?: string;
  /** The repository's files (the first commit); a one-resource main.tf changed by every commit unless given. */
  files?: Record<string, string>;
}

export async function startBenchStack(repositories: string[], options: BenchStackOptions): Promise<BenchStack> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-bench-'));
  const configFile = path.join(dataDir, 'bench-tfgate.yaml');
  await writeFile(configFile, configFor(repositories, options.approval));
  const commits = new Map<string, string[]>();
  for (const repository of repositories) {
    const bare = await ensureBareRepository(dataDir, repository, 'main');
    commits.set(repository, await seedCommits(bare, 'main', options.commitsPerRepository, options.files));
  }
  // Builds run in a sandbox that shows them no file of the bench's: noop-terraform's timings go to the
  // build logs, read back from the data directory.
  const terraformLog = path.join(dataDir, 'logs');
  const states: StateEntry[] = [];
  const stack = await startLocalStack({
    dataDir,
    cwd: dataDir,
    configFile,
    port: 0,
    inMemory: true,
    terraform: options.terraform ?? NOOP_TERRAFORM,
    webhookSecret: SECRET,
    buildEnv: { NOOP_TERRAFORM_LOG: 'stderr' },
    github: { credentials: null },
    reconcileIntervalMs: false,
    print: () => undefined,
    onStateEntered: (execution, state) => states.push({ execution, state, at: performance.now() }),
  });
  const approvalRequests = { count: 0 };
  // Approval at once, through the page and its form, as a person's browser does it.
  stack.runs.events.on('approval', (request) => {
    const link = request.url;
    if (!link) return;
    void (async () => {
      approvalRequests.count += 2;
      // The local credential, as `tfgate approve` presents it (the gate's only approver is implied).
      const auth = { authorization: `Bearer ${stack.localCredential}` };
      const page = await (await fetch(link, { headers: auth })).text();
      const token = /name="form_token" value="([^"]+)"/.exec(page)?.[1];
      if (!token) throw new Error('the approval page has no form');
      const answer = await fetch(link, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ decision: 'approve', form_token: token }).toString(),
      });
      if (answer.status !== 200) throw new Error(`approving answered ${answer.status}`);
    })().catch((error: unknown) => process.stderr.write(`bench: approval failed: ${String(error)}\n`));
  });
  return {
    stack,
    states,
    terraformLog,
    approvalRequests,
    commits,
    async close() {
      await stack.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Resolves with the run once it is terminal and its execution has ended; no polling, so nothing extra is read from the
 * stores.
 */
export function finished(bench: BenchStack, runId: string, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      bench.stack.runs.events.off('change', onChange);
      reject(new Error(`run ${runId} did not finish within ${timeoutMs / 1000}s`));
    }, timeoutMs);
    const onChange = ({ run }: { run: Run }) => {
      if (run.id !== runId || !isTerminalRun(run.status)) return;
      clearTimeout(timer);
      bench.stack.runs.events.off('change', onChange);
      bench.stack.engine.wait(run.executionName).then(() => resolve(run), reject);
    };
    bench.stack.runs.events.on('change', onChange);
  });
}

function nextCommit(bench: BenchStack, repository: string): string {
  const sha = bench.commits.get(repository)?.shift();
  if (!sha) throw new Error(`the bench seeded too few commits for ${repository}`);
  return sha;
}

export async function sendPush(bench: BenchStack, repository: string): Promise<string> {
  const body = JSON.stringify(pushPayload(repository, 'main', nextCommit(bench, repository)));
  const response = await fetch(bench.stack.webhookUrl, { method: 'POST', headers: pushHeaders(body, SECRET), body });
  const answer = (await response.json()) as { runId?: string };
  if (response.status !== 202 || !answer.runId)
    throw new Error(`the push was not started: ${response.status} ${JSON.stringify(answer)}`);
  return answer.runId;
}

export async function sendPullRequest(bench: BenchStack, repository: string): Promise<string> {
  const sha = nextCommit(bench, repository);
  const body = JSON.stringify({
    action: 'opened',
    number: 7,
    pull_request: {
      number: 7,
      head: { sha, ref: 'feature', repo: { full_name: repository } },
      base: { ref: 'main', repo: { full_name: repository } },
    },
    repository: { full_name: repository, clone_url: `https://github.com/${repository}.git` },
    sender: { login: 'octocat' },
  });
  const response = await fetch(bench.stack.webhookUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'pull_request',
      'x-github-delivery': randomUUID(),
      'x-hub-signature-256': signed(body, SECRET),
    },
    body,
  });
  const answer = (await response.json()) as { runId?: string };
  if (response.status !== 202 || !answer.runId)
    throw new Error(`the pull request was not started: ${response.status} ${JSON.stringify(answer)}`);
  return answer.runId;
}

/** Terraform invocations that started at or after `sinceEpochMs`: their count and total time. */
/** noop-terraform's `<start µs> <end µs> <subcommand>` lines, from every build log so far. */
async function timingLines(bench: BenchStack): Promise<string[]> {
  const lines: string[] = [];
  const entries = await readdir(bench.terraformLog, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const text = await readFile(path.join(entry.parentPath, entry.name), 'utf8').catch(() => '');
    for (const line of text.split('\n'))
      if (line.startsWith('noop-terraform-timing ')) lines.push(line.slice('noop-terraform-timing '.length));
  }
  return lines;
}

export async function terraformTime(
  bench: BenchStack,
  sinceEpochMs: number,
): Promise<{ invocations: number; ms: number }> {
  const lines = await timingLines(bench);
  let invocations = 0;
  let micros = 0;
  for (const line of lines) {
    const [start, end] = line.split(' ').map(Number) as [number, number];
    if (start / 1000 < sinceEpochMs) continue;
    invocations += 1;
    micros += end - start;
  }
  return { invocations, ms: micros / 1000 };
}

export interface StateFigures {
  transitions: number;
  lambdaTaskInvocations: number;
  builds: number;
  /** Time spent in build states (the build runner subprocess: checkout, terraform, artifacts). */
  buildStateMs: number;
  /** Time spent waiting for the approval (the decision through the page, given at once). */
  approvalWaitMs: number;
  byState: Record<string, number>;
}

/**
 * States entered by one execution, and how long the build and approval states lasted (until the next state was
 * entered).
 */
export function stateFigures(bench: BenchStack, executionName: string, endedAt: number): StateFigures {
  const entries = bench.states.filter((entry) => entry.execution === executionName);
  const byState: Record<string, number> = {};
  let buildStateMs = 0;
  let approvalWaitMs = 0;
  entries.forEach((entry, index) => {
    byState[entry.state] = (byState[entry.state] ?? 0) + 1;
    const next = entries[index + 1]?.at ?? endedAt;
    if (BUILD_STATES.has(entry.state)) buildStateMs += next - entry.at;
    if (entry.state === 'AwaitApproval') approvalWaitMs += next - entry.at;
  });
  return {
    transitions: entries.length,
    lambdaTaskInvocations: entries.filter((entry) => LAMBDA_STATES.has(entry.state)).length,
    builds: entries.filter((entry) => BUILD_STATES.has(entry.state)).length,
    buildStateMs,
    approvalWaitMs,
    byState,
  };
}

/** When the run's first `terraform plan` started (noop-terraform's log), in ms after `sinceEpochMs`. */
export async function firstPlanStartedMs(bench: BenchStack, sinceEpochMs: number): Promise<number | undefined> {
  const lines = await timingLines(bench);
  const starts = lines
    .map((line) => line.split(' '))
    .filter(([start, , command]) => command === 'plan' && Number(start) / 1000 >= sinceEpochMs)
    .map(([start]) => Number(start) / 1000 - sinceEpochMs);
  return starts.length ? Math.min(...starts) : undefined;
}

/** Within each repository and environment, applies happen one at a time and in push order (the sequence). */
export function applyOrderProblems(runs: Run[]): string[] {
  const problems: string[] = [];
  const byRepository = new Map<string, Run[]>();
  for (const run of runs) byRepository.set(run.repository, [...(byRepository.get(run.repository) ?? []), run]);
  for (const [repository, list] of byRepository) {
    list.sort((a, b) => a.sequence - b.sequence);
    for (const environment of ['ops', 'apps']) {
      let previousEnd = '';
      for (const run of list) {
        const transitions = run.stages.find((stage) => stage.environment === environment)?.transitions ?? [];
        const applying = transitions.find((t) => t.status === 'applying')?.at;
        const applied = transitions.find((t) => t.status === 'applied')?.at;
        // A run that failed before applying is counted apart (succeeded); order is about the applies made.
        if (!applying || !applied) continue;
        if (applying < previousEnd)
          problems.push(
            `${repository} ${environment}: run ${run.sequence} applied before the previous push finished applying`,
          );
        previousEnd = applied;
      }
    }
  }
  return problems;
}

/** What one push through the repository's real post-receive hook cost: the hook process, start to exit. */
export interface HookPush {
  runId: string;
  wallMs: number;
  cpuMs: number;
}

/**
 * A push as a person makes it: the bare repository's own post-receive hook (what `git push` runs once the
 * commit is in) with git's stdin line for the next seeded commit. The hook exits once the webhook answered.
 */
export async function pushThroughHook(bench: BenchStack, repository: string): Promise<HookPush> {
  const sha = nextCommit(bench, repository);
  const bare = bareRepositoryPath(bench.stack.dataDir, repository);
  const before = (await git(['--git-dir', bare, 'rev-parse', `${sha}^`]).catch(() => '0'.repeat(40))).trim();
  const cost = await measureProcess([path.join(bare, 'hooks', 'post-receive')], {
    input: `${before} ${sha} refs/heads/main\n`,
    // The pusher is the machine's user (the hook says so); the bench approves as the local credential, and a
    // person may not approve their own change: the push comes from another user, as a teammate's would.
    env: { ...process.env, GIT_DIR: bare, USER: 'bench-pusher', LOGNAME: 'bench-pusher' },
    cwd: bare,
  });
  const runId = /run (\S+) started/.exec(cost.stderr)?.[1];
  if (cost.code !== 0 || !runId) throw new Error(`the hook started no run (exit ${cost.code}): ${cost.stderr}`);
  return { runId, wallMs: cost.wallMs, cpuMs: cost.cpuMs };
}
