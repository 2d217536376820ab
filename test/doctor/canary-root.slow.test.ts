/**
 * The canary's root and build inputs through tfgate's real build runner and real terraform (slow: it runs
 * terraform): the variables the doctor gives StartBuild, as the runner reads them, plan the canary's one
 * terraform_data resource and apply that saved plan, each build in a fresh work directory with no shared
 * state, as on CodeBuild. What the account adds (the buildspec's terraform download and signature check,
 * the roles, S3) only `tfgate doctor --canary` itself can show.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsArtifactStore } from '../../src/adapters/fs/artifact-store.js';
import type { SpawnFunction } from '../../src/build-runner/process.js';
import { runBuild } from '../../src/build-runner/runner.js';
import { readBuildSettings } from '../../src/build-runner/settings.js';
import { canaryStartBuildInput, newCanaryRun } from '../../src/doctor/canary.js';
import type { BuildProject } from '../../src/doctor/codebuild.js';
import { sourceArchiveKey } from '../../src/domain/artifact-keys.js';
import { testContext } from './support.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'tfgate-canary-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function project(kind: 'plan' | 'apply'): BuildProject {
  return {
    name: `tfgate-ops-${kind}`,
    environment: 'ops',
    kind,
    environmentType: 'ARM_CONTAINER',
    computeType: 'BUILD_GENERAL1_SMALL',
    variables: {},
  };
}

describe('the canary root on the real runner and terraform', () => {
  it('plans one terraform_data to add and applies that saved plan', async () => {
    const artifactsDir = path.join(root, 'artifacts');
    const artifacts = new FsArtifactStore(artifactsDir);
    const run = newCanaryRun(testContext(), 'ops', { bucket: 'unused', prefix: '' });
    await artifacts.put(sourceArchiveKey(run.repository, run.sha), run.archive);

    const build = async (kind: 'plan' | 'apply', planSha256?: string) => {
      const input = canaryStartBuildInput(run, project(kind), kind, planSha256);
      // What CodeBuild's environment holds: the project's variables and the build's overrides.
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        TFGATE_BUILD_KIND: kind,
        TFGATE_ARTIFACTS: artifactsDir,
        ...Object.fromEntries(input.environmentVariablesOverride!.map((v) => [v.name!, v.value!])),
      };
      let output = '';
      const code = await runBuild(readBuildSettings(env), {
        spawn: spawn as SpawnFunction,
        artifacts,
        env,
        stdout: { write: (text: string) => (output += text) },
        stderr: { write: (text: string) => (output += text) },
        tmpDir: root,
      });
      return { code, output };
    };

    const planned = await build('plan');
    expect(planned.code, planned.output).toBe(0);
    const summary = JSON.parse((await artifacts.get(`runs/${run.runId}/ops/plan/summary.json`))!.toString('utf8'));
    expect(summary).toMatchObject({ add: 1, change: 0, destroy: 0 });
    const tfplan = (await artifacts.get(`runs/${run.runId}/ops/plan/tfplan`))!;
    const planSha256 = createHash('sha256').update(tfplan).digest('hex');

    const applied = await build('apply', planSha256);
    expect(applied.code, applied.output).toBe(0);
    expect(applied.output).toContain('Apply complete! Resources: 1 added, 0 changed, 0 destroyed.');
    const result = JSON.parse(
      await readFile(path.join(artifactsDir, `runs/${run.runId}/ops/apply/apply-result.json`), 'utf8'),
    );
    expect(result).toMatchObject({ ok: true });
  });
});
