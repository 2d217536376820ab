/**
 * `tfgate doctor --canary`: a built-in Terraform root through one plan build and one apply build, on the
 * stack's own build contract (the same projects, the same environment variables the state machine sets),
 * then everything it stored removed again. What it proves only an account can: CodeBuild accepts the
 * builds, the build image downloads terraform and checks HashiCorp's signature, the build roles read the
 * source and write and read their artifacts, the apply role can be assumed, and terraform runs.
 *
 * Scratch by construction, touching no real environment's state or lock:
 * - its repository name, `tfgate-doctor/<run id>`, is never configured, so no webhook, reconciler or
 *   pipeline run ever refers to it, and no run record is written (the state machine is not involved, so
 *   no tfgate environment lock is taken either);
 * - its run id (`doctor-canary-<time>-<random>`) is new, so its artifacts (`runs/<run id>/…`) and source
 *   (`sources/tfgate-doctor/<run id>/…`) are prefixes nothing else uses;
 * - its state lives where the runner puts state for a root without a backend, under that repository's
 *   own key, never under a configured repository's;
 * - the builds run in the chosen environment's projects (the first environment by default, usually
 *   ops) as any build there does; the resource is a `terraform_data`, which reaches no cloud API.
 * It uses a concurrent-build slot while it runs. Cleanup runs whatever happened: a build still running
 * is stopped, every object (all versions) under the canary's prefixes is deleted.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  BatchGetBuildsCommand,
  type Build,
  StartBuildCommand,
  type StartBuildCommandInput,
  StopBuildCommand,
} from '@aws-sdk/client-codebuild';
import { DeleteObjectsCommand, ListObjectVersionsCommand, type ObjectIdentifier } from '@aws-sdk/client-s3';
import { S3ArtifactStore } from '../adapters/aws/s3-artifact-store.js';
import { parseS3Location, type S3Location } from '../adapters/aws/s3-location.js';
import { RUN_ARTIFACTS_PREFIX, STAGE_ARTIFACTS, sourceArchiveKey, stageArtifactKey } from '../domain/artifact-keys.js';
import { TfgateError } from '../domain/errors.js';
import { STATE_ENVIRONMENTS_PREFIX } from '../build-runner/managed-state.js';
import { describeAwsError, errorName } from './aws-errors.js';
import { canaryArchive } from './canary-source.js';
import type { BuildProject } from './codebuild.js';
import { type DoctorContext, DoctorUsageError } from './context.js';
import type { Deployment } from './stack.js';
import { type CheckResult, fail, pass } from './result.js';

export const CANARY_OWNER = 'tfgate-doctor';

export interface CanaryOptions {
  /** Whose build projects run the canary; the first environment in promotion order by default. */
  environment?: string;
  /** Ctrl-C: the canary stops waiting, stops its builds and cleans up. */
  signal?: AbortSignal;
  /** How often a running build is looked at. */
  pollMs?: number;
  /** How long one build may take, queue included, before the canary stops it. */
  buildDeadlineMs?: number;
}

export interface CanaryRun {
  runId: string;
  repository: string;
  environment: string;
  sha: string;
  archive: Buffer;
  sourceSha256: string;
  artifacts: S3Location;
  /**
   * The stack's state bucket, where the project names one (TFGATE_STATE_BUCKET): the runner keeps the
   * state of a root without a backend there, under `env/<environment>/<repository>/…`, so the canary's is
   * under its own.
   */
  stateBucket?: string;
}

/** A fresh scratch identity: nothing in the account has used these names before. */
export function newCanaryRun(
  ctx: DoctorContext,
  environment: string,
  artifacts: S3Location,
  stateBucket?: string,
): CanaryRun {
  const stamp = ctx
    .now()
    .toISOString()
    .replace(/[^0-9]/g, '')
    .slice(0, 14);
  const runId = `doctor-canary-${stamp}-${randomBytes(4).toString('hex')}`;
  const archive = canaryArchive(runId);
  return {
    runId,
    repository: `${CANARY_OWNER}/${runId}`,
    environment,
    // A commit id for the archive's key: there is no commit, so the archive's own sha1 stands in.
    sha: createHash('sha1').update(archive).digest('hex'),
    archive,
    sourceSha256: createHash('sha256').update(archive).digest('hex'),
    artifacts,
    ...(stateBucket ? { stateBucket } : {}),
  };
}

/**
 * The variables the state machine's Plan and Apply states give a build (statemachine/pipeline.asl.json),
 * with the canary's values. No build timeout overrides: the project's own limit applies (Lambda compute
 * takes none), and the doctor stops a build that outlives its own deadline.
 */
export function canaryStartBuildInput(
  run: CanaryRun,
  project: BuildProject,
  mode: 'plan' | 'apply',
  planSha256?: string,
): StartBuildCommandInput {
  const variables: Array<[string, string]> = [
    ['TFGATE_MODE', mode],
    ['TFGATE_RUN_ID', run.runId],
    ['TFGATE_REPOSITORY', run.repository],
    ['TFGATE_ENVIRONMENT', run.environment],
    ['TFGATE_SHA', run.sha],
    ['TFGATE_RUN_MODE', 'deploy'],
    ['TFGATE_SOURCE_SHA256', run.sourceSha256],
    ['TFGATE_DIRECTORY', '.'],
    ...(mode === 'apply' && planSha256 ? ([['TFGATE_PLAN_SHA256', planSha256]] as Array<[string, string]>) : []),
  ];
  return {
    projectName: project.name,
    environmentVariablesOverride: variables.map(([name, value]) => ({ name, value, type: 'PLAINTEXT' })),
    idempotencyToken: `${run.runId}-${mode}`,
  };
}

/** Where the canary writes (its artifacts, its source, its state): cleanup deletes exactly these prefixes. */
export function canaryPrefixes(run: CanaryRun): Array<{ bucket: string; prefix: string }> {
  const within = (key: string) => (run.artifacts.prefix ? `${run.artifacts.prefix}/${key}` : key);
  const sourceKey = sourceArchiveKey(run.repository, run.sha);
  return [
    { bucket: run.artifacts.bucket, prefix: within(`${RUN_ARTIFACTS_PREFIX}/${run.runId}/`) },
    { bucket: run.artifacts.bucket, prefix: within(`${sourceKey.slice(0, sourceKey.lastIndexOf('/') + 1)}`) },
    ...(run.stateBucket
      ? [{ bucket: run.stateBucket, prefix: `${STATE_ENVIRONMENTS_PREFIX}/${run.environment}/${run.repository}/` }]
      : []),
  ];
}

class CanaryStopped extends TfgateError {
  override name = 'CanaryStopped';
}

function buildLink(ctx: DoctorContext, project: string, build: Build | undefined, buildId: string): string {
  return (
    build?.logs?.deepLink ??
    `https://${ctx.region}.console.aws.amazon.com/codesuite/codebuild/projects/${project}/build/` +
      `${encodeURIComponent(buildId)}/log?region=${ctx.region}`
  );
}

/** Why a build failed, in a line: the failed phase's own message, then the runner's result file. */
function buildFailure(build: Build, resultError: string | undefined): string {
  const failedPhase = (build.phases ?? []).find((phase) => phase.phaseStatus && phase.phaseStatus !== 'SUCCEEDED');
  const phaseMessage = failedPhase?.contexts?.map((c) => c.message).find((m) => m && m.trim() !== '');
  const parts = [
    `${build.buildStatus ?? 'UNKNOWN'}`,
    ...(failedPhase ? [`in the ${failedPhase.phaseType?.toLowerCase() ?? '?'} phase`] : []),
    ...(phaseMessage ? [phaseMessage.trim()] : []),
    ...(resultError ? [`runner: ${resultError}`] : []),
  ];
  const text = parts.join(': ');
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

export async function runCanary(
  ctx: DoctorContext,
  deployment: Deployment,
  projects: BuildProject[],
  options: CanaryOptions = {},
): Promise<CheckResult[]> {
  const environment = options.environment ?? deployment.facts.environments[0]!;
  if (!deployment.facts.environments.includes(environment))
    throw new DoctorUsageError(
      `--canary-environment ${JSON.stringify(environment)} is not one of ${deployment.facts.environments.join(', ')}`,
    );
  const planProject = projects.find((p) => p.environment === environment && p.kind === 'plan');
  const applyProject = projects.find((p) => p.environment === environment && p.kind === 'apply');
  if (!planProject || !applyProject)
    return [fail('canary', `canary in ${environment}`, 'not run: its build projects are missing (see above)')];
  let artifacts: S3Location;
  try {
    artifacts = parseS3Location(planProject.variables.TFGATE_ARTIFACTS ?? '');
  } catch {
    return [
      fail('canary', `canary in ${environment}`, `not run: ${planProject.name} has no s3:// TFGATE_ARTIFACTS`, [
        'redeploy: npx cdk deploy',
      ]),
    ];
  }
  const stateBucket = applyProject.variables.TFGATE_STATE_BUCKET || undefined;
  const run = newCanaryRun(ctx, environment, artifacts, stateBucket);
  const store = new S3ArtifactStore(ctx.clients.s3, artifacts);
  const pollMs = options.pollMs ?? 10_000;
  const deadlineMs = options.buildDeadlineMs ?? 40 * 60_000;
  const started: Array<{ id: string; project: string; done: boolean }> = [];
  const results: CheckResult[] = [];
  ctx.progress(`canary ${run.runId}: plan and apply in ${environment}'s projects`);

  const startAndWait = async (project: BuildProject, input: StartBuildCommandInput): Promise<Build> => {
    const answer = await ctx.clients.codeBuild.send(new StartBuildCommand(input));
    const id = answer.build?.id;
    if (!id) throw new Error('StartBuild returned no build id');
    const entry = { id, project: project.name, done: false };
    started.push(entry);
    ctx.progress(`  ${project.name}: build ${id} started`);
    const deadline = ctx.now().getTime() + deadlineMs;
    let lastPhase = '';
    for (;;) {
      const builds = await ctx.clients.codeBuild.send(new BatchGetBuildsCommand({ ids: [id] }));
      const build = builds.builds?.[0];
      if (build?.buildComplete) {
        entry.done = true;
        return build;
      }
      const phase = build?.currentPhase ?? 'SUBMITTED';
      if (phase !== lastPhase) ctx.progress(`  ${project.name}: ${phase.toLowerCase()}`);
      lastPhase = phase;
      if (options.signal?.aborted) throw new CanaryStopped('interrupted');
      if (ctx.now().getTime() > deadline)
        throw new CanaryStopped(`still running after ${Math.round(deadlineMs / 60_000)} minutes`);
      await ctx.sleep(pollMs, options.signal);
    }
  };

  const resultOf = async (kind: 'plan' | 'apply'): Promise<{ ok?: boolean; error?: string } | undefined> => {
    const name = kind === 'plan' ? STAGE_ARTIFACTS.planResult : STAGE_ARTIFACTS.applyResult;
    const body = await store.get(stageArtifactKey(run.runId, environment, name, kind)).catch(() => undefined);
    if (!body) return undefined;
    try {
      return JSON.parse(body.toString('utf8')) as { ok?: boolean; error?: string };
    } catch {
      return { ok: false, error: `${name} is not JSON` };
    }
  };

  try {
    const planTitle = `canary plan build (${planProject.name})`;
    try {
      await store.put(sourceArchiveKey(run.repository, run.sha), run.archive, 'application/gzip');
    } catch (error) {
      results.push(
        fail('canary.plan', planTitle, `could not store the canary source: ${describeAwsError(error)}`, [
          `your credentials need s3:PutObject on ${artifacts.bucket}`,
        ]),
      );
      return results;
    }

    let planSha256: string;
    {
      const input = canaryStartBuildInput(run, planProject, 'plan');
      let build: Build;
      try {
        build = await startAndWait(planProject, input);
      } catch (error) {
        results.push(startFailure(ctx, 'canary.plan', planTitle, error, started));
        return results;
      }
      const result = await resultOf('plan');
      const link = buildLink(ctx, planProject.name, build, build.id ?? '');
      if (build.buildStatus !== 'SUCCEEDED' || result?.ok !== true) {
        results.push(fail('canary.plan', planTitle, buildFailure(build, result?.error), [`its log: ${link}`]));
        return results;
      }
      const tfplan = await store.get(stageArtifactKey(run.runId, environment, STAGE_ARTIFACTS.planFile, 'plan'));
      const summaryText = await store.get(stageArtifactKey(run.runId, environment, STAGE_ARTIFACTS.summary, 'plan'));
      const summary = summaryText ? (JSON.parse(summaryText.toString('utf8')) as { add?: number }) : undefined;
      if (!tfplan || summary?.add !== 1) {
        results.push(
          fail(
            'canary.plan',
            planTitle,
            `the build succeeded but its plan is not the canary's (${summary?.add ?? 'no'} to add)`,
            [`its log: ${link}`],
          ),
        );
        return results;
      }
      planSha256 = createHash('sha256').update(tfplan).digest('hex');
      results.push(
        pass('canary.plan', planTitle, `planned 1 to add in ${environment} (sha256 ${planSha256.slice(0, 12)}…)`),
      );
    }

    {
      const applyTitle = `canary apply build (${applyProject.name})`;
      let build: Build;
      try {
        build = await startAndWait(applyProject, canaryStartBuildInput(run, applyProject, 'apply', planSha256));
      } catch (error) {
        results.push(startFailure(ctx, 'canary.apply', applyTitle, error, started));
        return results;
      }
      const result = await resultOf('apply');
      const link = buildLink(ctx, applyProject.name, build, build.id ?? '');
      if (build.buildStatus !== 'SUCCEEDED' || result?.ok !== true) {
        results.push(fail('canary.apply', applyTitle, buildFailure(build, result?.error), [`its log: ${link}`]));
        return results;
      }
      results.push(pass('canary.apply', applyTitle, 'applied the saved plan'));
    }
    return results;
  } finally {
    results.push(await cleanUp(ctx, run, started));
  }
}

function startFailure(
  ctx: DoctorContext,
  id: string,
  title: string,
  error: unknown,
  started: Array<{ id: string; project: string }>,
): CheckResult {
  if (error instanceof CanaryStopped) {
    const last = started[started.length - 1];
    return fail(
      id,
      title,
      `${error.message}; the build was stopped`,
      last ? [`its log: ${buildLink(ctx, last.project, undefined, last.id)}`] : [],
    );
  }
  const name = errorName(error);
  if (name === 'AccountLimitExceededException')
    return fail(id, title, `CodeBuild refused the build: ${describeAwsError(error)}`, [
      'raise the concurrent-build quota of this compute type (see the quota lines above)',
    ]);
  return fail(id, title, describeAwsError(error), []);
}

/** Stops what still runs, then deletes every version of every object under the canary's prefixes. */
async function cleanUp(
  ctx: DoctorContext,
  run: CanaryRun,
  started: Array<{ id: string; project: string; done: boolean }>,
): Promise<CheckResult> {
  const title = 'canary cleanup';
  const problems: string[] = [];
  for (const build of started.filter((b) => !b.done)) {
    try {
      await ctx.clients.codeBuild.send(new StopBuildCommand({ id: build.id }));
      ctx.progress(`  ${build.project}: build ${build.id} stopped`);
    } catch (error) {
      problems.push(`could not stop ${build.id}: ${describeAwsError(error)}`);
    }
  }
  let deleted = 0;
  for (const { bucket, prefix } of canaryPrefixes(run)) {
    try {
      deleted += await deleteEveryVersion(ctx, bucket, prefix);
    } catch (error) {
      problems.push(`s3://${bucket}/${prefix}: ${describeAwsError(error)}`);
    }
  }
  if (problems.length > 0)
    return fail('canary.cleanup', title, problems.join('; '), [
      ...canaryPrefixes(run).map(({ bucket, prefix }) => `aws s3 rm --recursive s3://${bucket}/${prefix}`),
      ...started.filter((b) => !b.done).map((b) => `aws codebuild stop-build --region ${ctx.region} --id ${b.id}`),
    ]);
  return pass('canary.cleanup', title, `removed ${deleted} object versions; builds stopped or ended`);
}

/** ListObjectVersions gives up to 1000 a page, DeleteObjects takes up to 1000 a call. */
async function deleteEveryVersion(ctx: DoctorContext, bucket: string, prefix: string): Promise<number> {
  let deleted = 0;
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  for (;;) {
    const page = await ctx.clients.s3.send(
      new ListObjectVersionsCommand({
        Bucket: bucket,
        Prefix: prefix,
        ...(keyMarker ? { KeyMarker: keyMarker } : {}),
        ...(versionMarker ? { VersionIdMarker: versionMarker } : {}),
      }),
    );
    const objects: ObjectIdentifier[] = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]
      .filter((entry) => entry.Key?.startsWith(prefix))
      .map((entry) => ({ Key: entry.Key!, ...(entry.VersionId ? { VersionId: entry.VersionId } : {}) }));
    if (objects.length > 0) {
      const answer = await ctx.clients.s3.send(
        new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, Quiet: true } }),
      );
      if (answer.Errors && answer.Errors.length > 0) {
        const first = answer.Errors[0]!;
        throw Object.assign(new Error(`${answer.Errors.length} not deleted (${first.Key}: ${first.Code})`), {
          name: first.Code ?? 'DeleteObjectsError',
        });
      }
      deleted += objects.length;
    }
    if (!page.IsTruncated) return deleted;
    keyMarker = page.NextKeyMarker;
    versionMarker = page.NextVersionIdMarker;
  }
}
