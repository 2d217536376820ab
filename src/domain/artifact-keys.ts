/**
 * The one home of artifact keys: where plans, plan texts, results and source archives live in the
 * artifact store (S3 under the bucket's prefix in AWS, files under `<data>/artifacts` locally), and the
 * check every store applies to a key before it touches a path or an object. The CDK stack's IAM
 * prefixes (`runs/*\/<environment>/<kind>/*`, `sources/*`) follow these shapes.
 */
import { isBuildKind, type BuildKind } from './builds.js';
import { TfgateError } from './errors.js';

export class InvalidArtifactKeyError extends TfgateError {
  override name = 'InvalidArtifactKeyError';
}

/** A write-once artifact whose key already holds an object (another build wrote it first). */
export class ArtifactExistsError extends TfgateError {
  override name = 'ArtifactExistsError';
}

/** An artifact location (an s3:// URL or a directory) that cannot be used. */
export class InvalidArtifactLocationError extends TfgateError {
  override name = 'InvalidArtifactLocationError';
}

/** Every run's stage artifacts are under `runs/<run>/`. */
export const RUN_ARTIFACTS_PREFIX = 'runs';
/** Commit archives, written by the pipeline function only. */
export const SOURCE_ARCHIVES_PREFIX = 'sources';

/** The files the build runner stores for one stage; the pipeline and the approval page read them. */
export const STAGE_ARTIFACTS = {
  planFile: 'tfplan',
  planText: 'plan.txt',
  /** `terraform show -json` of the saved plan: the structured view and policies read it. */
  planJson: 'plan.json',
  summary: 'summary.json',
  planSha256: 'plan.sha256',
  planResult: 'plan-result.json',
  applyText: 'apply.txt',
  applyResult: 'apply-result.json',
  providerLock: 'terraform.lock.hcl',
} as const;

export type StageArtifactName = (typeof STAGE_ARTIFACTS)[keyof typeof STAGE_ARTIFACTS];

// Both values become path segments (and S3 key segments): nothing with path meaning may pass.
const SAFE_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function assertSegment(value: string, what: string): void {
  if (!SAFE_SEGMENT.test(value) || value.includes('..'))
    throw new TfgateError(`unsafe ${what} for an artifact key: ${JSON.stringify(value)}`);
}

/** `runs/<run>`: everything one run's builds stored (locally also the directory the run page names). */
export function runArtifactsKey(runId: string): string {
  assertSegment(runId, 'run id');
  return `${RUN_ARTIFACTS_PREFIX}/${runId}`;
}

/**
 * `runs/<run>/<environment>/<kind>/<name>`: each kind of build writes only under its own prefix (in AWS
 * its role allows nothing else), so a pull-request plan can never write where a deploy run reads.
 */
export function stageArtifactKey(runId: string, environment: string, name: StageArtifactName, kind: BuildKind): string {
  if (!isBuildKind(kind)) throw new TfgateError(`unknown build kind for an artifact key: ${JSON.stringify(kind)}`);
  assertSegment(runId, 'run id');
  assertSegment(environment, 'environment name');
  return `${RUN_ARTIFACTS_PREFIX}/${runId}/${environment}/${kind}/${name}`;
}

/**
 * Views the pipeline function derives from a stage's artifacts (not the build: the build ran the code under
 * review). Outside `runs/`, where no build role may write.
 */
export const PLAN_VIEWS_PREFIX = 'views';

/** `views/<run>/<environment>/<kind>/plan-view.json`: the structured plan view the approval page shows. */
export function planViewKey(runId: string, environment: string, kind: BuildKind): string {
  if (!isBuildKind(kind)) throw new TfgateError(`unknown build kind for an artifact key: ${JSON.stringify(kind)}`);
  assertSegment(runId, 'run id');
  assertSegment(environment, 'environment name');
  return `${PLAN_VIEWS_PREFIX}/${runId}/${environment}/${kind}/plan-view.json`;
}

const REPOSITORY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\/[A-Za-z0-9_.][A-Za-z0-9_.-]{0,99}$/;
const COMMIT = /^[0-9a-f]{40}$/;

/**
 * Where the pipeline stores a commit's source archive before any build runs: builds get source, never
 * a token or a URL. Only the pipeline function writes under `sources/`.
 */
export function sourceArchiveKey(repository: string, sha: string): string {
  if (!REPOSITORY.test(repository) || repository.split('/').some((part) => part === '.' || part === '..')) {
    throw new TfgateError(`unsafe repository name for a source key: ${JSON.stringify(repository)}`);
  }
  if (!COMMIT.test(sha)) throw new TfgateError(`not a commit id: ${JSON.stringify(sha)}`);
  return `${SOURCE_ARCHIVES_PREFIX}/${repository.toLowerCase()}/${sha}.tar.gz`;
}

/** A build's log file name in the local logs directory (`<logs>/<run>/<environment>-<plan|apply>.log`). */
export function buildLogName(environment: string, mode: string): string {
  return `${environment}-${mode}.log`;
}

const MAX_KEY_LENGTH = 1024;

/** Shared by every ArtifactStore: a key is a relative, `/`-separated path with no `.` or `..` segment. */
export function assertArtifactKey(key: string): void {
  const refuse = (why: string): never => {
    throw new InvalidArtifactKeyError(`artifact key ${JSON.stringify(key.slice(0, 200))} refused: ${why}`);
  };
  if (typeof key !== 'string' || key.length === 0) refuse('empty');
  if (key.length > MAX_KEY_LENGTH) refuse(`longer than ${MAX_KEY_LENGTH} characters`);
  if (/[\u0000-\u001f\u007f]/.test(key)) refuse('control characters');
  if (key.includes('\\')) refuse('backslashes');
  if (key.startsWith('/') || /^[A-Za-z]:/.test(key)) refuse('absolute path');
  for (const segment of key.split('/')) {
    if (segment === '') refuse('empty path segment');
    if (segment === '.' || segment === '..') refuse('"." and ".." segments are not allowed');
  }
}
