import { spawn } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildRunnerCommand } from '../../src/build-runner/command.js';
import type { PlanSummary } from '../../src/domain/run.js';
import { artifactJson, createSandbox, type Sandbox, TERRAFORM_DOUBLE } from './fixtures.js';

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  await sandbox.cleanup();
});

function runMain(
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { command, args } = buildRunnerCommand();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function baseEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('TFGATE_')) delete env[key];
  return env;
}

describe('main.ts as a subprocess', () => {
  it(
    'plans and applies from a working directory outside the project, with relative artifact and ' + 'state paths',
    async () => {
      const sha = await sandbox.commit({ 'main.tf': 'resource "terraform_data" "a" {\n  input = "x"\n}\n' });
      const env = {
        ...baseEnv(),
        TFGATE_MODE: 'plan',
        TFGATE_RUN_ID: 'run-1',
        TFGATE_REPOSITORY: 'acme/infrastructure',
        TFGATE_ENVIRONMENT: 'ops',
        TFGATE_SHA: sha,
        TFGATE_SOURCE_SHA256: sandbox.sources.get(sha)!,
        TFGATE_RUN_MODE: 'deploy',
        TFGATE_BUILD_KIND: 'plan',
        TFGATE_DIRECTORY: '.',
        TFGATE_ARTIFACTS: 'artifacts',
        TFGATE_STATE_DIR: 'state',
        TFGATE_TERRAFORM: TERRAFORM_DOUBLE,
        TMPDIR: sandbox.tmpDir,
      };

      const planned = await runMain(env, sandbox.root);
      expect(planned.stderr).not.toContain('tfgate:');
      expect(planned.code).toBe(0);
      expect(planned.stdout).toContain('Plan: 1 to add, 0 to change, 0 to destroy.');
      const summary = (await artifactJson<PlanSummary>(sandbox, 'run-1', 'ops', 'summary.json'))!;
      expect(summary.add).toBe(1);

      const applied = await runMain(
        { ...env, TFGATE_MODE: 'apply', TFGATE_BUILD_KIND: 'apply', TFGATE_PLAN_SHA256: summary.sha256 },
        sandbox.root,
      );
      expect(applied.code).toBe(0);
      expect(applied.stdout).toContain('Apply complete! Resources: 1 added, 0 changed, 0 destroyed.');
    },
  );

  it('exits 1 naming the missing variables', async () => {
    const result = await runMain({ ...baseEnv(), TFGATE_MODE: 'plan' }, sandbox.root);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'missing environment variables: TFGATE_RUN_ID, TFGATE_REPOSITORY, TFGATE_ENVIRONMENT, TFGATE_SHA, ' +
        'TFGATE_SOURCE_SHA256, TFGATE_BUILD_KIND, TFGATE_RUN_MODE, TFGATE_ARTIFACTS',
    );
  });

  it('exits 1 when the plan fails', async () => {
    const sha = await sandbox.commit({ 'main.tf': 'resource "terraform_data" "a" {\n  input = var.nope\n}\n' });
    const result = await runMain(
      {
        ...baseEnv(),
        TFGATE_MODE: 'plan',
        TFGATE_RUN_ID: 'run-1',
        TFGATE_REPOSITORY: 'acme/infrastructure',
        TFGATE_ENVIRONMENT: 'ops',
        TFGATE_SHA: sha,
        TFGATE_SOURCE_SHA256: sandbox.sources.get(sha)!,
        TFGATE_RUN_MODE: 'deploy',
        TFGATE_BUILD_KIND: 'plan',
        TFGATE_ARTIFACTS: sandbox.artifactsDir,
        TFGATE_STATE_DIR: sandbox.stateDir,
        TFGATE_TERRAFORM: TERRAFORM_DOUBLE,
      },
      sandbox.root,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Error: Reference to undeclared input variable');
    expect(result.stderr).toContain('tfgate: plan failed: terraform plan exited with 1');
  });
});
