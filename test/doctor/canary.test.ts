/**
 * `tfgate doctor --canary` against mocked CodeBuild and S3: the builds it starts (held against the
 * documented StartBuild constraints and against the variables the state machine gives a build), what it
 * stores and reads, and its cleanup, which runs whatever happened: a failed build, a build that never
 * ends, a refused StartBuild, Ctrl-C. The canary root itself runs through the real runner and terraform
 * in canary-root.slow.test.ts.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  BatchGetBuildsCommand,
  BatchGetProjectsCommand,
  type Build,
  StartBuildCommand,
  StopBuildCommand,
} from '@aws-sdk/client-codebuild';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REQUIRED_VARIABLES } from '../../src/build-runner/settings.js';
import { DoctorUsageError } from '../../src/doctor/context.js';
import type { DoctorFacts } from '../../src/doctor/facts.js';
import type { CheckResult } from '../../src/doctor/result.js';
import { packageFile } from '../../src/package-files.js';
import { type DoctorReport, runDoctor } from '../../src/doctor/run.js';
import { assertDocumentedRequests } from './aws-constraints.js';
import {
  allCalls,
  awsError,
  BUCKET,
  healthyAccount,
  mocks,
  projectsFor,
  resetMocks,
  STACK,
  type StandIn,
  startStandIn,
  testContext,
} from './support.js';

let standIn: StandIn;
let facts: DoctorFacts;
/** The artifacts bucket: key → bytes (one version each; enough to show every object goes). */
let bucket: Map<string, Buffer>;
/** What each started build does when it runs, by project kind. */
let behaviour: { plan: BuildScript; apply: BuildScript };

type BuildScript = (build: { id: string; variables: Record<string, string> }) => Partial<Build> | 'never';

beforeAll(async () => {
  standIn = await startStandIn();
});
afterAll(async () => {
  await standIn.close();
});

const PLAN_BYTES = Buffer.from('a saved plan (stand-in bytes)');

function writeResult(
  variables: Record<string, string>,
  kind: 'plan' | 'apply',
  files: Record<string, string | Buffer>,
) {
  for (const [name, body] of Object.entries(files)) {
    bucket.set(
      `artifacts/runs/${variables.TFGATE_RUN_ID}/${variables.TFGATE_ENVIRONMENT}/${kind}/${name}`,
      Buffer.from(body),
    );
  }
}

const succeedingPlan: BuildScript = ({ variables }) => {
  writeResult(variables, 'plan', {
    tfplan: PLAN_BYTES,
    'summary.json': JSON.stringify({ add: 1, change: 0, destroy: 0 }),
    'plan-result.json': JSON.stringify({ ok: true, exitCode: 0 }),
  });
  return { buildStatus: 'SUCCEEDED' };
};
const succeedingApply: BuildScript = ({ variables }) => {
  writeResult(variables, 'apply', { 'apply-result.json': JSON.stringify({ ok: true, exitCode: 0 }) });
  return { buildStatus: 'SUCCEEDED' };
};

beforeEach(() => {
  resetMocks();
  facts = healthyAccount(standIn);
  bucket = new Map();
  behaviour = { plan: succeedingPlan, apply: succeedingApply };
  mocks.s3.on(PutObjectCommand).callsFake((input: { Key: string; Body: Buffer | string }) => {
    bucket.set(input.Key, Buffer.from(input.Body));
    return {};
  });
  mocks.s3.on(GetObjectCommand).callsFake((input: { Key: string }) => {
    const body = bucket.get(input.Key);
    if (!body) throw awsError('NoSuchKey');
    return { Body: { transformToByteArray: async () => new Uint8Array(body) } };
  });
  mocks.s3.on(ListObjectVersionsCommand).callsFake((input: { Prefix: string }) => ({
    Versions: [...bucket.keys()]
      .filter((key) => key.startsWith(input.Prefix))
      .map((Key) => ({ Key, VersionId: `v-${Key.length}` })),
    IsTruncated: false,
  }));
  mocks.s3.on(DeleteObjectsCommand).callsFake((input: { Delete: { Objects: Array<{ Key: string }> } }) => {
    for (const object of input.Delete.Objects) bucket.delete(object.Key);
    return { Deleted: input.Delete.Objects };
  });
  const builds = new Map<string, { outcome: Partial<Build> | 'never'; polls: number }>();
  mocks.codeBuild
    .on(StartBuildCommand)
    .callsFake(
      (input: { projectName: string; environmentVariablesOverride: Array<{ name: string; value: string }> }) => {
        const id = `${input.projectName}:${builds.size + 1}`;
        const variables = Object.fromEntries(input.environmentVariablesOverride.map((v) => [v.name, v.value]));
        const kind = input.projectName.endsWith('-apply') ? 'apply' : 'plan';
        builds.set(id, { outcome: behaviour[kind]({ id, variables }), polls: 0 });
        return { build: { id, buildStatus: 'IN_PROGRESS' } };
      },
    );
  mocks.codeBuild.on(BatchGetBuildsCommand).callsFake((input: { ids: string[] }) => ({
    builds: input.ids.map((id) => {
      const build = builds.get(id)!;
      build.polls += 1;
      // Queued, then building, then done.
      if (build.outcome === 'never' || build.polls < 3)
        return {
          id,
          buildComplete: false,
          buildStatus: 'IN_PROGRESS',
          currentPhase: build.polls < 2 ? 'QUEUED' : 'BUILD',
        };
      return { id, buildComplete: true, ...build.outcome };
    }),
  }));
  mocks.codeBuild
    .on(StopBuildCommand)
    .callsFake((input: { id: string }) => ({ build: { id: input.id, buildStatus: 'STOPPED' } }));
});
afterEach(() => {
  const lambdaProjects = new Set(
    projectsFor(facts)
      .filter((p) => p.environment?.type === 'ARM_LAMBDA_CONTAINER')
      .map((p) => p.name!),
  );
  assertDocumentedRequests(allCalls(), { lambdaProjects });
});

async function canary(
  options: { environment?: string; signal?: AbortSignal } = {},
  ctx = testContext(),
): Promise<DoctorReport> {
  return runDoctor(ctx, { stackName: STACK, canary: { pollMs: 1, buildDeadlineMs: 10 * 60_000, ...options } });
}

function canaryLines(report: DoctorReport): CheckResult[] {
  return report.results.filter((r) => r.id.startsWith('canary'));
}

function started(): Array<{ projectName: string; variables: Record<string, string>; input: Record<string, unknown> }> {
  return mocks.codeBuild.commandCalls(StartBuildCommand).map((call) => {
    const input = call.args[0].input;
    return {
      projectName: input.projectName!,
      variables: Object.fromEntries((input.environmentVariablesOverride ?? []).map((v) => [v.name!, v.value!])),
      input: input as unknown as Record<string, unknown>,
    };
  });
}

/** The variable names the state machine's Plan and Apply states give a build. */
function definitionVariables(state: 'Plan' | 'Apply'): string[] {
  const definition = JSON.parse(readFileSync(packageFile('statemachine', 'pipeline.asl.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const found: string[][] = [];
  const walk = (value: unknown) => {
    if (!value || typeof value !== 'object') return;
    const record = value as Record<string, unknown>;
    if (record.States && typeof record.States === 'object') {
      const states = record.States as Record<
        string,
        { Parameters?: { EnvironmentVariablesOverride?: Array<{ Name: string }> } }
      >;
      const overrides = states[state]?.Parameters?.EnvironmentVariablesOverride;
      if (overrides) found.push(overrides.map((v) => v.Name));
    }
    for (const child of Object.values(record)) walk(child);
  };
  walk(definition);
  expect(found).toHaveLength(1);
  return found[0]!;
}

describe('the canary', () => {
  it('plans and applies in the first environment on the build contract as deployed, then leaves nothing', async () => {
    const report = await canary();
    expect(canaryLines(report).map((r) => [r.id, r.status])).toEqual([
      ['canary.plan', 'pass'],
      ['canary.apply', 'pass'],
      ['canary.cleanup', 'pass'],
    ]);
    const [plan, apply] = started();
    expect(plan!.projectName).toBe('tfgate-ops-plan');
    expect(apply!.projectName).toBe('tfgate-ops-apply');
    // Variables the state machine sets, nothing else (the runner sees a build like any other), and every one
    // the runner requires that the project does not set itself. Optional ones (a stale lock to release) are
    // the pipeline's business, never the canary's.
    const projectSet = ['TFGATE_BUILD_KIND', 'TFGATE_ARTIFACTS'];
    const required = REQUIRED_VARIABLES.filter((name) => !projectSet.includes(name));
    expect(definitionVariables('Plan')).toEqual(expect.arrayContaining(Object.keys(plan!.variables)));
    expect(definitionVariables('Apply')).toEqual(expect.arrayContaining(Object.keys(apply!.variables)));
    expect(Object.keys(plan!.variables)).toEqual(expect.arrayContaining(required));
    expect(Object.keys(apply!.variables)).toEqual(expect.arrayContaining([...required, 'TFGATE_PLAN_SHA256']));
    expect(plan!.variables).toMatchObject({
      TFGATE_MODE: 'plan',
      TFGATE_RUN_MODE: 'deploy',
      TFGATE_ENVIRONMENT: 'ops',
      TFGATE_DIRECTORY: '.',
    });
    // No timeout overrides at all: the plan project runs on Lambda compute, which takes none.
    for (const build of [plan!, apply!]) {
      expect(build.input.timeoutInMinutesOverride).toBeUndefined();
      expect(build.input.queuedTimeoutInMinutesOverride).toBeUndefined();
    }
    // A scratch identity: a repository no configuration names, a run id nothing else uses.
    const runId = plan!.variables.TFGATE_RUN_ID!;
    expect(runId).toMatch(/^doctor-canary-20261207120000-[0-9a-f]{8}$/);
    expect(plan!.variables.TFGATE_REPOSITORY).toBe(`tfgate-doctor/${runId}`);
    expect(facts.repositories).not.toContain(plan!.variables.TFGATE_REPOSITORY);
    expect(apply!.variables.TFGATE_RUN_ID).toBe(runId);

    // The source went where builds read it, and its sha256 is the one the builds check.
    const [put] = mocks.s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input);
    expect(put!.Bucket).toBe(BUCKET);
    expect(put!.Key).toBe(`artifacts/sources/tfgate-doctor/${runId}/${plan!.variables.TFGATE_SHA}.tar.gz`);
    expect(
      createHash('sha256')
        .update(put!.Body as Buffer)
        .digest('hex'),
    ).toBe(plan!.variables.TFGATE_SOURCE_SHA256);
    // The apply is of the plan the plan build stored, by the sha256 the doctor computed itself.
    expect(apply!.variables.TFGATE_PLAN_SHA256).toBe(createHash('sha256').update(PLAN_BYTES).digest('hex'));

    // Cleanup: only the canary's two prefixes were listed, and everything in them is gone.
    expect(mocks.s3.commandCalls(ListObjectVersionsCommand).map((c) => c.args[0].input.Prefix)).toEqual([
      `artifacts/runs/${runId}/`,
      `artifacts/sources/tfgate-doctor/${runId}/`,
    ]);
    expect([...bucket.keys()]).toEqual([]);
    expect(mocks.codeBuild.commandCalls(StopBuildCommand)).toHaveLength(0);
  });

  it("its state, in the stack's state bucket, is deleted under its own repository's prefix", async () => {
    const projects = projectsFor(facts).map((project) => ({
      ...project,
      environment: {
        ...project.environment!,
        environmentVariables: [
          ...(project.environment?.environmentVariables ?? []),
          { name: 'TFGATE_STATE_BUCKET', value: 'tfgate-state-0123abcd', type: 'PLAINTEXT' as const },
        ],
      },
    }));
    mocks.codeBuild.on(BatchGetProjectsCommand).resolves({ projects, projectsNotFound: [] });
    behaviour.apply = ({ variables }) => {
      // What the runner's S3 backend leaves: the workspace's state and apply record under the repository's prefix.
      bucket.set(`env/ops/${variables.TFGATE_REPOSITORY}/root/terraform.tfstate`, Buffer.from('{}'));
      bucket.set(`env/ops/${variables.TFGATE_REPOSITORY}/root/tfgate-applied.json`, Buffer.from('{}'));
      return succeedingApply({ id: 'x', variables });
    };
    const report = await canary();
    expect(canaryLines(report).map((r) => r.status)).toEqual(['pass', 'pass', 'pass']);
    const runId = started()[0]!.variables.TFGATE_RUN_ID;
    const listed = mocks.s3
      .commandCalls(ListObjectVersionsCommand)
      .map((c) => [c.args[0].input.Bucket, c.args[0].input.Prefix]);
    expect(listed).toContainEqual(['tfgate-state-0123abcd', `env/ops/tfgate-doctor/${runId}/`]);
    expect([...bucket.keys()]).toEqual([]);
  });

  it('runs in the environment it is given, and refuses one the stack does not have', async () => {
    await canary({ environment: 'apps' });
    expect(started().map((b) => b.projectName)).toEqual(['tfgate-apps-plan', 'tfgate-apps-apply']);
    await expect(canary({ environment: 'prod' })).rejects.toThrow(DoctorUsageError);
  });

  it('a plan build that fails: the reason and the log link, no apply, and the cleanup still runs', async () => {
    behaviour.plan = ({ variables }) => {
      writeResult(variables, 'plan', {
        'plan-result.json': JSON.stringify({ ok: false, exitCode: 1, error: 'terraform init exited with 1' }),
      });
      return {
        buildStatus: 'FAILED',
        phases: [
          { phaseType: 'SUBMITTED', phaseStatus: 'SUCCEEDED' },
          {
            phaseType: 'INSTALL',
            phaseStatus: 'FAILED',
            contexts: [
              {
                statusCode: 'COMMAND_EXECUTION_ERROR',
                message: 'Error while executing command: ( set -euo pipefail …). Reason: exit status 1',
              },
            ],
          },
        ],
        logs: { deepLink: 'https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logEvent:group=x' },
      };
    };
    const report = await canary();
    const [plan, cleanup] = canaryLines(report);
    expect(plan).toMatchObject({ id: 'canary.plan', status: 'fail' });
    expect(plan!.detail).toMatch(
      /^FAILED: in the install phase: Error while executing command.*runner: terraform init exited with 1$/,
    );
    expect(plan!.fix).toEqual([
      'its log: https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logEvent:group=x',
    ]);
    expect(started()).toHaveLength(1);
    expect(cleanup).toMatchObject({ id: 'canary.cleanup', status: 'pass' });
    expect([...bucket.keys()]).toEqual([]);
  });

  it('an apply build that fails is reported, and its plan and source are removed all the same', async () => {
    behaviour.apply = () => ({
      buildStatus: 'FAILED',
      phases: [
        {
          phaseType: 'PRE_BUILD',
          phaseStatus: 'FAILED',
          contexts: [{ message: 'tfgate: cannot assume arn:aws:iam::1:role/ops' }],
        },
      ],
    });
    const report = await canary();
    expect(canaryLines(report).map((r) => r.status)).toEqual(['pass', 'fail', 'pass']);
    expect(canaryLines(report)[1]!.detail).toMatch(/pre_build phase: tfgate: cannot assume/);
    expect([...bucket.keys()]).toEqual([]);
  });

  it('a build that never ends is stopped at the deadline, then everything is cleaned up', async () => {
    behaviour.plan = () => 'never';
    const report = await canary({}, testContext());
    const [plan, cleanup] = canaryLines(report);
    expect(plan!.detail).toBe('still running after 10 minutes; the build was stopped');
    expect(mocks.codeBuild.commandCalls(StopBuildCommand).map((c) => c.args[0].input.id)).toEqual([
      'tfgate-ops-plan:1',
    ]);
    expect(cleanup!.status).toBe('pass');
    expect([...bucket.keys()]).toEqual([]);
  });

  it('Ctrl-C stops the running build and cleans up', async () => {
    behaviour.plan = () => 'never';
    const interrupt = new AbortController();
    const ctx = testContext();
    const sleep = ctx.sleep;
    ctx.sleep = async (ms, signal) => {
      interrupt.abort();
      await sleep(ms, signal);
    };
    const report = await canary({ signal: interrupt.signal }, ctx);
    expect(canaryLines(report)[0]!.detail).toBe('interrupted; the build was stopped');
    expect(mocks.codeBuild.commandCalls(StopBuildCommand)).toHaveLength(1);
    expect([...bucket.keys()]).toEqual([]);
  });

  it('CodeBuild refusing the build (concurrency quota) fails with the quota hint; the source is removed', async () => {
    mocks.codeBuild
      .on(StartBuildCommand)
      .rejects(awsError('AccountLimitExceededException', 'Cannot have more than 0 builds in queue for the account'));
    const report = await canary();
    const [plan, cleanup] = canaryLines(report);
    expect(plan!.detail).toMatch(/^CodeBuild refused the build: AccountLimitExceededException/);
    expect(plan!.fix![0]).toMatch(/concurrent-build quota/);
    expect(cleanup!.status).toBe('pass');
    expect([...bucket.keys()]).toEqual([]);
  });

  it('a cleanup that cannot delete fails, with the commands that finish it', async () => {
    mocks.s3
      .on(DeleteObjectsCommand)
      .resolves({ Errors: [{ Key: 'artifacts/runs/x', Code: 'AccessDenied', Message: 'Access Denied' }] });
    const report = await canary();
    const cleanup = canaryLines(report).at(-1)!;
    expect(cleanup.status).toBe('fail');
    expect(cleanup.detail).toMatch(/1 not deleted \(artifacts\/runs\/x: AccessDenied\)/);
    expect(cleanup.fix![0]).toMatch(new RegExp(`^aws s3 rm --recursive s3://${BUCKET}/artifacts/runs/doctor-canary-`));
  });

  it('not run when the build projects are missing', async () => {
    mocks.codeBuild.on(BatchGetProjectsCommand).resolves({ projects: [], projectsNotFound: ['tfgate-ops-plan'] });
    const report = await canary();
    expect(canaryLines(report)).toEqual([expect.objectContaining({ id: 'canary', status: 'skip' })]);
    expect(mocks.codeBuild.commandCalls(StartBuildCommand)).toHaveLength(0);
    expect(mocks.s3.calls()).toHaveLength(0);
  });
});
