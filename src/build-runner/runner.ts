/**
 * The build runner: the one program CodeBuild runs in AWS and the local engine runs as a subprocess.
 *
 * plan:  unpack the source archive the pipeline stored (sha256 checked) → (local) backend override →
 *        init → workspace <env> → plan -out → show -json → store tfplan, plan.txt, plan.json, summary.json,
 *        plan.sha256, plan-result.json under runs/<run>/<env>/<plan|pr-plan>/.
 * apply: check the stored deploy plan's sha256 against the one the pipeline computed (and the approver
 *        saw) → unpack the same source → override → init → workspace → apply tfplan → apply.txt,
 *        apply-result.json under runs/<run>/<env>/apply/.
 *
 * It never holds a GitHub credential and fetches nothing. Locally (TFGATE_SANDBOX) every command runs in
 * its own bubblewrap sandbox (sandbox.ts) that sees the step's own directories and nothing else of the
 * machine; the runner stays outside: it alone reads and writes artifacts, and it touches the trees a
 * build can write only while no process of the build is alive (each sandbox ends with its command).
 *
 * Everything it is given is validated before any process starts. Every failure path still writes the
 * result file, because the pipeline reads the reason from there.
 */
import { createHash, randomUUID } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, realpath, rm, stat, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  renderSummaryLine,
  STAGE_ARTIFACTS,
  stageArtifactKey,
  type StageArtifactName,
  type StageResult,
  summarizePlanJsonText,
} from '../domain/plan-summary.js';
import type { PlanSummary } from '../domain/run.js';
import type { ArtifactStore } from '../domain/ports.js';
import { findOnPath, locateTerraform } from '../terraform-locator.js';
import type { BuildKind } from '../domain/builds.js';
import { BuildStepError, unpackSource } from './checkout.js';
import { InitCacheError, initCacheKey, initialiseOnce, lockFileHash, pluginCacheDir } from './init-cache.js';
import { restoreProviders, saveProviders } from './provider-cache.js';
import { type CommandResult, type LogSink, runCommand, type SpawnFunction } from './process.js';
import { hostSystem, type SandboxMount } from './sandbox.js';
import { type BuildSettings, RUNNER_VARIABLES, type SandboxSettings, validateBuildSettings } from './settings.js';
import { extractTerraformError, hclString } from './text.js';
import {
  type AppliedRecords,
  declaredBackend,
  emptyState,
  s3BackendOverride,
  stateObjectKey,
} from './managed-state.js';
import { createsEverything, fullCreateStop, resourcesAfterApply } from './full-create.js';
import { LocalAppliedRecords } from './local-applied-records.js';

export const BACKEND_OVERRIDE_FILE = 'zz_tfgate_backend_override.tf';
const LOCK_FILE = '.terraform.lock.hcl';

export interface BuildRunnerDependencies {
  spawn: SpawnFunction;
  artifacts: ArtifactStore;
  /** The shared provider cache (TFGATE_CACHE); none, no cache. */
  cache?: ArtifactStore;
  /** The environment handed to git and terraform (PATH, AWS credentials, TF_PLUGIN_CACHE_DIR…). */
  env: NodeJS.ProcessEnv;
  stdout: LogSink;
  stderr: LogSink;
  /** Where the per-build work directory is made; the system temp directory by default. */
  tmpDir?: string;
  cwd?: string;
  /** Aborting interrupts the running command (terraform gets SIGINT and stops cleanly). */
  signal?: AbortSignal;
  /** AWS: the stack's state bucket (TFGATE_STATE_BUCKET), as the build role reaches it. */
  stateBucket?: StateBucketAccess;
}

/** What the runner itself does in the state bucket (terraform's S3 backend does the rest). */
export interface StateBucketAccess {
  records(repository: string, directory: string): AppliedRecords;
  /** Writes `body` at `key` only if nothing is there. */
  createIfAbsent(key: string, body: string): Promise<'created' | 'exists'>;
  /** Whether an object is at `key` (a read: what a pull-request plan's role may do). */
  exists(key: string): Promise<boolean>;
  /**
   * Deletes the lock file at `key` if there is one and returns what it said: an apply build holds
   * tfgate's environment lock, so a terraform lock file found then was left by a build that ended
   * without finishing terraform.
   */
  releaseStaleLock(key: string): Promise<string | undefined>;
}

/** Where this build's state is: which backend, and whether tfgate keeps the state (and the apply records). */
interface StatePlacement {
  /** tfgate wrote the backend (the state bucket, or the local data directory). */
  managed: boolean;
  /** For messages: where the state is. */
  location: string;
  records?: AppliedRecords;
}

export type RawBuildSettings = Partial<Record<keyof BuildSettings, string | undefined>>;

/** Runs one plan or apply; resolves to the process exit code (0 success, 1 failure). */
export async function runBuild(raw: RawBuildSettings, deps: BuildRunnerDependencies): Promise<number> {
  const mode = raw.mode === 'apply' ? 'apply' : 'plan';
  const resultName = mode === 'apply' ? STAGE_ARTIFACTS.applyResult : STAGE_ARTIFACTS.planResult;
  // A refusal is written where this project may write (its own kind's prefix), or nowhere.
  const rawKind: BuildKind | undefined =
    raw.kind === 'plan' || raw.kind === 'apply' || raw.kind === 'pr-plan' ? raw.kind : undefined;

  let settings: BuildSettings;
  try {
    settings = validateBuildSettings(raw, deps.cwd);
  } catch (error) {
    const message = (error as Error).message;
    deps.stderr.write(`tfgate: ${message}\n`);
    // The result file can only be written when the run id and environment make a safe key.
    if (rawKind)
      await storeResult(deps, raw.runId, raw.environment, rawKind, resultName, {
        ok: false,
        exitCode: 1,
        step: 'setup',
        error: message,
      });
    return 1;
  }

  let workDir: string | undefined;
  try {
    workDir = await mkdtemp(path.join(deps.tmpDir ?? os.tmpdir(), 'tfgate-build-'));
    const outcome =
      settings.mode === 'plan' ? await plan(settings, deps, workDir) : await apply(settings, deps, workDir);
    await storeResult(deps, settings.runId, settings.environment, settings.kind, resultName, outcome, true);
    return 0;
  } catch (error) {
    const failure =
      error instanceof BuildStepError ? error : new BuildStepError('setup', (error as Error).message ?? String(error));
    const result: StageResult = {
      ok: false,
      exitCode: 1,
      step: failure.step,
      ...(failure.terraformExitCode !== undefined ? { terraformExitCode: failure.terraformExitCode } : {}),
      error: failure.message,
    };
    // terraform's own error text is already in the log, right above; tfgate's reasons are not.
    deps.stderr.write(
      failure.terraformExitCode !== undefined
        ? `tfgate: ${settings.mode} failed: terraform ${failure.step} exited with ${failure.terraformExitCode}\n`
        : `tfgate: ${settings.mode} failed (${failure.step}): ${failure.message}\n`,
    );
    await storeResult(deps, settings.runId, settings.environment, settings.kind, resultName, result);
    return 1;
  } finally {
    // The work directory holds provider binaries and the checked-out code: never left behind. Every
    // sandbox has ended by now, and rm never follows a link.
    if (workDir)
      await rm(workDir, { recursive: true, force: true }).catch((error: Error) =>
        deps.stderr.write(`tfgate: could not remove ${workDir}: ${error.message}\n`),
      );
  }
}

// ---------------------------------------------------------------- plan

async function plan(settings: BuildSettings, deps: BuildRunnerDependencies, workDir: string): Promise<StageResult> {
  const { terraform, state } = await prepareWorkspace(settings, deps, workDir);
  // terraform writes the plan into a directory of its own; the runner reads it back without following links.
  const outDir = path.join(workDir, 'out');
  await mkdir(outDir, { mode: 0o700 });
  const planPath = path.join(outDir, 'tfplan');

  // A pull request's plan changes no state: it sees the state read-only and takes no lock on it. In the
  // state bucket no plan may write (nor lock): tfgate's environment lock keeps deploy runs apart instead.
  const readOnlyState = (settings.kind === 'pr-plan' && settings.stateDir) || (state.managed && settings.stateBucket);
  const lock = readOnlyState ? ['-lock=false'] : ['-lock-timeout=5m'];
  const lockNotice =
    state.managed && settings.stateBucket
      ? 'tfgate: plan runs with -lock=false: plan builds may read the state bucket, never write it or take its ' +
        "lock; tfgate's own environment lock keeps this environment's deploy runs apart\n"
      : '';
  if (lockNotice) deps.stdout.write(lockNotice);
  const planned = await terraform.run(
    'plan',
    ['plan', '-input=false', '-no-color', ...lock, `-out=${planPath}`, '-detailed-exitcode'],
    { mounts: [{ kind: 'rw', source: outDir, target: outDir }] },
  );
  // A plan build without a role to assume says so in the plan text the run shows (set per project in AWS).
  const roleNotice = deps.env.TFGATE_ROLE_NOTICE ? `tfgate: ${deps.env.TFGATE_ROLE_NOTICE}\n` : '';
  if (roleNotice) deps.stdout.write(roleNotice);
  const planText = `${roleNotice}${lockNotice}${withTruncationNote(planned)}`;
  if (planned.exitCode !== 0 && planned.exitCode !== 2) {
    await store(deps, settings, STAGE_ARTIFACTS.planText, planText, 'text/plain; charset=utf-8');
    throw terraformFailure('plan', planned);
  }

  const planBytes = await readRegularFile(planPath).catch(() => {
    throw new BuildStepError('plan', `terraform plan exited with ${planned.exitCode} but wrote no plan file`);
  });
  const sha256 = createHash('sha256').update(planBytes).digest('hex');
  // Summarised from a copy nothing the build runs can replace, so the summary describes these bytes.
  const shownPath = await privatePlanCopy(workDir, planBytes);
  const shown = await terraform.run('show', ['show', '-json', '-no-color', shownPath], {
    captureStdout: true,
    mounts: [{ kind: 'ro', source: shownPath, target: shownPath }],
  });
  if (shown.exitCode !== 0) throw terraformFailure('show', shown);
  let summary: PlanSummary;
  try {
    summary = summarizePlanJsonText(shown.stdout, { hasChanges: planned.exitCode === 2, sha256 });
  } catch (error) {
    throw new BuildStepError('show', (error as Error).message);
  }

  // Before anything is stored for approval: a plan that would create everything again stops here.
  const creates = settings.kind === 'plan' && state.records ? createsEverything(shown.stdout) : undefined;
  if (creates !== undefined && state.records) {
    const reason = await fullCreateStop(creates, {
      environment: settings.environment,
      ...(settings.environments ? { configured: settings.environments } : {}),
      records: state.records,
      stateLocation: state.location,
    });
    if (reason) {
      await store(
        deps,
        settings,
        STAGE_ARTIFACTS.planText,
        `${planText}\ntfgate: ${reason}\n`,
        'text/plain; charset=utf-8',
      );
      throw new BuildStepError('state', reason);
    }
  }

  await store(deps, settings, STAGE_ARTIFACTS.planFile, planBytes, 'application/octet-stream');
  await store(deps, settings, STAGE_ARTIFACTS.planText, planText, 'text/plain; charset=utf-8');
  // The whole JSON, for what the pipeline derives from it (the structured view, policies).
  await store(deps, settings, STAGE_ARTIFACTS.planJson, shown.stdout, 'application/json');
  await store(deps, settings, STAGE_ARTIFACTS.summary, `${JSON.stringify(summary, null, 2)}\n`, 'application/json');
  await store(deps, settings, STAGE_ARTIFACTS.planSha256, sha256, 'text/plain; charset=utf-8');
  // Without a committed lock file, init picks provider versions itself; the apply must use the same
  // ones. Plan-only runs are never applied, so theirs is not kept.
  if (settings.kind === 'plan') {
    const lockFile = await readRegularFile(path.join(terraform.root, LOCK_FILE)).catch(() => undefined);
    if (lockFile) await store(deps, settings, STAGE_ARTIFACTS.providerLock, lockFile, 'text/plain; charset=utf-8');
  }

  deps.stdout.write(`tfgate: plan for ${settings.environment}: ${renderSummaryLine(summary)} (sha256 ${sha256})\n`);
  return { ok: true, exitCode: 0, terraformExitCode: planned.exitCode, summary };
}

// ---------------------------------------------------------------- apply

async function apply(settings: BuildSettings, deps: BuildRunnerDependencies, workDir: string): Promise<StageResult> {
  // Checked before anything else runs: a plan that is not the approved one is never applied.
  // Only the deploy plan build's prefix: a plan-only (pull request) build can never write there.
  const planKey = stageArtifactKey(settings.runId, settings.environment, STAGE_ARTIFACTS.planFile, 'plan');
  const planBytes = await deps.artifacts.get(planKey).catch((error: Error) => {
    throw new BuildStepError('verify', `could not read the saved plan ${planKey}: ${error.message}`);
  });
  if (!planBytes) throw new BuildStepError('verify', `no saved plan at ${planKey}: the plan step did not store one`);
  const actual = createHash('sha256').update(planBytes).digest('hex');
  if (actual !== settings.planSha256) {
    throw new BuildStepError(
      'verify',
      `the saved plan's sha256 is ${actual}, but the run recorded (and approved) ${settings.planSha256}; refusing ` +
        `to apply a plan nobody approved`,
    );
  }
  const planPath = await privatePlanCopy(workDir, planBytes);
  deps.stdout.write(`tfgate: saved plan verified (sha256 ${actual})\n`);

  const { terraform, state } = await prepareWorkspace(settings, deps, workDir, async (root) => {
    const committed = await lstat(path.join(root, LOCK_FILE)).catch(() => undefined);
    if (committed) return;
    const stored = await deps.artifacts.get(
      stageArtifactKey(settings.runId, settings.environment, STAGE_ARTIFACTS.providerLock, 'plan'),
    );
    if (stored) await writeNewFile(path.join(root, LOCK_FILE), stored);
  });

  const applied = await terraform.run('apply', ['apply', '-input=false', '-no-color', '-lock-timeout=5m', planPath], {
    mounts: [{ kind: 'ro', source: planPath, target: planPath }],
  });
  await store(deps, settings, STAGE_ARTIFACTS.applyText, withTruncationNote(applied), 'text/plain; charset=utf-8');
  if (applied.exitCode !== 0) throw terraformFailure('apply', applied);
  deps.stdout.write(`tfgate: applied ${settings.environment} (plan sha256 ${actual})\n`);
  if (state.records) await recordApply(settings, deps, state.records);
  return { ok: true, exitCode: 0, terraformExitCode: 0 };
}

// ---------------------------------------------------------------- shared steps

interface Terraform {
  root: string;
  run(
    step: string,
    args: string[],
    options?: { captureStdout?: boolean; env?: NodeJS.ProcessEnv; mounts?: SandboxMount[] },
  ): Promise<CommandResult>;
}

/** The build's own directories inside its work directory, made by the runner before any sandbox starts. */
interface BuildPaths {
  checkout: string;
  /** Terraform's data directory: `<root>/.terraform`, or (sandboxed) a directory of the runner's mounted there. */
  data: string;
  home: string;
  tmp: string;
}

async function prepareWorkspace(
  settings: BuildSettings,
  deps: BuildRunnerDependencies,
  workDir: string,
  beforeInit?: (root: string) => Promise<void>,
): Promise<{ terraform: Terraform; state: StatePlacement }> {
  const located = await locateTerraform({
    env: { ...deps.env, TFGATE_TERRAFORM: settings.terraform ?? '' },
    ...(deps.cwd ? { cwd: deps.cwd } : {}),
  }).catch((error: Error) => {
    throw new BuildStepError('setup', error.message);
  });
  const sandbox = settings.sandbox;
  // The sandbox shows the binary itself, not a link to it.
  const terraformPath = sandbox ? await realpath(located.path) : located.path;
  const tar = await findOnPath('tar', deps.env);
  if (!tar) throw new BuildStepError('setup', 'tar was not found on PATH');
  const paths: BuildPaths = {
    checkout: path.join(workDir, 'checkout'),
    data: path.join(workDir, 'data'),
    home: path.join(workDir, 'home'),
    tmp: path.join(workDir, 'tmp'),
  };
  const env = commandEnvironment(deps.env, sandbox ? paths : undefined);
  if (sandbox) {
    await mkdir(paths.home, { mode: 0o700 });
    await mkdir(paths.tmp, { mode: 0o700 });
  }
  const exec = (
    command: string,
    args: string[],
    options: { cwd: string; env?: NodeJS.ProcessEnv; captureStdout?: boolean; mounts: SandboxMount[] },
  ) =>
    runCommand(
      deps.spawn,
      {
        command,
        args,
        cwd: options.cwd,
        env: options.env ?? env,
        captureStdout: options.captureStdout ?? false,
        ...(sandbox ? { sandbox: sandboxFor(sandbox, options.mounts) } : {}),
        ...(deps.signal ? { signal: deps.signal } : {}),
      },
      { stdout: deps.stdout, stderr: deps.stderr },
    );

  const root = await unpackSource(
    {
      tar,
      repository: settings.repository,
      sha: settings.sha,
      sourceSha256: settings.sourceSha256,
      directory: settings.directory,
      workDir,
      checkoutDir: paths.checkout,
    },
    {
      artifacts: deps.artifacts,
      log: { stdout: deps.stdout, stderr: deps.stderr },
      run: (command, args, options) => exec(command, args, options),
    },
  );
  // Whatever the commit put at .terraform goes (never followed); the data directory is made afresh below.
  await rm(path.join(root, '.terraform'), { recursive: true, force: true });
  if (!sandbox) paths.data = path.join(root, '.terraform');

  const state = await placeState(settings, deps, root);
  if (beforeInit) await beforeInit(root);
  const cacheOptions = { store: deps.cache, pluginCacheDir: deps.env.TF_PLUGIN_CACHE_DIR, log: deps.stdout };
  const cached = await restoreProviders(root, cacheOptions);

  // What every terraform command of this build sees: the system, terraform, its checkout (with its
  // data directory), its own home and temporary directory, its state, and what deploy builds are given.
  const stateMounts = sandbox && settings.stateDir ? await stateView(settings, settings.stateDir, workDir) : [];
  const baseMounts: SandboxMount[] = [
    { kind: 'ro', source: terraformPath, target: terraformPath },
    { kind: 'rw', source: paths.checkout, target: paths.checkout },
    ...(sandbox ? [{ kind: 'rw' as const, source: paths.data, target: path.join(root, '.terraform') }] : []),
    { kind: 'rw', source: paths.home, target: paths.home },
    { kind: 'rw', source: paths.tmp, target: paths.tmp },
    ...stateMounts,
    ...(sandbox ? await readOnlyMounts(settings, sandbox, paths.home, deps.stdout) : []),
  ];
  let pluginMount: SandboxMount | undefined;

  const terraform: Terraform = {
    root,
    async run(step, args, options = {}) {
      deps.stdout.write(`$ terraform ${args.join(' ')}\n`);
      try {
        return await exec(terraformPath, args, {
          cwd: root,
          ...(options.env ? { env: options.env } : {}),
          captureStdout: options.captureStdout ?? false,
          mounts: [...baseMounts, ...(pluginMount ? [pluginMount] : []), ...(options.mounts ?? [])],
        });
      } catch (error) {
        throw new BuildStepError(step, (error as Error).message);
      }
    },
  };

  const runInit = async (initEnv: NodeJS.ProcessEnv = env, mounts: SandboxMount[] = []) => {
    const initialized = await terraform.run('init', ['init', '-input=false', '-no-color'], { env: initEnv, mounts });
    if (initialized.exitCode !== 0) throw terraformFailure('init', initialized);
  };
  const initCacheDir = deps.env.TFGATE_INIT_CACHE;
  // TF_DATA_DIR moves .terraform elsewhere: the snapshot would miss it, so no reuse then.
  if (initCacheDir && !env.TF_DATA_DIR) {
    pluginMount = await initialiseThroughCache(
      initCacheDir,
      settings,
      deps,
      root,
      paths.data,
      terraformPath,
      env,
      runInit,
    );
  } else {
    await mkdir(paths.data, { recursive: true });
    await runInit();
  }
  // Only reviewed, approved code fills the shared cache (see provider-cache.ts).
  if (settings.mode === 'apply') await saveProviders(cached, cacheOptions);
  // The workspace is the environment (Kubestack convention): configuration[terraform.workspace].
  if (settings.environment !== 'default' && (sandbox || (await localWorkspaceExists(settings)))) {
    // Terraform's documented TF_WORKSPACE selects it without a `workspace select` process per build
    // (sandboxed, the runner made the workspace's directory, or the pull request's empty stand-in).
    env.TF_WORKSPACE = settings.environment;
    deps.stdout.write(`tfgate: workspace ${settings.environment} (TF_WORKSPACE)\n`);
  } else {
    const selected = await terraform.run('workspace', [
      'workspace',
      'select',
      '-or-create',
      '-no-color',
      settings.environment,
    ]);
    if (selected.exitCode !== 0) throw terraformFailure('workspace', selected);
  }
  return { terraform, state };
}

/**
 * Where the state goes. Locally: the data directory, whatever the root declares. In AWS (artifacts in
 * S3): a root without a backend gets the state bucket; its own remote backend is kept; the local
 * backend, or no backend without a state bucket, is refused, because the build container and every
 * state file in it are thrown away when the build ends.
 */
async function placeState(
  settings: BuildSettings,
  deps: BuildRunnerDependencies,
  root: string,
): Promise<StatePlacement> {
  if (settings.stateDir) {
    await writeBackendOverride(root, settings.stateDir);
    return {
      managed: true,
      location: path.join(settings.stateDir, 'terraform.tfstate.d', settings.environment),
      records: new LocalAppliedRecords(settings.stateDir, settings.directory),
    };
  }
  if (!settings.artifacts.startsWith('s3://')) return { managed: false, location: 'the backend the root declares' };
  const backend = await declaredBackend(root, [BACKEND_OVERRIDE_FILE]);
  const bucket = settings.stateBucket && deps.stateBucket ? deps.stateBucket : undefined;
  const records = bucket?.records(settings.repository, settings.directory);
  if (backend.kind === 'local') {
    throw new BuildStepError(
      'state',
      `${backend.file} declares the local backend, which keeps the state inside the build container, thrown away ` +
        'when the build ends: the next run would create everything again. Remove the backend block (tfgate then ' +
        'keeps the state in its state bucket) or declare a remote backend',
    );
  }
  if (backend.kind === 'remote') {
    deps.stdout.write(`tfgate: state: the root's own "${backend.type}" backend (${backend.file})\n`);
    return { managed: false, location: `the root's "${backend.type}" backend`, ...(records ? { records } : {}) };
  }
  if (!bucket || !settings.stateBucket) {
    throw new BuildStepError(
      'state',
      'this root declares no backend and the build project names no state bucket (TFGATE_STATE_BUCKET): its ' +
        'state would be thrown away with the build container. Redeploy tfgate (npx cdk deploy), which adds one',
    );
  }
  const region = deps.env.AWS_REGION ?? deps.env.AWS_DEFAULT_REGION;
  if (!region) throw new BuildStepError('state', 'AWS_REGION is not set: the state bucket cannot be reached');
  const key = stateObjectKey(settings.environment, settings.repository, settings.directory);
  if (settings.kind === 'pr-plan' && settings.environment !== 'default') {
    let exists: boolean;
    try {
      exists = await bucket.exists(key);
    } catch (error) {
      throw new BuildStepError('state', `the state bucket: ${(error as Error).message}`);
    }
    if (!exists) {
      // A pull request's code may write nothing in the state bucket; its plan is never applied, so an
      // environment without a state yet is planned against an empty one that ends with this build.
      const emptyDir = await mkdtemp(path.join(deps.tmpDir ?? os.tmpdir(), 'tfgate-empty-state-'));
      await writeBackendOverride(root, emptyDir);
      deps.stdout.write(
        `tfgate: state: ${settings.environment} has no state in the state bucket yet (s3://${settings.stateBucket}/` +
          `${key}); this pull request is planned against an empty state, and nothing is written there\n`,
      );
      return {
        managed: false,
        location: `an empty state (${settings.environment} has not applied yet)`,
        ...(records ? { records } : {}),
      };
    }
  }
  await writeNewFile(
    path.join(root, BACKEND_OVERRIDE_FILE),
    s3BackendOverride({
      bucket: settings.stateBucket,
      region,
      repository: settings.repository,
      directory: settings.directory,
      environment: settings.environment,
      ...(settings.stateProfile ? { profile: settings.stateProfile } : {}),
    }),
  );
  const location = `s3://${settings.stateBucket}/${key}`;
  deps.stdout.write(`tfgate: state: ${location} (the stack's state bucket; this root declares no backend)\n`);
  try {
    if (settings.mode === 'plan' && settings.environment !== 'default') {
      // terraform would create a new workspace's state itself, which takes the lock and writes: plans may not.
      if ((await bucket.createIfAbsent(key, emptyState('1.0.0', randomUUID()))) === 'created')
        deps.stdout.write(`tfgate: state: ${settings.environment} is new here; its empty state was created\n`);
    }
    if (settings.mode === 'apply') {
      const left = await bucket.releaseStaleLock(`${key}.tflock`);
      if (left !== undefined)
        deps.stdout.write(
          `tfgate: state: released a state lock left by a build that ended without finishing terraform: ` +
            `${left.replace(/\s+/g, ' ').slice(0, 500)}\n`,
        );
    }
  } catch (error) {
    throw new BuildStepError('state', `the state bucket: ${(error as Error).message}`);
  }
  return { managed: true, location, ...(records ? { records } : {}) };
}

/**
 * After an apply: the environment has applied, holding the managed resources the applied plan said it
 * would (`planned_values` of the plan JSON the plan build stored beside the plan).
 */
async function recordApply(
  settings: BuildSettings,
  deps: BuildRunnerDependencies,
  records: AppliedRecords,
): Promise<void> {
  const planJson = await deps.artifacts
    .get(stageArtifactKey(settings.runId, settings.environment, STAGE_ARTIFACTS.planJson, 'plan'))
    .catch(() => undefined);
  const resources = planJson ? resourcesAfterApply(planJson.toString('utf8')) : undefined;
  if (resources === undefined) {
    deps.stderr.write('tfgate: the plan JSON could not be read; the apply record is not updated\n');
    return;
  }
  try {
    await records.put({
      environment: settings.environment,
      runId: settings.runId,
      sha: settings.sha,
      at: new Date().toISOString(),
      resources,
    });
  } catch (error) {
    deps.stderr.write(`tfgate: could not write the apply record: ${(error as Error).message}\n`);
  }
}

/**
 * The environment terraform and tar get: the build's (the user's, filtered by tfgate local), without
 * the runner's own settings. In the sandbox, HOME and TMPDIR are the build's own empty directories,
 * and the user's TF_PLUGIN_CACHE_DIR is not used (the sandbox does not show it; tfgate's own cache is).
 */
function commandEnvironment(source: NodeJS.ProcessEnv, sandboxed: BuildPaths | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...source, TF_IN_AUTOMATION: '1', TF_INPUT: '0' };
  for (const name of RUNNER_VARIABLES) delete env[name];
  if (sandboxed) {
    env.HOME = sandboxed.home;
    env.TMPDIR = sandboxed.tmp;
    delete env.TF_PLUGIN_CACHE_DIR;
  }
  return env;
}

function sandboxFor(sandbox: SandboxSettings, mounts: SandboxMount[]) {
  return {
    bwrap: sandbox.bwrap,
    spec: { system: hostSystem(), mounts, disableNestedUserNamespaces: sandbox.disableNestedUserNamespaces },
  };
}

/**
 * What a build sees of its repository's state directory. A deploy build: its environment's workspace
 * directory, read-write (made by the runner if new). A pull request's plan: the same, read-only (or an
 * empty stand-in when the environment has no state yet), planned with -lock=false. Never another
 * environment's, never another repository's.
 */
async function stateView(settings: BuildSettings, stateDir: string, workDir: string): Promise<SandboxMount[]> {
  const deploy = settings.kind !== 'pr-plan';
  const workspaces = path.join(stateDir, 'terraform.tfstate.d');
  // The default workspace's state is the file at the top of the state directory: that directory, with
  // the other workspaces hidden under an empty one.
  const own = settings.environment === 'default' ? stateDir : path.join(workspaces, settings.environment);
  const hideOthers: SandboxMount[] = settings.environment === 'default' ? [{ kind: 'tmpfs', target: workspaces }] : [];
  if (deploy) {
    await mkdir(own, { recursive: true, mode: 0o700 });
    await mkdir(workspaces, { recursive: true, mode: 0o700 });
    if (!(await lstat(own)).isDirectory())
      throw new BuildStepError('setup', `the state directory ${own} is not a directory`);
    return [{ kind: 'rw', source: own, target: own }, ...hideOthers];
  }
  const existing = await lstat(own).catch(() => undefined);
  if (existing?.isDirectory()) return [{ kind: 'ro', source: own, target: own }, ...hideOthers];
  const standIn = path.join(workDir, 'no-state');
  await mkdir(standIn, { mode: 0o700 });
  return [{ kind: 'ro', source: standIn, target: own }, ...hideOthers];
}

/** tfgate.yaml's `terraform.sandbox.readOnly`, for deploy builds only; `~/x` lands under the build's HOME. */
async function readOnlyMounts(
  settings: BuildSettings,
  sandbox: SandboxSettings,
  home: string,
  log: LogSink,
): Promise<SandboxMount[]> {
  if (settings.kind === 'pr-plan') return [];
  const mounts: SandboxMount[] = [];
  for (const entry of sandbox.readOnly) {
    if (!(await stat(entry.source).catch(() => undefined))) {
      log.write(`tfgate: sandbox: ${entry.source} (terraform.sandbox.readOnly) does not exist; not shown\n`);
      continue;
    }
    const target = entry.target.startsWith('~/') ? path.join(home, entry.target.slice(2)) : entry.target;
    mounts.push({ kind: 'ro', source: entry.source, target });
  }
  return mounts;
}

/**
 * Local state only: the runner's own state directory already holds the environment's workspace (an
 * earlier build created it), so there is nothing for `workspace select -or-create` to create.
 */
async function localWorkspaceExists(settings: BuildSettings): Promise<boolean> {
  if (!settings.stateDir || settings.environment === 'default') return false;
  const dir = await lstat(path.join(settings.stateDir, 'terraform.tfstate.d', settings.environment)).catch(
    () => undefined,
  );
  return dir?.isDirectory() ?? false;
}

/**
 * Init through TFGATE_INIT_CACHE (init-cache.ts): skipped when this commit was initialised before for
 * the same lock file and backend; otherwise run with the plugin cache its lock file shares. Returns the
 * plugin cache as later commands see it (read-only: only init writes there).
 */
async function initialiseThroughCache(
  cacheDir: string,
  settings: BuildSettings,
  deps: BuildRunnerDependencies,
  root: string,
  dataDir: string,
  terraformPath: string,
  env: NodeJS.ProcessEnv,
  runInit: (env?: NodeJS.ProcessEnv, mounts?: SandboxMount[]) => Promise<void>,
): Promise<SandboxMount | undefined> {
  // A lock file that is a link is the commit's trick, not a lock file: read without following.
  const lockFile = await readRegularFile(path.join(root, LOCK_FILE)).catch(() => undefined);
  const binary = await stat(terraformPath);
  const key = initCacheKey({
    sourceSha256: settings.sourceSha256,
    directory: settings.directory,
    stateDir: settings.stateDir,
    lockFile,
    terraform: { path: terraformPath, size: binary.size, mtimeMs: binary.mtimeMs },
    variant: settings.kind === 'pr-plan' ? 'pull-request' : 'deploy',
  });
  // The user's own TF_PLUGIN_CACHE_DIR wins (unsandboxed); without a lock file providers are not shared (lessons).
  const plugins = !env.TF_PLUGIN_CACHE_DIR && lockFile ? pluginCacheDir(cacheDir, lockFile) : undefined;
  await mkdir(path.join(cacheDir, 'plugins'), { recursive: true, mode: 0o700 });
  if (plugins) await mkdir(plugins, { recursive: true, mode: 0o700 });
  try {
    await initialiseOnce({
      cacheDir,
      key,
      lockName: lockFile ? `plugins-${lockFileHash(lockFile)}` : `init-${key}`,
      root,
      dataDir,
      log: deps.stdout,
      ...(deps.signal ? { signal: deps.signal } : {}),
      init: () =>
        runInit(
          plugins ? { ...env, TF_PLUGIN_CACHE_DIR: plugins } : env,
          plugins ? [{ kind: 'rw', source: plugins, target: plugins }] : [],
        ),
    });
  } catch (error) {
    if (error instanceof InitCacheError) throw new BuildStepError('init', error.message);
    throw error;
  }
  return plugins ? { kind: 'ro', source: plugins, target: plugins } : undefined;
}

/**
 * Local mode keeps state in the data directory, whatever backend the repository configures: the
 * override file replaces the backend block (or adds one), so plan, apply and later runs share state.
 */
async function writeBackendOverride(root: string, stateDir: string): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const body = [
    '# Written by tfgate local: state lives in the tfgate data directory.',
    'terraform {',
    '  backend "local" {',
    `    path          = ${hclString(path.join(stateDir, 'terraform.tfstate'))}`,
    `    workspace_dir = ${hclString(path.join(stateDir, 'terraform.tfstate.d'))}`,
    '  }',
    '}',
    '',
  ].join('\n');
  await writeNewFile(path.join(root, BACKEND_OVERRIDE_FILE), body);
}

/**
 * Replaces whatever the commit put at `file` (a symbolic link named like it included) with a new
 * regular file: the entry is removed, never followed, and O_EXCL refuses anything that reappears.
 */
async function writeNewFile(file: string, body: Buffer | string): Promise<void> {
  const existing = await lstat(file).catch(() => undefined);
  if (existing?.isDirectory())
    throw new BuildStepError(
      'setup',
      `${path.basename(file)} is a directory in the commit; tfgate writes a file of that name`,
    );
  if (existing) await unlink(file);
  const handle = await open(
    file,
    fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW,
    0o644,
  );
  try {
    await handle.writeFile(body);
  } finally {
    await handle.close();
  }
}

/** Reads a file the build's code could have swapped: a symbolic link or anything but a regular file is refused. */
async function readRegularFile(file: string): Promise<Buffer> {
  const handle = await open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  try {
    if (!(await handle.stat()).isFile()) throw new Error(`${file} is not a regular file`);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/**
 * The plan where terraform can read it but nothing it runs can replace it: a directory of the
 * runner's, shown to the sandbox as one read-only file.
 */
async function privatePlanCopy(workDir: string, planBytes: Buffer): Promise<string> {
  const planDir = path.join(workDir, 'plan');
  await mkdir(planDir, { recursive: true, mode: 0o700 });
  const planPath = path.join(planDir, 'tfplan');
  await writeFile(planPath, planBytes, { mode: 0o600 });
  return planPath;
}

function terraformFailure(step: string, result: CommandResult): BuildStepError {
  const error =
    extractTerraformError(result.stderr, result.output) ??
    `terraform ${step} exited with ${result.exitCode} and printed no error`;
  return new BuildStepError(step, error, result.exitCode);
}

function withTruncationNote(result: CommandResult): string {
  return result.outputTruncated
    ? `${result.output}\n[output truncated: the full text is in the build log]\n`
    : result.output;
}

/** Stage artifacts are written once (in AWS the build roles may write no other way). */
const WRITE_ONCE = { createOnly: true } as const;

async function store(
  deps: BuildRunnerDependencies,
  settings: BuildSettings,
  name: StageArtifactName,
  body: Buffer | string,
  contentType: string,
): Promise<void> {
  const key = stageArtifactKey(settings.runId, settings.environment, name, settings.kind);
  try {
    // Write once: a build never replaces an object, so no build can replace what another run stored.
    await deps.artifacts.put(key, body, contentType, WRITE_ONCE);
  } catch (error) {
    throw new BuildStepError('artifacts', `could not store ${key}: ${(error as Error).message}`);
  }
}

/** Writes plan-result.json / apply-result.json; `mustSucceed` turns a storage failure into a failed build. */
async function storeResult(
  deps: BuildRunnerDependencies,
  runId: string | undefined,
  environment: string | undefined,
  kind: BuildKind,
  name: StageArtifactName,
  result: StageResult,
  mustSucceed = false,
): Promise<void> {
  let key: string;
  try {
    key = stageArtifactKey(runId ?? '', environment ?? '', name, kind);
  } catch {
    return;
  }
  try {
    await deps.artifacts.put(key, `${JSON.stringify(result, null, 2)}\n`, 'application/json', WRITE_ONCE);
  } catch (error) {
    if (mustSucceed) throw new BuildStepError('artifacts', `could not store ${key}: ${(error as Error).message}`);
    deps.stderr.write(`tfgate: could not store ${key}: ${(error as Error).message}\n`);
  }
}
