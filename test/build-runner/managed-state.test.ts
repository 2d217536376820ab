/**
 * Managed state in AWS: a root without a backend gets the state bucket (S3 native locking), its own
 * remote backend is kept, the local backend is refused, plans never lock or write state, and an apply
 * releases a lock file a killed build left. Terraform is stood in for by a spawn that records what it was
 * asked (the S3 backend needs AWS; what terraform does with it only an account shows: docs/aws.md).
 */
import { spawn as nodeSpawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AppliedRecord,
  declaredBackend,
  s3BackendOverride,
  stateObjectKey,
} from '../../src/build-runner/managed-state.js';
import type { SpawnFunction } from '../../src/build-runner/process.js';
import { BACKEND_OVERRIDE_FILE, runBuild, type StateBucketAccess } from '../../src/build-runner/runner.js';
import type { StageResult } from '../../src/domain/plan-summary.js';
import { createSandbox, REPOSITORY, type Sandbox, TERRAFORM_DOUBLE } from './fixtures.js';

const ONE_RESOURCE = 'resource "terraform_data" "a" {\n  input = "x"\n}\n';

describe('the backend a root declares', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-backend-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  const declared = async (files: Record<string, string>) => {
    for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
    return declaredBackend(dir, [BACKEND_OVERRIDE_FILE]);
  };

  it('is none for plain resources, a remote_state attribute, or a backend only in a comment or a string', async () => {
    expect(
      await declared({
        'main.tf': `${ONE_RESOURCE}# terraform { backend "local" {} }\n/* backend "s3" { } */\n`,
        'data.tf': 'data "terraform_remote_state" "n" {\n  backend = "s3"\n  config = { a = "backend \\"x\\" {" }\n}\n',
      }),
    ).toEqual({ kind: 'none' });
  });

  it('is local for backend "local" (HCL or JSON), remote for s3 or an HCP Terraform cloud block', async () => {
    expect(await declared({ 'backend.tf': 'terraform {\n  backend "local" {\n  }\n}\n' })).toEqual({
      kind: 'local',
      file: 'backend.tf',
    });
    await rm(path.join(dir, 'backend.tf'));
    expect(await declared({ 'b.tf.json': '{"terraform": {"backend": {"local": {}}}}' })).toEqual({
      kind: 'local',
      file: 'b.tf.json',
    });
    await rm(path.join(dir, 'b.tf.json'));
    expect(await declared({ 'b.tf': 'terraform { backend "s3" { bucket = "x" } }' })).toEqual({
      kind: 'remote',
      type: 's3',
      file: 'b.tf',
    });
    await rm(path.join(dir, 'b.tf'));
    expect(await declared({ 'c.tf': 'terraform {\n  cloud {\n    organization = "o"\n  }\n}\n' })).toMatchObject({
      kind: 'remote',
      type: 'cloud',
    });
  });

  it("ignores tfgate's own override file", async () => {
    expect(await declared({ [BACKEND_OVERRIDE_FILE]: 'terraform { backend "local" {} }' })).toEqual({ kind: 'none' });
  });
});

describe('the S3 backend override', () => {
  it('keys every environment as env/<environment>/<owner>/<name>/<stack>/terraform.tfstate, with S3 locking', () => {
    const override = s3BackendOverride({
      bucket: 'tfgate-state-1',
      region: 'eu-west-1',
      repository: 'acme/infra',
      directory: 'network',
      environment: 'ops',
      profile: { name: 'tfgate-state', configFile: '/tmp/tfgate/aws-config', credentialsFile: '/tmp/tfgate/c' },
    });
    expect(override).toContain('backend "s3"');
    expect(override).toContain('key                      = "acme/infra/dir/network/terraform.tfstate"');
    expect(override).toContain('workspace_key_prefix     = "env"');
    expect(override).toContain('use_lockfile             = true');
    expect(override).toContain('profile                  = "tfgate-state"');
    expect(override).not.toContain('dynamodb');
    // terraform stores workspace "ops" at <workspace_key_prefix>/ops/<key>: that is stateObjectKey.
    expect(stateObjectKey('ops', 'acme/infra', 'network')).toBe('env/ops/acme/infra/dir/network/terraform.tfstate');
    // The default workspace is stored at <key>: its key carries the same prefix itself.
    const defaults = s3BackendOverride({
      bucket: 'b-1',
      region: 'eu-west-1',
      repository: 'acme/infra',
      directory: '.',
      environment: 'default',
    });
    expect(defaults).toContain(`key                      = "${stateObjectKey('default', 'acme/infra', '.')}"`);
  });
});

interface Asked {
  args: string[];
  override?: string;
}

/** tar runs for real; terraform answers as told (init and workspace succeed, plan reports changes). */
function standIn(asked: Asked[], planExit = 1): SpawnFunction {
  return (command, args, options) => {
    if (command !== TERRAFORM_DOUBLE) return nodeSpawn(command, args, options);
    const entry: Asked = { args: [...args] };
    asked.push(entry);
    const cwd = String(options.cwd);
    const exit = args[0] === 'plan' ? planExit : 0;
    // The override as terraform would read it at init.
    const script = args[0] === 'init' ? `cat ${BACKEND_OVERRIDE_FILE} 2>/dev/null; exit ${exit}` : `exit ${exit}`;
    const child = nodeSpawn('sh', ['-c', script], { ...options, cwd });
    if (args[0] === 'init') {
      let text = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
        entry.override = text;
      });
    }
    return child;
  };
}

function fakeBucket() {
  const objects = new Map<string, string>();
  const created: string[] = [];
  const records = new Map<string, AppliedRecord>();
  const access: StateBucketAccess = {
    records: () => ({
      get: async (environment) => records.get(environment),
      put: async (record) => void records.set(record.environment, record),
      environments: async () => [...records.keys()],
      describe: (environment) => `s3://state/${environment}`,
    }),
    async createIfAbsent(key, body) {
      if (objects.has(key)) return 'exists';
      objects.set(key, body);
      created.push(key);
      return 'created';
    },
    async exists(key) {
      return objects.has(key);
    },
    async releaseStaleLock(key) {
      const body = objects.get(key);
      objects.delete(key);
      return body;
    },
  };
  return { access, objects, created, records };
}

describe('a build in AWS (artifacts in S3)', () => {
  let sandbox: Sandbox;
  beforeEach(async () => {
    sandbox = await createSandbox();
  });
  afterEach(async () => sandbox.cleanup());

  async function build(
    files: Record<string, string>,
    options: {
      mode?: 'plan' | 'apply';
      pullRequest?: boolean;
      bucket?: StateBucketAccess | null;
      planExit?: number;
    } = {},
  ) {
    const sha = await sandbox.commit(files);
    const asked: Asked[] = [];
    let stdout = '';
    let stderr = '';
    const mode = options.mode ?? 'plan';
    const exitCode = await runBuild(
      {
        mode,
        kind: options.pullRequest ? 'pr-plan' : mode,
        runMode: options.pullRequest ? 'plan_only' : 'deploy',
        runId: 'run-1',
        repository: REPOSITORY,
        environment: 'ops',
        sha,
        sourceSha256: sandbox.sources.get(sha),
        directory: '.',
        artifacts: 's3://tfgate-artifacts/artifacts',
        terraform: TERRAFORM_DOUBLE,
        ...(options.bucket === null ? {} : { stateBucket: 'tfgate-state-1' }),
        ...(mode === 'apply' ? { planSha256: '0'.repeat(64) } : {}),
      },
      {
        spawn: standIn(asked, options.planExit),
        artifacts: sandbox.artifacts,
        env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1' },
        stdout: { write: (text: string) => (stdout += text) },
        stderr: { write: (text: string) => (stderr += text) },
        tmpDir: sandbox.tmpDir,
        ...(options.bucket ? { stateBucket: options.bucket } : {}),
      },
    );
    const result = JSON.parse(
      (await sandbox.artifacts.get(
        `runs/run-1/ops/${options.pullRequest ? 'pr-plan' : mode}/${mode}-result.json`,
      ))!.toString('utf8'),
    ) as StageResult;
    return { exitCode, asked, stdout, stderr, result };
  }

  it('gives a backend-less root the state bucket, creates a new workspace empty, plans without the lock', async () => {
    const bucket = fakeBucket();
    const outcome = await build({ 'main.tf': ONE_RESOURCE }, { bucket: bucket.access });
    const init = outcome.asked.find((call) => call.args[0] === 'init');
    expect(init?.override).toContain('backend "s3"');
    expect(init?.override).toContain('bucket                   = "tfgate-state-1"');
    expect(init?.override).toContain('use_lockfile             = true');
    const key = stateObjectKey('ops', REPOSITORY, '.');
    expect(bucket.created).toEqual([key]);
    expect(JSON.parse(bucket.objects.get(key)!)).toMatchObject({ version: 4, serial: 0, resources: [] });
    const plan = outcome.asked.find((call) => call.args[0] === 'plan');
    expect(plan?.args).toContain('-lock=false');
    expect(outcome.stdout).toContain(`tfgate: state: s3://tfgate-state-1/${key}`);
    expect(outcome.stdout).toContain('tfgate: plan runs with -lock=false');
    const planText = (await sandbox.artifacts.get('runs/run-1/ops/plan/plan.txt'))!.toString('utf8');
    expect(planText).toContain('tfgate: plan runs with -lock=false');
  });

  it('plans a pull request against an empty local state where there is none: its role writes nothing', async () => {
    const bucket = fakeBucket();
    const outcome = await build({ 'main.tf': ONE_RESOURCE }, { bucket: bucket.access, pullRequest: true });
    expect(bucket.created).toEqual([]);
    expect(bucket.objects.size).toBe(0);
    const init = outcome.asked.find((call) => call.args[0] === 'init');
    expect(init?.override).toContain('backend "local"');
    expect(init?.override).not.toContain('backend "s3"');
    expect(outcome.stdout).toContain('this pull request is planned against an empty state, and nothing is written');
  });

  it('plans a pull request on the state bucket, read-only, where the environment has a state', async () => {
    const bucket = fakeBucket();
    const key = stateObjectKey('ops', REPOSITORY, '.');
    bucket.objects.set(key, '{"version":4}');
    const outcome = await build({ 'main.tf': ONE_RESOURCE }, { bucket: bucket.access, pullRequest: true });
    expect(bucket.created).toEqual([]);
    expect(outcome.asked.find((call) => call.args[0] === 'init')?.override).toContain('backend "s3"');
    expect(outcome.asked.find((call) => call.args[0] === 'plan')?.args).toContain('-lock=false');
  });

  it('refuses a root on the local backend before terraform runs', async () => {
    const outcome = await build(
      { 'main.tf': ONE_RESOURCE, 'backend.tf': 'terraform {\n  backend "local" {}\n}\n' },
      { bucket: fakeBucket().access },
    );
    expect(outcome.exitCode).toBe(1);
    expect(outcome.result).toMatchObject({ ok: false, step: 'state' });
    expect(outcome.result.error).toMatch(/backend\.tf declares the local backend.*thrown away/);
    expect(outcome.asked).toEqual([]);
  });

  it('refuses a root without a backend when the project names no state bucket', async () => {
    const outcome = await build({ 'main.tf': ONE_RESOURCE }, { bucket: null });
    expect(outcome.result).toMatchObject({ ok: false, step: 'state' });
    expect(outcome.result.error).toMatch(/no state bucket/);
    expect(outcome.asked).toEqual([]);
  });

  it("keeps a root's own remote backend: no override, and the plan takes the lock as that backend allows", async () => {
    const bucket = fakeBucket();
    const outcome = await build(
      { 'main.tf': ONE_RESOURCE, 'backend.tf': 'terraform {\n  backend "s3" {\n    bucket = "mine"\n  }\n}\n' },
      { bucket: bucket.access },
    );
    expect(outcome.asked.find((call) => call.args[0] === 'init')?.override).toBeUndefined();
    expect(outcome.stdout).toContain('tfgate: state: the root\'s own "s3" backend (backend.tf)');
    expect(outcome.asked.find((call) => call.args[0] === 'plan')?.args).not.toContain('-lock=false');
    expect(bucket.created).toEqual([]);
  });

  it('releases, in an apply, a lock file a build that ended mid-terraform left, saying whose it was', async () => {
    const bucket = fakeBucket();
    const key = stateObjectKey('ops', REPOSITORY, '.');
    bucket.objects.set(`${key}.tflock`, '{"ID":"abc","Operation":"OperationTypeApply","Who":"build@killed"}');
    // The saved plan is missing, so the apply stops at verify: before the state is touched.
    const refused = await build({ 'main.tf': ONE_RESOURCE }, { mode: 'apply', bucket: bucket.access });
    expect(refused.result).toMatchObject({ ok: false, step: 'verify' });
    expect(bucket.objects.has(`${key}.tflock`)).toBe(true);

    const tfplan = Buffer.from('plan bytes');
    await sandbox.artifacts.put('runs/run-2/ops/plan/tfplan', tfplan);
    const sha = await sandbox.commit({ 'main.tf': ONE_RESOURCE });
    let stdout = '';
    await runBuild(
      {
        mode: 'apply',
        kind: 'apply',
        runMode: 'deploy',
        runId: 'run-2',
        repository: REPOSITORY,
        environment: 'ops',
        sha,
        sourceSha256: sandbox.sources.get(sha),
        directory: '.',
        artifacts: 's3://tfgate-artifacts/artifacts',
        terraform: TERRAFORM_DOUBLE,
        stateBucket: 'tfgate-state-1',
        planSha256: createHash('sha256').update(tfplan).digest('hex'),
      },
      {
        spawn: standIn([]),
        artifacts: sandbox.artifacts,
        env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1' },
        stdout: { write: (text: string) => (stdout += text) },
        stderr: { write: () => true },
        tmpDir: sandbox.tmpDir,
        stateBucket: bucket.access,
      },
    );
    expect(bucket.objects.has(`${key}.tflock`)).toBe(false);
    expect(stdout).toMatch(
      /released a state lock left by a build that ended without finishing terraform: .*build@killed/,
    );
  });
});
