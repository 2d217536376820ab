/**
 * The three kinds of build, each with only what it needs (and, in AWS, its own CodeBuild project and
 * role per environment):
 * - `plan`: plans a push to the tracked branch; read-only credentials (the environment's planRoleArn);
 * - `apply`: applies a saved plan whose sha256 the pipeline computed and a person (or auto-apply)
 *   accepted; the only build that may assume the environment's roleArn;
 * - `pr-plan`: plans code nobody reviewed yet (pull requests, drift checks); read-only credentials,
 *   and it writes only under its own prefix, where no deploy run ever reads.
 */
import { TfgateError } from './errors.js';
import type { RunMode } from './run.js';

export const BUILD_KINDS = ['plan', 'apply', 'pr-plan'] as const;
export type BuildKind = (typeof BUILD_KINDS)[number];

export function isBuildKind(value: unknown): value is BuildKind {
  return typeof value === 'string' && (BUILD_KINDS as readonly string[]).includes(value);
}

/** The plan build a run uses: deploy runs plan with `plan`, plan-only runs (pull requests, drift) with `pr-plan`. */
export function planBuildKind(mode: RunMode): 'plan' | 'pr-plan' {
  return mode === 'deploy' ? 'plan' : 'pr-plan';
}

/** `<prefix>-<environment>-<kind>`: the state machine builds the same name with States.Format. */
export function buildProjectName(prefix: string, environment: string, kind: BuildKind): string {
  return `${prefix}-${environment}-${kind}`;
}

/** The kind a project name ends with (the local CodeBuild stand-in reads it the way AWS sets it per project). */
export function buildKindOfProject(projectName: string): BuildKind | undefined {
  // Longest first: `-pr-plan` also ends in `-plan`.
  return [...BUILD_KINDS].sort((a, b) => b.length - a.length).find((kind) => projectName.endsWith(`-${kind}`));
}

export { sourceArchiveKey } from './artifact-keys.js';
