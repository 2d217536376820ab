/**
 * The build runner's inputs. They arrive as environment variables from CodeBuild overrides or the
 * local engine, and several of them end up in git arguments, file paths and terraform workspace
 * names, so every one is checked here, before any process starts.
 */
import path from 'node:path';
import { isBuildKind, type BuildKind } from '../domain/builds.js';
import { optionalEnv, requireEnv } from '../env.js';
import { TfgateError } from '../domain/errors.js';

export type BuildMode = 'plan' | 'apply';
export type RunMode = 'deploy' | 'plan_only';

export interface BuildSettings {
  mode: BuildMode;
  /** Which project this build runs in (set per project, never by the run): plan, apply or pr-plan. */
  kind: BuildKind;
  /** The run's mode: only a deploy run's plan is ever applied. */
  runMode: RunMode;
  runId: string;
  repository: string;
  environment: string;
  /** 40 lower-case hex characters. */
  sha: string;
  /** sha256 of the source archive, computed by the pipeline when it stored it. */
  sourceSha256: string;
  /** The Terraform root inside the repository, relative, never leaving it. */
  directory: string;
  /** `s3://bucket/prefix` or a directory. */
  artifacts: string;
  /** apply: the sha256 of the plan the run recorded and the approver approved. */
  planSha256?: string;
  /** An explicit terraform binary (TFGATE_TERRAFORM); otherwise PATH is searched. */
  terraform?: string;
  /** Local mode: an absolute directory for the local backend's state. */
  stateDir?: string;
  /** Local mode: every command runs in bubblewrap (sandbox.ts); absent, commands run as they are. */
  sandbox?: SandboxSettings;
  /** AWS: the stack's state bucket, for roots that declare no backend (managed-state.ts). */
  stateBucket?: string;
  /** AWS: the profile terraform's S3 backend reads the build role's credentials from. */
  stateProfile?: { name: string; configFile: string; credentialsFile: string };
  /** The repository's configured environments (the rename check); absent, that check is skipped. */
  environments?: string[];
}

/** A path of the user's machine a deploy build may read (tfgate.yaml `terraform.sandbox.readOnly`). */
export interface ReadOnlyPath {
  /** Absolute, on the host. */
  source: string;
  /** Where the build sees it: the same absolute path, or `~/…` for the same place under its own HOME. */
  target: string;
}

export interface SandboxSettings {
  bwrap: string;
  disableNestedUserNamespaces: boolean;
  /** Deploy builds only: a pull-request plan is never given any (the runner drops them, too). */
  readOnly: ReadOnlyPath[];
}

export class InvalidBuildSettingsError extends TfgateError {
  override name = 'InvalidBuildSettingsError';
}

export const REQUIRED_VARIABLES = [
  'TFGATE_MODE',
  'TFGATE_RUN_ID',
  'TFGATE_REPOSITORY',
  'TFGATE_ENVIRONMENT',
  'TFGATE_SHA',
  'TFGATE_SOURCE_SHA256',
  'TFGATE_BUILD_KIND',
  'TFGATE_RUN_MODE',
  'TFGATE_ARTIFACTS',
] as const;

/** Reads the environment once (main.ts); the values are checked by `validateBuildSettings`. */
export function readBuildSettings(env: NodeJS.ProcessEnv): Record<keyof BuildSettings, string | undefined> {
  const required = requireEnv(REQUIRED_VARIABLES, env);
  return {
    mode: required.TFGATE_MODE,
    kind: required.TFGATE_BUILD_KIND,
    runMode: required.TFGATE_RUN_MODE,
    runId: required.TFGATE_RUN_ID,
    repository: required.TFGATE_REPOSITORY,
    environment: required.TFGATE_ENVIRONMENT,
    sha: required.TFGATE_SHA,
    sourceSha256: required.TFGATE_SOURCE_SHA256,
    directory: optionalEnv('TFGATE_DIRECTORY', env) ?? '.',
    artifacts: required.TFGATE_ARTIFACTS,
    planSha256: optionalEnv('TFGATE_PLAN_SHA256', env),
    terraform: optionalEnv('TFGATE_TERRAFORM', env),
    stateDir: optionalEnv('TFGATE_STATE_DIR', env),
    sandbox: optionalEnv('TFGATE_SANDBOX', env),
    stateBucket: optionalEnv('TFGATE_STATE_BUCKET', env),
    stateProfile: stateProfileOf(env),
    environments: optionalEnv('TFGATE_ENVIRONMENTS', env),
  };
}

/** TFGATE_STATE_PROFILE with its two files, as one JSON value for validateBuildSettings. */
function stateProfileOf(env: NodeJS.ProcessEnv): string | undefined {
  const name = optionalEnv('TFGATE_STATE_PROFILE', env);
  if (!name) return undefined;
  return JSON.stringify({
    name,
    configFile: optionalEnv('TFGATE_AWS_PROFILE_FILE', env) ?? '',
    credentialsFile: optionalEnv('TFGATE_AWS_SHARED_FILE', env) ?? '',
  });
}

/**
 * Every variable the runner itself reads: its settings, not the build's. Commands (terraform, tar) get
 * the environment without them.
 */
export const RUNNER_VARIABLES = [
  ...REQUIRED_VARIABLES,
  'TFGATE_DIRECTORY',
  'TFGATE_PLAN_SHA256',
  'TFGATE_TERRAFORM',
  'TFGATE_STATE_DIR',
  'TFGATE_SANDBOX',
  'TFGATE_INIT_CACHE',
  'TFGATE_CACHE',
  'TFGATE_ROLE_NOTICE',
  'TFGATE_PARENT_PID',
  'TFGATE_STATE_BUCKET',
  'TFGATE_STATE_PROFILE',
  'TFGATE_AWS_PROFILE_FILE',
  'TFGATE_AWS_SHARED_FILE',
  'TFGATE_ENVIRONMENTS',
] as const;

const SHA = /^[0-9a-f]{40}$/;
const SHA256 = /^[0-9a-f]{64}$/;
// The same rule as tfgate.yaml's environment names: it is the terraform workspace and a path segment.
const ENVIRONMENT = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const REPOSITORY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\/[A-Za-z0-9_.][A-Za-z0-9_.-]{0,99}$/;
const DIRECTORY_CHARACTERS = /^[A-Za-z0-9._/-]{1,200}$/;
// S3's bucket naming rule (general purpose buckets).
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PROFILE = /^[A-Za-z0-9_-]{1,64}$/;

export function validateBuildSettings(
  raw: Partial<Record<keyof BuildSettings, string | undefined>>,
  cwd = process.cwd(),
): BuildSettings {
  const problems: string[] = [];
  const take = (key: keyof BuildSettings, label: string, test: (value: string) => string | undefined): string => {
    const value = raw[key];
    if (value === undefined || value === '') {
      problems.push(`${label} is missing`);
      return '';
    }
    const problem = test(value);
    if (problem) problems.push(`${label} ${problem}: ${describe(value)}`);
    return value;
  };

  const mode = take('mode', 'TFGATE_MODE', (value) =>
    value === 'plan' || value === 'apply' ? undefined : 'must be plan or apply',
  );
  const runId = take('runId', 'TFGATE_RUN_ID', (value) =>
    RUN_ID.test(value) ? undefined : 'must be letters, digits, "-" or "_"',
  );
  const repository = take('repository', 'TFGATE_REPOSITORY', (value) =>
    REPOSITORY.test(value) ? undefined : 'must be owner/name',
  );
  const environment = take('environment', 'TFGATE_ENVIRONMENT', (value) =>
    ENVIRONMENT.test(value) ? undefined : 'must be lower-case letters, digits, "-" or "_"',
  );
  const sha = take('sha', 'TFGATE_SHA', (value) =>
    SHA.test(value.toLowerCase()) ? undefined : 'must be a full 40-character hex commit sha',
  );
  const sourceSha256 = take('sourceSha256', 'TFGATE_SOURCE_SHA256', (value) =>
    SHA256.test(value) ? undefined : 'must be 64 lower-case hex characters',
  );
  const kind = take('kind', 'TFGATE_BUILD_KIND', (value) =>
    isBuildKind(value) ? undefined : 'must be plan, apply or pr-plan',
  );
  const runMode = take('runMode', 'TFGATE_RUN_MODE', (value) =>
    value === 'deploy' || value === 'plan_only' ? undefined : 'must be deploy or plan_only',
  );
  const directory = take('directory', 'TFGATE_DIRECTORY', checkDirectory);
  const artifacts = take('artifacts', 'TFGATE_ARTIFACTS', (value) =>
    /[\0\n\r]/.test(value) ? 'must be one line' : undefined,
  );

  let planSha256: string | undefined;
  if (mode === 'apply') {
    planSha256 = take('planSha256', 'TFGATE_PLAN_SHA256', (value) =>
      SHA256.test(value) ? undefined : 'must be 64 lower-case hex characters',
    );
  }

  let stateDir: string | undefined;
  if (raw.stateDir !== undefined && raw.stateDir !== '') {
    if (raw.stateDir.includes('\0')) problems.push('TFGATE_STATE_DIR must not contain NUL');
    else stateDir = path.resolve(cwd, raw.stateDir);
  }

  // Each project does one thing: an apply project never plans, a plan project never applies, and
  // only a deploy run's own plan is ever applied (a pull request's or a drift check's never is).
  if (problems.length === 0) {
    const expected: BuildKind = mode === 'apply' ? 'apply' : runMode === 'deploy' ? 'plan' : 'pr-plan';
    if (mode === 'apply' && runMode !== 'deploy')
      problems.push('this run is plan-only (a pull request or drift check): its plans are never applied');
    else if (kind !== expected)
      problems.push(`a ${kind} build cannot ${mode} a ${runMode} run (that is the ${expected} build's job)`);
  }

  let sandbox: SandboxSettings | undefined;
  if (raw.sandbox !== undefined && raw.sandbox !== '') {
    try {
      sandbox = parseSandbox(raw.sandbox);
    } catch (error) {
      problems.push(`TFGATE_SANDBOX ${(error as Error).message}`);
    }
  }

  let stateBucket: string | undefined;
  if (raw.stateBucket) {
    if (BUCKET.test(raw.stateBucket)) stateBucket = raw.stateBucket;
    else problems.push(`TFGATE_STATE_BUCKET must be an S3 bucket name: ${describe(raw.stateBucket)}`);
  }
  let stateProfile: BuildSettings['stateProfile'];
  if (raw.stateProfile) {
    const parsed = JSON.parse(raw.stateProfile) as { name: string; configFile: string; credentialsFile: string };
    const file = (value: string) => path.isAbsolute(value) && !/[\0\n\r"\\]/.test(value);
    if (PROFILE.test(parsed.name) && file(parsed.configFile) && file(parsed.credentialsFile)) stateProfile = parsed;
    else
      problems.push(
        'TFGATE_STATE_PROFILE must be a profile name, with TFGATE_AWS_PROFILE_FILE and TFGATE_AWS_SHARED_FILE ' +
          'absolute paths',
      );
  }
  let environments: string[] | undefined;
  if (raw.environments) {
    environments = raw.environments.split(',');
    if (environments.some((name) => !ENVIRONMENT.test(name)))
      problems.push(`TFGATE_ENVIRONMENTS must be environment names separated by ",": ${describe(raw.environments)}`);
  }

  if (problems.length > 0) throw new InvalidBuildSettingsError(`refusing to run: ${problems.join('; ')}`);
  return {
    mode: mode as BuildMode,
    kind: kind as BuildKind,
    runMode: runMode as RunMode,
    runId,
    repository,
    environment,
    sha: sha.toLowerCase(),
    sourceSha256,
    directory: normalizeDirectory(directory),
    artifacts,
    ...(planSha256 ? { planSha256 } : {}),
    ...(raw.terraform ? { terraform: raw.terraform } : {}),
    ...(stateDir ? { stateDir } : {}),
    ...(sandbox ? { sandbox } : {}),
    ...(stateBucket ? { stateBucket } : {}),
    ...(stateProfile ? { stateProfile } : {}),
    ...(environments ? { environments } : {}),
  };
}

/** TFGATE_SANDBOX: `{"bwrap": "/usr/bin/bwrap", "disableNestedUserNamespaces": true, "readOnly": [...]}`. */
function parseSandbox(text: string): SandboxSettings {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('must be JSON');
  }
  const record = (value ?? {}) as Record<string, unknown>;
  const oneLine = (candidate: string) => !/[\0\n\r]/.test(candidate);
  const absolute = (candidate: unknown): candidate is string =>
    typeof candidate === 'string' && path.isAbsolute(candidate) && oneLine(candidate);
  if (!absolute(record.bwrap)) throw new Error('must name bwrap by an absolute path');
  const readOnly: ReadOnlyPath[] = [];
  for (const entry of Array.isArray(record.readOnly) ? record.readOnly : []) {
    const { source, target } = (entry ?? {}) as Record<string, unknown>;
    const targetText = typeof target === 'string' ? target : '';
    const targetOk = (targetText.startsWith('/') || targetText.startsWith('~/')) && oneLine(targetText);
    if (!absolute(source) || !targetOk || `${source}/${target}`.split('/').includes('..'))
      throw new Error('readOnly entries must be {source, target} with absolute paths (target may start with ~/)');
    readOnly.push({ source, target: targetText });
  }
  return { bwrap: record.bwrap, disableNestedUserNamespaces: record.disableNestedUserNamespaces === true, readOnly };
}

function checkDirectory(value: string): string | undefined {
  if (!DIRECTORY_CHARACTERS.test(value)) return 'must be a relative path of letters, digits, ".", "_", "-" and "/"';
  if (value.startsWith('/')) return 'must be relative to the repository';
  if (value.startsWith('-')) return 'must not start with "-"';
  if (value.split('/').some((segment) => segment === '..')) return 'must not contain ".."';
  return undefined;
}

function normalizeDirectory(directory: string): string {
  const normalized = path.posix.normalize(directory).replace(/\/+$/, '');
  return normalized === '' ? '.' : normalized;
}

// Hostile values are quoted and cut, so the refusal itself cannot smuggle anything into the log.
function describe(value: string): string {
  return JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value);
}
