import { existsSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { findRepository, loadConfigFile, type TfgateConfig } from '../config/load.js';
import type { FeedbackRunStore, RetryPolicy } from '../domain/feedback.js';
import { EnvironmentLocks } from '../domain/locks.js';
import { systemClock, type Clock, type Notifier, type SourceArchiver, type TaskCallbacks } from '../domain/ports.js';
import type { DynamoStores } from '../adapters/dynamo/index.js';
import { createSignIn, type GitHubSignInSettings, type SignInMailer } from '../auth/sign-in.js';
import {
  createVcsClient,
  credentialsFromEnv,
  GitHubClient,
  GITHUB_FEEDBACK_OFF,
  signInClientFromEnv,
  type GitHubCredentials,
} from '../adapters/github/index.js';
import { LocalGitVcs } from './local-git-vcs.js';
import { LocalGitHistory } from './git-history.js';
import type { ChangeDeps } from '../application/change.js';
import { bindPeople, describePerson, everyoneListed } from '../auth/person.js';
import { DynamoSignInStore } from '../adapters/dynamo/sign-in-store.js';
import { localSignInMailer } from '../adapters/notify/sign-in-mail.js';
import { readOrCreateLocalSecret } from './secrets.js';
import type { HttpHandler, HttpRequest } from '../http.js';
// Types only: the function handlers themselves come in as a LocalFunctionSet (from start-stack.ts).
import type { approversMayRerun, createRerunHandler, isRerunRequest } from '../application/rerun.js';
import type { createApprovalsHandler } from '../../lambdas/web/handler.js';
import type { createApprovalRequester } from '../../lambdas/approval-request/handler.js';
import type { createPipelineTasks } from '../../lambdas/stage-tasks/handler.js';
import type { createReconciler, Reconciler } from '../../lambdas/reconciler/handler.js';
import type { startLocalSchedules } from './reconcile-schedule.js';
import type { createWebhookHandler } from '../../lambdas/webhook/handler.js';
import type { WebhookLogger } from '../application/logger.js';
import { buildEnvironment } from './build-env.js';
import { bundleBuildRunner, createLocalCodeBuild, LocalBuildRegistry } from './codebuild.js';
import { FileBuildLogs } from './file-build-logs.js';
import { reapLeftoverBuilds } from './build-reaper.js';
import { clearStaleWaiterTokens, decideResumption, type Resumption } from './resume.js';
import { startLocalDynamo, type LocalDynamo } from './dynalite.js';
import { LocalEngine, type LocalCodeBuild, type LocalFunction } from './engine.js';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { FsArtifactStore } from '../adapters/fs/artifact-store.js';
import { protectDataDirectory } from './private-files.js';
import { describeSandbox, findSandbox, type LocalSandbox } from './sandbox-notice.js';
import { GitSourceArchiver } from './git-archiver.js';
import { bareRepositoryPath, commitAndPush, ensureBareRepository, git } from './git-repos.js';
import { hookTargetFile } from './post-receive.js';
import { localNotifiers } from '../adapters/notify/from-config.js';
import { FanOutNotifier } from '../adapters/notify/fan-out.js';
import { ConsoleNotifier, printRunChanges, type ProgressEventRunStore, type Print } from './progress.js';
import { composeLocalRunTracking } from './run-tracking.js';
import { startServer, webhookRoute, type LocalServer } from './server.js';
import { createUnlockRoute } from './unlock-route.js';
import { localFilesOf, stateDirFor } from './data-layout.js';
import { STARTER_FILES, STARTER_REPOSITORY, starterConfig } from './starter-repository.js';
import { packageFile } from '../package-files.js';
import { withRefusalWait } from '../config/start-build-refusals.js';

/**
 * `tfgate local`: the whole pipeline on one machine. The same state machine file, webhook handler,
 * pipeline tasks, notifier and approval routes as in AWS; only the adapters differ (dynalite on
 * disk, the data directory for artifacts and state, the build runner as a subprocess).
 */

export const DEFINITION_FILE = packageFile('statemachine', 'pipeline.asl.json');
export const LOCAL_FUNCTIONS = {
  pipeline: 'arn:aws:lambda:local-1:000000000000:function:tfgate-pipeline',
  notifier: 'arn:aws:lambda:local-1:000000000000:function:tfgate-notifier',
} as const;
export const LOCAL_BUILD_PROJECT_PREFIX = 'tfgate-local';
/** The plan compute placeholders: locally every build is the runner subprocess, whatever they say. */

/**
 * The function handlers tfgate local runs: the very ones the AWS entries wrap, passed in by the local
 * composition (src/local-mode/start-stack.ts) so this module depends on none of the functions' folders.
 */
export interface LocalFunctionSet {
  createWebhookHandler: typeof createWebhookHandler;
  createPipelineTasks: typeof createPipelineTasks;
  createApprovalRequester: typeof createApprovalRequester;
  createApprovalsHandler: typeof createApprovalsHandler;
  createRerunHandler: typeof createRerunHandler;
  approversMayRerun: typeof approversMayRerun;
  isRerunRequest: typeof isRerunRequest;
  createReconciler: typeof createReconciler;
  startLocalSchedules: typeof startLocalSchedules;
}

export interface LocalStackOptions {
  dataDir: string;
  /** An explicit --config; otherwise tfgate.yaml in `cwd`, then the data directory's, then a starter. */
  configFile?: string;
  cwd?: string;
  host?: string;
  port?: number;
  terraform: string;
  webhookSecret?: string;
  print?: Print;
  /** Keep DynamoDB in memory (tests); `tfgate local` keeps it on disk under the data directory. */
  inMemory?: boolean;
  /** Tests: run a different definition file (proves the engine executes the file it is given). */
  definitionFile?: string;
  /** The environment builds inherit from (build-env.ts filters it); default process.env. */
  environment?: NodeJS.ProcessEnv;
  /**
   * bubblewrap for the build sandbox. Default: TFGATE_BWRAP of `environment`, else `bwrap` on its PATH.
   * Tried once at start; where it cannot make a sandbox, builds run unsandboxed and pull-request plans
   * are refused unless `unsandboxedBuilds`.
   */
  bwrap?: string;
  /** `--unsandboxed-builds`: without a sandbox, plan pull requests anyway. */
  unsandboxedBuilds?: boolean;
  /** Tests: extra environment for every build (terraform double knobs). */
  buildEnv?: Record<string, string>;
  /** Tests: shorter Retry intervals. */
  retryIntervalMs?: number;
  /** Tests: the length of a build-timeout minute (TimeoutInMinutesOverride), in milliseconds. */
  buildMinuteMs?: number;
  /** Tests: fixed timeouts (seconds) for the named states instead of their TimeoutSecondsPath. */
  taskTimeoutOverrides?: Record<string, number>;
  /** Bench: every state an execution enters (Step Functions bills each transition). */
  onStateEntered?: (executionName: string, stateName: string) => void;
  clock?: Clock;
  /** Extra notifiers (Slack, email) beside the console. */
  notifiers?: Notifier[];
  /** GitHub feedback: credentials default to TFGATE_GITHUB_* (null: none); tests shorten the retries. */
  github?: { credentials?: GitHubCredentials | null; retry?: Partial<RetryPolicy>; requestTimeoutMs?: number };
  /**
   * Sign-in: GitHub's OAuth web flow when a client id and secret are given (default: TFGATE_GITHUB_CLIENT_ID
   * and TFGATE_GITHUB_CLIENT_SECRET; null: off), and emailed one-time links (SMTP when configured, else the console).
   */
  signIn?: { github?: Omit<GitHubSignInSettings, 'apiUrl'> | null; mail?: SignInMailer };
  /**
   * Reconcile passes (missed pushes, dead lock holders): default every 60 s; false turns them off. In-memory (test)
   * stacks default to off.
   */
  reconcileIntervalMs?: number | false;
  /** Tests: replaces every repository's drift schedule. */
  driftIntervalMs?: number;
  /** Tests: lock holders younger than this are not judged by the reconciler (default 120 s). */
  holderGraceSeconds?: number;
  /** Tests: branch heads younger than this are left to their push delivery (default 90 s). */
  headGraceSeconds?: number;
  /** Tests: a build runner bundle made once for the whole test run, copied in instead of bundling the source again. */
  prebuiltRunner?: string;
  /**
   * Fault-injection tests: wrap the stand-ins the engine calls (a Lambda that throws, a build that
   * ends FAILED/TIMED_OUT/STOPPED) and reach the DynamoDB client (throttling) without a second wiring.
   */
  intercept?: {
    pipeline?: (real: LocalFunction) => LocalFunction;
    codeBuild?: (real: LocalCodeBuild) => LocalCodeBuild;
    /** Load tests: commits that exist in no repository still get a source archive. */
    sources?: (real: SourceArchiver) => SourceArchiver;
    dynamoClient?: (client: DynamoDBClient) => void;
  };
}

export interface LocalStack {
  url: string;
  webhookUrl: string;
  dataDir: string;
  config: TfgateConfig;
  configFile: string;
  webhookSecret: string;
  /** Signs sessions, sign-in links and anti-forgery fields (`<data>/secrets/session-key`). */
  sessionKey: string;
  /** What the CLI on this machine presents (`<data>/secrets/local-credential`, owner-only). */
  localCredential: string;
  /** Whether GitHub sign-in is set up (a client id and secret). */
  githubSignIn: boolean;
  runs: ProgressEventRunStore;
  stores: DynamoStores;
  locks: EnvironmentLocks;
  engine: LocalEngine;
  remotes: Array<{ repository: string; branch: string; remote: string }>;
  /** Runs found in flight at start that could not resume (marked interrupted, locks freed). */
  recovered: string[];
  /** Runs found in flight at start and resumed: waiting again for their approval, or planning again. */
  resumed: Array<{ runId: string; environment: string; kind: 'approval' | 'replan'; approvalUrl?: string }>;
  /** The store decorator that sends GitHub feedback; drain() waits for what is in flight. */
  feedback: FeedbackRunStore;
  /** Whether GitHub credentials were found (otherwise feedback is off, said once at start). */
  githubFeedback: boolean;
  /** The build sandbox found at start (said at start, in one paragraph when there is none). */
  sandbox: LocalSandbox;
  /** The passes the timers run, callable directly (tests, `tfgate` commands). */
  reconciler: Reconciler;
  close(): Promise<void>;
}

const DEFAULT_RECONCILE_INTERVAL_MS = 60_000;
const FEEDBACK_DRAIN_AT_CLOSE_MS = 15_000;

async function resolveConfig(
  options: LocalStackOptions,
  dataDir: string,
): Promise<{ config: TfgateConfig; file: string; starterRepository: boolean }> {
  if (options.configFile)
    return {
      config: loadConfigFile(options.configFile),
      file: path.resolve(options.configFile),
      starterRepository: false,
    };
  const inCwd = path.join(options.cwd ?? process.cwd(), 'tfgate.yaml');
  if (existsSync(inCwd)) return { config: loadConfigFile(inCwd), file: inCwd, starterRepository: false };
  const inData = path.join(dataDir, 'tfgate.yaml');
  if (!existsSync(inData)) {
    await writeFile(inData, starterConfig(bareRepositoryPath(dataDir, STARTER_REPOSITORY)));
  }
  const config = loadConfigFile(inData);
  return { config, file: inData, starterRepository: findRepository(config, STARTER_REPOSITORY) !== undefined };
}

/** Locally the machine's owner is the one person: named after the account tfgate local runs as. */
async function signedInActor(request: HttpRequest): Promise<string | undefined> {
  return request.identity ? describePerson(request.identity) : undefined;
}

/** tfgate.yaml's `terraform.sandbox.readOnly` on this machine: `~/x` is the user's home's x. */
function readOnlyPaths(entries: string[], environment: NodeJS.ProcessEnv): Array<{ source: string; target: string }> {
  const home = environment.HOME || os.homedir();
  return entries.map((entry) => ({
    source: entry.startsWith('~/') ? path.join(home, entry.slice(2)) : entry,
    target: entry,
  }));
}

function interceptCodeBuild(options: LocalStackOptions, real: LocalCodeBuild): LocalCodeBuild {
  return options.intercept?.codeBuild?.(real) ?? real;
}

export async function startLocalStackWith(
  functions: LocalFunctionSet,
  options: LocalStackOptions,
): Promise<LocalStack> {
  const {
    createWebhookHandler,
    createPipelineTasks,
    createApprovalRequester,
    createApprovalsHandler,
    createRerunHandler,
    approversMayRerun,
    isRerunRequest,
    createReconciler,
    startLocalSchedules,
  } = functions;
  const dataDir = path.resolve(options.dataDir);
  const print = options.print ?? (() => undefined);
  const clock = options.clock ?? systemClock;
  await mkdir(path.join(dataDir, 'run'), { recursive: true });
  const { config: loaded, file: configFile, starterRepository } = await resolveConfig(options, dataDir);
  // Locally the bare repository each push lands in is where builds fetch from, unless the file says otherwise.
  const config: TfgateConfig = {
    ...loaded,
    repositories: loaded.repositories.map((repo) => ({
      ...repo,
      cloneUrl: repo.cloneUrl ?? bareRepositoryPath(dataDir, repo.name),
    })),
  };
  const webhookSecret = options.webhookSecret ?? (await readOrCreateLocalSecret(dataDir, 'webhook-secret'));
  const sessionKey = await readOrCreateLocalSecret(dataDir, 'session-key');
  const localCredential = await readOrCreateLocalSecret(dataDir, 'local-credential');
  const githubSignIn =
    options.signIn?.github === undefined ? signInClientFromEnv() : (options.signIn.github ?? undefined);
  // Builds never see tfgate's own files: each runs in a sandbox that shows it its own directories only.
  await protectDataDirectory(dataDir);
  const machineEnvironment = options.environment ?? process.env;
  const sandbox = await findSandbox({
    ...(options.bwrap !== undefined ? { bwrap: options.bwrap } : {}),
    environment: machineEnvironment,
    unsandboxedPullRequests: options.unsandboxedBuilds ?? false,
  });
  print(describeSandbox(sandbox, dataDir));

  const remotes: LocalStack['remotes'] = [];
  for (const repository of config.repositories) {
    const bare = await ensureBareRepository(dataDir, repository.name, repository.branch);
    if (starterRepository && repository.name === STARTER_REPOSITORY) {
      const hasBranch = (await git(['ls-remote', '--heads', bare, repository.branch])).trim().length > 0;
      if (!hasBranch)
        await commitAndPush(bare, {
          files: STARTER_FILES,
          message: 'Starter Terraform configuration',
          branch: repository.branch,
          quiet: true,
        });
    }
    remotes.push({ repository: repository.name, branch: repository.branch, remote: bare });
  }

  let dynamo: LocalDynamo | undefined;
  let server: LocalServer | undefined;
  let engine: LocalEngine | undefined;
  let shuttingDown = false;
  try {
    // On a socket only tfgate can reach: builds keep the network, and dynalite checks no credential.
    dynamo = await startLocalDynamo({
      ...(options.inMemory ? {} : { path: path.join(dataDir, 'dynamo') }),
      privateSocket: true,
      clock,
    });
    options.intercept?.dynamoClient?.(dynamo.client);
    const stores = dynamo.stores;
    const artifacts = new FsArtifactStore(path.join(dataDir, 'artifacts'));
    const credentials =
      options.github?.credentials === undefined
        ? await credentialsFromEnv()
        : (options.github.credentials ?? undefined);
    const github = createVcsClient(
      config.github.apiUrl,
      credentials,
      options.github?.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.github.requestTimeoutMs } : {},
    );
    if (!github.enabled) print(GITHUB_FEEDBACK_OFF);
    // The engine is created last (it needs the functions); callbacks reach it once it exists.
    const engineCallbacks: TaskCallbacks = {
      sendTaskSuccess: (token, output) => engine!.sendTaskSuccess(token, output),
      sendTaskFailure: (token, error, cause) => engine!.sendTaskFailure(token, error, cause),
    };
    // The same decoration as the AWS entries (domain/run-tracking.ts), with console progress on top.
    const tracking = composeLocalRunTracking({
      store: stores.runs,
      callbacks: engineCallbacks,
      vcs: github.vcs,
      artifacts,
      clock,
      print,
      ...(options.github?.retry ? { retry: options.github.retry } : {}),
    });
    const { runs, feedback, callbacks } = tracking;
    const locks = new EnvironmentLocks({ locks: stores.locks, runs, callbacks, clock });
    const localBuilds = new LocalBuildRegistry();
    // Sources come from the configured location only (the local bare repository by default).
    const gitSources = new GitSourceArchiver(config, (name) => bareRepositoryPath(dataDir, name));
    const sources = options.intercept?.sources?.(gitSources) ?? gitSources;
    // The change an approval covers: the bare repositories' history and the ledger (src/application/change.ts).
    const change: ChangeDeps = { config, history: new LocalGitHistory(remotes), ledger: stores.ledger };
    const pipeline = createPipelineTasks({
      runs,
      approvals: stores.approvals,
      locks,
      artifacts,
      callbacks,
      builds: localBuilds,
      sources,
      ledger: stores.ledger,
      clock,
    });

    // Runs that were in flight when tfgate local last stopped pick up where they were (resume.ts):
    // decided here, before anything can grant a lock; started once the engine exists.
    const recovered: string[] = [];
    const resumptions: Resumption[] = [];
    // Builds a killed tfgate local left behind (their process groups, their tfgate-build-* directories).
    const reaped = await reapLeftoverBuilds(path.join(dataDir, 'run', 'builds'));
    if (reaped.builds > 0)
      print(`cleaned up ${reaped.builds} build(s) left by the last stop (${reaped.processes} process(es) stopped)`);
    await clearStaleWaiterTokens(config, stores.locks);
    for (const run of await runs.listActive()) {
      let decision: Awaited<ReturnType<typeof decideResumption>>;
      try {
        decision = await decideResumption(run, {
          config,
          runs,
          approvals: stores.approvals,
          locks: stores.locks,
          clock,
          presetToken: (name) => LocalEngine.presetTokenFor(name),
        });
      } catch (error) {
        // One run that cannot be read back whole must not keep tfgate local from starting.
        decision = {
          kind: 'interrupt',
          reason: `tfgate local restarted and could not resume the run: ${(error as Error).message}`,
        };
      }
      if (decision.kind === 'resume') {
        resumptions.push(decision.resumption);
      } else if (decision.kind === 'complete') {
        await pipeline({ action: 'completeRun', runId: run.id });
      } else if (decision.kind === 'end') {
        // Recorded as the definition's own failure path would have: the stage, later stages skipped, locks freed.
        await pipeline({
          action: 'failStage',
          runId: run.id,
          mode: run.mode,
          repository: run.repository,
          sequence: run.sequence,
          environment: decision.environment,
          kind: decision.outcome,
          during: decision.outcome === 'failed' ? 'task' : 'approval',
          error: { Error: 'ended before tfgate local stopped', Cause: decision.reason },
        });
        recovered.push(run.id);
      } else {
        await pipeline({ action: 'executionEnded', runId: run.id, status: 'ABORTED', reason: decision.reason });
        recovered.push(run.id);
      }
    }

    const logger: WebhookLogger = {
      info: () => undefined,
      warn: (message, fields) => print(`webhook: ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}`),
      error: (message, fields) => print(`webhook error: ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}`),
    };
    const executionStarter = {
      start: (name: string, input: Parameters<LocalEngine['start']>[1]) => engine!.start(name, input),
    };
    const webhook = createWebhookHandler({
      config,
      secrets: [webhookSecret],
      stores: { runs, deliveries: stores.deliveries, sequences: stores.sequences },
      locks,
      starter: executionStarter,
      clock,
      logger,
      change,
    });
    // Team membership is checked with tfgate's own GitHub credentials, when there are any.
    const teams = github.vcs instanceof GitHubClient ? github.vcs : undefined;
    const pages = createApprovalsHandler({
      runs,
      approvals: stores.approvals,
      artifacts,
      callbacks,
      sessionKey,
      ...(teams ? { teams } : {}),
      people: bindPeople(config.people),
      clock,
      localFiles: (run) => localFilesOf(dataDir, run),
      // The run page reads a running build's output from the file the local CodeBuild appends to.
      buildLogs: { logs: new FileBuildLogs(path.join(dataDir, 'logs')), projectPrefix: LOCAL_BUILD_PROJECT_PREFIX },
      log: (m, f) => print(`${m} ${JSON.stringify(f ?? {})}`),
    });
    // POST /runs/{id}/rerun: the actor is the signed-in person (the server's sign-in gate set it), never a
    // field of the request, and must be an approver of the run's repository.
    const rerun = createRerunHandler({
      intake: {
        config,
        runs,
        deliveries: stores.deliveries,
        sequences: stores.sequences,
        locks,
        starter: executionStarter,
        clock,
        logger,
        change,
      },
      identify: signedInActor,
      rerunner: approversMayRerun(teams),
      // Branch heads from the bare repositories pushes land in.
      rollbacks: { change, heads: new LocalGitVcs(remotes) },
    });
    const pagesAndRerun: HttpHandler = (request) => (isRerunRequest(request) ? rerun(request) : pages(request));
    const unlock = createUnlockRoute(config, { runs, approvals: stores.approvals, locks, callbacks, clock });
    // Everything asynchronous happens before the server listens: from `listen` to the engine's creation
    // below no request can be handled, so a delivery never finds the engine missing.
    const runnerFile = await bundleBuildRunner(path.join(dataDir, 'run'), options.prebuiltRunner);
    // Known once the server listens (the port may be chosen then); nothing is served before.
    let serverUrl = '';
    // Sign-outs and link-request counters, in the deliveries table as in AWS.
    const signInRecords = new DynamoSignInStore(dynamo.doc, dynamo.tables.deliveries);
    const signIn = createSignIn({
      sessionKey,
      publicUrl: () => serverUrl,
      listed: () => everyoneListed(config),
      ...(githubSignIn
        ? { github: { apiUrl: config.github.apiUrl, clientType: 'oauth-app' as const, ...githubSignIn } }
        : {}),
      ...(teams ? { teams } : {}),
      mail: options.signIn?.mail ?? localSignInMailer(config, print),
      oneTime: stores.deliveries,
      sessions: signInRecords,
      counters: signInRecords,
      people: bindPeople(config.people),
      localCredential,
      clock,
      log: (m, f) => print(`${m} ${JSON.stringify(f ?? {})}`),
    });
    server = await startServer(
      [webhookRoute(webhook), { path: '/local/unlock', handler: unlock, maxBodyBytes: 16 * 1024 }],
      pagesAndRerun,
      {
        host: options.host ?? '127.0.0.1',
        port: options.port ?? 8787,
        protect: signIn.protect,
        onError: (error) => print(`server error: ${(error as Error).stack ?? error}`),
      },
    );
    const url = server.url;
    serverUrl = url;

    // Slack and SMTP from tfgate.yaml; a failing one is recorded on the run and never stops the others.
    const notifier = new FanOutNotifier([
      // The CLI finds ./.tfgate by itself; any other data directory is named in the hint.
      new ConsoleNotifier(
        print,
        runs.events,
        path.resolve(options.cwd ?? process.cwd(), '.tfgate') === dataDir ? '' : ` --data ${dataDir}`,
      ),
      ...localNotifiers(config),
      ...(options.notifiers ?? []),
    ]);
    tracking.connect(url, notifier);
    const requestApproval = createApprovalRequester({
      config,
      runs,
      approvals: stores.approvals,
      artifacts,
      notifier,
      publicUrl: url,
      supersede: { locks: stores.locks, callbacks },
      change,
      clock,
      log: (m, f) => print(`${m} ${JSON.stringify(f ?? {})}`),
    });
    engine = new LocalEngine({
      definitionFile: options.definitionFile ?? DEFINITION_FILE,
      // Refused StartBuilds wait as long as in AWS (the lock wait, capped).
      transform: (definition) => withRefusalWait(definition, config),
      substitutions: {
        PipelineFunctionArn: LOCAL_FUNCTIONS.pipeline,
        NotifierFunctionArn: LOCAL_FUNCTIONS.notifier,
        BuildProjectPrefix: LOCAL_BUILD_PROJECT_PREFIX,
      },
      functions: {
        [LOCAL_FUNCTIONS.pipeline]: options.intercept?.pipeline?.(pipeline) ?? pipeline,
        [LOCAL_FUNCTIONS.notifier]: requestApproval,
      },
      codeBuild: interceptCodeBuild(
        options,
        createLocalCodeBuild({
          runnerFile,
          artifactsDir: path.join(dataDir, 'artifacts'),
          logsDir: path.join(dataDir, 'logs'),
          terraform: options.terraform,
          stateDirFor: (repository) => stateDirFor(dataDir, repository),
          buildsDir: path.join(dataDir, 'run', 'builds'),
          cacheDir: path.join(dataDir, 'cache'),
          // The user's own environment (credentials, TF_VAR_*, mirrors, proxies), minus tfgate's secrets.
          userEnv: buildEnvironment(machineEnvironment, config.terraform.env ?? {}),
          registry: localBuilds,
          ...(options.buildMinuteMs !== undefined ? { minuteMs: options.buildMinuteMs } : {}),
          ...(sandbox.available
            ? {
                sandbox: { bwrap: sandbox.bwrap, disableNestedUserNamespaces: sandbox.disableNestedUserNamespaces },
                readOnly: readOnlyPaths(config.terraform.sandbox?.readOnly ?? [], machineEnvironment),
              }
            : { unsandboxedPullRequests: sandbox.unsandboxedPullRequests }),
          ...(options.buildEnv ? { extraEnv: options.buildEnv } : {}),
        }),
      ),
      names: { claim: (name) => stores.deliveries.claim(`execution:${name}`, clock.now()) },
      ...(options.retryIntervalMs !== undefined ? { retryIntervalMs: options.retryIntervalMs } : {}),
      ...(options.taskTimeoutOverrides ? { taskTimeoutOverrides: options.taskTimeoutOverrides } : {}),
      ...(options.onStateEntered ? { onStateEntered: options.onStateEntered } : {}),
      onExecutionEnded: async (outcome) => {
        // Stopping tfgate local with a data directory on disk leaves the run as it was: the next
        // start resumes it. An in-memory stack has no next start, so its runs end as interrupted.
        if (shuttingDown && !options.inMemory) return;
        await pipeline({
          action: 'executionEnded',
          runId: outcome.input.runId,
          status: outcome.status === 'SUCCEEDED' ? 'FAILED' : outcome.status,
          ...(outcome.error ? { error: outcome.error } : {}),
          ...(outcome.cause ? { cause: outcome.cause } : {}),
          ...(outcome.reason ? { reason: outcome.reason } : {}),
        });
      },
    });

    // Resumed before the reconciler's first pass, so it finds their executions running; and all of
    // them before the first await, so no request reaches an approval whose wait is not known yet.
    for (const resumption of resumptions) {
      engine.resume(
        resumption.run.executionName,
        resumption.input,
        resumption.firstWaitToken ? { firstWaitToken: resumption.firstWaitToken } : {},
      );
    }
    const resumed: LocalStack['resumed'] = [];
    for (const resumption of resumptions) {
      await runs.updateRun(
        resumption.run.id,
        { ...(resumption.kind === 'replan' ? { status: 'running' as const } : {}), note: resumption.note },
        clock.now(),
      );
      resumed.push({
        runId: resumption.run.id,
        environment: resumption.environment,
        kind: resumption.kind,
        ...(resumption.approvalId ? { approvalUrl: `${url}/approvals/${resumption.approvalId}` } : {}),
      });
    }

    const stopPrinting = printRunChanges(runs, print);
    const localGit = new LocalGitVcs(remotes);
    const reconciler = createReconciler({
      config,
      runs,
      lockStore: stores.locks,
      locks,
      deliveries: stores.deliveries,
      sequences: stores.sequences,
      starter: executionStarter,
      inspector: { isRunning: (name) => engine!.isRunning(name) },
      // Without GitHub, pushes land in the local bare repositories: that is where heads are read.
      vcs: github.enabled ? github.vcs : localGit,
      people: github.vcs instanceof GitHubClient ? github.vcs : localGit,
      change,
      clock,
      ...(options.holderGraceSeconds !== undefined ? { holderGraceSeconds: options.holderGraceSeconds } : {}),
      ...(options.headGraceSeconds !== undefined ? { headGraceSeconds: options.headGraceSeconds } : {}),
    });
    const schedules = startLocalSchedules(reconciler, config, {
      reconcileIntervalMs: options.reconcileIntervalMs ?? (options.inMemory ? false : DEFAULT_RECONCILE_INTERVAL_MS),
      ...(options.driftIntervalMs !== undefined ? { driftIntervalMs: options.driftIntervalMs } : {}),
      report: print,
    });
    const webhookUrl = `${url}/webhook`;
    const hookFile = hookTargetFile(dataDir);
    await writeFile(hookFile, JSON.stringify({ webhookUrl, secret: webhookSecret }), { mode: 0o600 });
    await chmod(hookFile, 0o600);

    const runningDynamo = dynamo;
    const runningServer = server;
    const runningEngine = engine;
    let closed = false;
    return {
      url,
      webhookUrl,
      dataDir,
      config,
      configFile,
      webhookSecret,
      sessionKey,
      localCredential,
      githubSignIn: githubSignIn !== undefined,
      runs,
      stores,
      locks,
      engine,
      remotes,
      recovered,
      resumed,
      feedback,
      githubFeedback: github.enabled,
      sandbox,
      reconciler,
      async close() {
        if (closed) return;
        closed = true;
        shuttingDown = true;
        await schedules.stop();
        await rm(hookFile, { force: true });
        await runningServer.close();
        // Builds in flight are stopped (their process groups go); with the data on disk the runs stay
        // as they are and resume at the next start, an in-memory stack's end as interrupted.
        await runningEngine.stopAll('tfgate local stopped while this run was in flight');
        // The last statuses (interrupted runs) and failure notes need the store still open.
        await feedback.drain(FEEDBACK_DRAIN_AT_CLOSE_MS);
        stopPrinting();
        await runningDynamo.close();
      },
    };
  } catch (error) {
    await engine?.stopAll().catch(() => undefined);
    await server?.close().catch(() => undefined);
    await dynamo?.close().catch(() => undefined);
    throw error;
  }
}
