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
