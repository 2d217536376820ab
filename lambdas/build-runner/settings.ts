/**
 * The build runner's inputs. They arrive as environment variables from CodeBuild overrides or the
 * local engine, and several of them end up in git arguments, file paths and terraform workspace
 * names, so every one is checked here, before any process starts.
 */
import path from 'node:path';
import { optionalEnv, requireEnv } from '../core/env.js';

export type BuildMode = 'plan' | 'apply';

export interface BuildSettings {
  mode: BuildMode;
  runId: string;
  repository: string;
  environment: string;
  /** 40 lower-case hex characters. */
  sha: string;
  cloneUrl: string;
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
  /** Credentials for fetching the commit; only ever handed to that one git command. */
  gitToken?: string;
}

export class InvalidBuildSettingsError extends Error {
  override name = 'InvalidBuildSettingsError';
}

export const REQUIRED_VARIABLES = [
  'TFGATE_MODE',
  'TFGATE_RUN_ID',
  'TFGATE_REPOSITORY',
  'TFGATE_ENVIRONMENT',
  'TFGATE_SHA',
  'TFGATE_CLONE_URL',
  'TFGATE_ARTIFACTS',
] as const;

/** Reads the environment once (main.ts); the values are checked by `validateBuildSettings`. */
export function readBuildSettings(env: NodeJS.ProcessEnv): Record<keyof BuildSettings, string | undefined> {
  const required = requireEnv(REQUIRED_VARIABLES, env);
  return {
    mode: required.TFGATE_MODE,
    runId: required.TFGATE_RUN_ID,
    repository: required.TFGATE_REPOSITORY,
    environment: required.TFGATE_ENVIRONMENT,
    sha: required.TFGATE_SHA,
    cloneUrl: required.TFGATE_CLONE_URL,
    directory: optionalEnv('TFGATE_DIRECTORY', env) ?? '.',
    artifacts: required.TFGATE_ARTIFACTS,
    planSha256: optionalEnv('TFGATE_PLAN_SHA256', env),
    terraform: optionalEnv('TFGATE_TERRAFORM', env),
    stateDir: optionalEnv('TFGATE_STATE_DIR', env),
    gitToken: optionalEnv('TFGATE_GIT_TOKEN', env),
  };
}

const SHA = /^[0-9a-f]{40}$/;
const SHA256 = /^[0-9a-f]{64}$/;
// The same rule as tfgate.yaml's environment names: it is the terraform workspace and a path segment.
const ENVIRONMENT = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const REPOSITORY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\/[A-Za-z0-9_.][A-Za-z0-9_.-]{0,99}$/;
const DIRECTORY_CHARACTERS = /^[A-Za-z0-9._\/-]{1,200}$/;

export function validateBuildSettings(raw: Partial<Record<keyof BuildSettings, string | undefined>>, cwd = process.cwd()): BuildSettings {
  const problems: string[] = [];
  const take = (key: keyof BuildSettings, label: string, test: (value: string) => string | undefined): string => {
    const value = raw[key];
    if (value === undefined || value === '') {
      problems.push(`${label} is missing`);
      return '';
    }
    const problem = test(value);
    if (problem) problems.push(`${label} ${problem}: ${describe(key === 'cloneUrl' ? redactUrl(value) : value)}`);
    return value;
  };

  const mode = take('mode', 'TFGATE_MODE', (value) => (value === 'plan' || value === 'apply' ? undefined : 'must be plan or apply'));
  const runId = take('runId', 'TFGATE_RUN_ID', (value) => (RUN_ID.test(value) ? undefined : 'must be letters, digits, "-" or "_"'));
  const repository = take('repository', 'TFGATE_REPOSITORY', (value) => (REPOSITORY.test(value) ? undefined : 'must be owner/name'));
  const environment = take('environment', 'TFGATE_ENVIRONMENT', (value) =>
    ENVIRONMENT.test(value) ? undefined : 'must be lower-case letters, digits, "-" or "_"',
  );
  const sha = take('sha', 'TFGATE_SHA', (value) => (SHA.test(value.toLowerCase()) ? undefined : 'must be a full 40-character hex commit sha'));
  const cloneUrl = take('cloneUrl', 'TFGATE_CLONE_URL', checkCloneUrl);
  const directory = take('directory', 'TFGATE_DIRECTORY', checkDirectory);
  const artifacts = take('artifacts', 'TFGATE_ARTIFACTS', (value) => (/[\0\n\r]/.test(value) ? 'must be one line' : undefined));

  let planSha256: string | undefined;
  if (mode === 'apply') {
    planSha256 = take('planSha256', 'TFGATE_PLAN_SHA256', (value) => (SHA256.test(value) ? undefined : 'must be 64 lower-case hex characters'));
  }

  let stateDir: string | undefined;
  if (raw.stateDir !== undefined && raw.stateDir !== '') {
    if (raw.stateDir.includes('\0')) problems.push('TFGATE_STATE_DIR must not contain NUL');
    else stateDir = path.resolve(cwd, raw.stateDir);
  }

  if (problems.length > 0) throw new InvalidBuildSettingsError(`refusing to run: ${problems.join('; ')}`);
  return {
    mode: mode as BuildMode,
    runId,
    repository,
    environment,
    sha: sha.toLowerCase(),
    cloneUrl,
    directory: normalizeDirectory(directory),
    artifacts,
    ...(planSha256 ? { planSha256 } : {}),
    ...(raw.terraform ? { terraform: raw.terraform } : {}),
    ...(stateDir ? { stateDir } : {}),
    ...(raw.gitToken ? { gitToken: raw.gitToken } : {}),
  };
}

function checkCloneUrl(value: string): string | undefined {
  // A leading "-" would be read by git as an option (the --upload-pack=… family of attacks).
  if (value.startsWith('-')) return 'must not start with "-"';
  if (/[\s\0-\u001f\u007f]/.test(value)) return 'must not contain spaces or control characters';
  return undefined;
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

/** For log lines: a clone URL with any user:password part hidden. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}
