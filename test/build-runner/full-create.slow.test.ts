/**
 * The "creates everything again" stop, with the real terraform: an environment renamed after an apply
 * starts from an empty workspace, and its plan would create every resource beside what exists. It stops
 * before any approval, with the reason; so does a plan whose state went missing.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StageResult } from '../../src/domain/plan-summary.js';
import type { PlanSummary } from '../../src/domain/run.js';
import { REAL_TERRAFORM } from '../support/real-terraform.js';
import { artifactJson, artifactNames, createSandbox, runInProcess, type Sandbox } from './fixtures.js';

const ROOT = `
resource "terraform_data" "network" {
  input = "net-\${terraform.workspace}"
}
resource "terraform_data" "cluster" {
  input = terraform_data.network.output
}
`;

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => sandbox.cleanup());

describe.skipIf(!REAL_TERRAFORM)('a plan that would create everything again', () => {
  it('stops before approval after a rename, and after the state went missing; a new environment goes on', async () => {
    const sha = await sandbox.commit({ 'main.tf': ROOT });
    const build = (mode: 'plan' | 'apply', runId: string, environment: string, environments: string, extra = {}) =>
      runInProcess(sandbox, { mode, runId, environment, sha, environments, terraform: REAL_TERRAFORM!, ...extra });

    expect((await build('plan', 'run-1', 'ops', 'ops')).exitCode).toBe(0);
    const { sha256 } = (await artifactJson<PlanSummary>(sandbox, 'run-1', 'ops', 'summary.json'))!;
    expect((await build('apply', 'run-1', 'ops', 'ops', { planSha256: sha256 })).exitCode).toBe(0);

    // ops renamed to operations in tfgate.yaml: the new workspace is empty.
    const renamed = await build('plan', 'run-2', 'operations', 'operations');
    expect(renamed.exitCode).toBe(1);
    const stopped = await artifactJson<StageResult>(sandbox, 'run-2', 'operations', 'plan-result.json');
    expect(stopped).toMatchObject({ ok: false, step: 'state' });
    expect(stopped!.error).toMatch(/stopped before approval: this plan would create all 2 resources of operations/);
    expect(stopped!.error).toMatch(/ops \(run run-1.*no longer configured/);
    // Nothing a person could approve or a build could apply.
    expect(await artifactNames(sandbox, 'run-2', 'operations')).not.toContain('tfplan');

    // A second environment beside ops (the Kubestack promotion) is a first create, not a rename.
    expect((await build('plan', 'run-3', 'apps', 'ops,apps')).exitCode).toBe(0);

    // The state of ops lost: its record says it held 2 resources.
    await rm(path.join(sandbox.stateDir, 'terraform.tfstate.d', 'ops'), { recursive: true, force: true });
    expect((await build('plan', 'run-4', 'ops', 'ops,apps')).exitCode).toBe(1);
    const lost = await artifactJson<StageResult>(sandbox, 'run-4', 'ops', 'plan-result.json');
    expect(lost!.error).toMatch(/held 2 after its last apply \(run run-1/);
    expect(lost!.error).toMatch(/delete .*tfgate-applied.*ops\.json and push again/);
  });
});
