import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SpawnFunction } from '../../src/build-runner/process.js';
import { BACKEND_OVERRIDE_FILE } from '../../src/build-runner/runner.js';
import type { StageResult } from '../../src/domain/plan-summary.js';
import type { PlanSummary } from '../../src/domain/run.js';
import {
  artifactJson,
  artifactNames,
  artifactText,
  createSandbox,
  runInProcess,
  type Sandbox,
  TERRAFORM_DOUBLE,
} from './fixtures.js';

const TWO_RESOURCES = `
resource "terraform_data" "network" {
  input = "net-\${terraform.workspace}"
}

resource "terraform_data" "cluster" {
  input = terraform_data.network.output
}

output "cluster" {
  value = terraform_data.cluster.input
}
`;

const FAILING_PROVISIONER = `
resource "terraform_data" "broken" {
  input = "x"
  provisioner "local-exec" {
    command = "echo about to fail; exit 1"
  }
}
`;

let sandbox: Sandbox;

beforeAll(() => {
  if (!existsSync(TERRAFORM_DOUBLE)) throw new Error(`the terraform double is missing at ${TERRAFORM_DOUBLE}`);
});
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  await sandbox.cleanup();
});

const planResult = (runId: string, env = 'ops') => artifactJson<StageResult>(sandbox, runId, env, 'plan-result.json');
const applyResult = (runId: string, env = 'ops') => artifactJson<StageResult>(sandbox, runId, env, 'apply-result.json');
const summaryOf = (runId: string, env = 'ops') => artifactJson<PlanSummary>(sandbox, runId, env, 'summary.json');

async function stateOf(workspace: string): Promise<{ resources: Array<{ type: string; name: string }> }> {
  return JSON.parse(
    await readFile(path.join(sandbox.stateDir, 'terraform.tfstate.d', workspace, 'terraform.tfstate'), 'utf8'),
  );
}

describe('plan', () => {
  it('fetches the commit, plans in the environment workspace and stores every artifact', async () => {
    const sha = await sandbox.commit({ 'infra/main.tf': TWO_RESOURCES, 'README.md': 'not terraform' });

    const outcome = await runInProcess(sandbox, {
      mode: 'plan',
      runId: 'run-1',
      environment: 'ops',
      sha,
      directory: 'infra',
    });

    expect(outcome.stderr).not.toMatch(/tfgate: .*failed/);
    expect(outcome.exitCode).toBe(0);
    expect(await artifactNames(sandbox, 'run-1', 'ops')).toEqual(
      expect.arrayContaining(['plan-result.json', 'plan.sha256', 'plan.txt', 'summary.json', 'tfplan']),
    );
    const planBytes = (await sandbox.artifacts.get('runs/run-1/ops/plan/tfplan'))!;
    const sha256 = createHash('sha256').update(planBytes).digest('hex');
    expect(await artifactText(sandbox, 'run-1', 'ops', 'plan.sha256')).toBe(sha256);

    const summary = await summaryOf('run-1');
    expect(summary).toEqual({
      add: 2,
      change: 0,
      destroy: 0,
      replace: 0,
      hasChanges: true,
      sha256,
      addresses: { create: ['terraform_data.cluster', 'terraform_data.network'], update: [], delete: [], replace: [] },
    });
    expect(await planResult('run-1')).toEqual({ ok: true, exitCode: 0, terraformExitCode: 2, summary });

    const planText = (await artifactText(sandbox, 'run-1', 'ops', 'plan.txt'))!;
    expect(planText).toContain('Plan: 2 to add, 0 to change, 0 to destroy.');
    expect(planText).toContain('net-ops');
    // The log saw the same lines as they happened, plus the commands that produced them.
    expect(outcome.stdout).toContain('Plan: 2 to add, 0 to change, 0 to destroy.');
    expect(outcome.stdout).toContain(`tfgate: source acme/infrastructure@${sha}`);
    expect(outcome.stdout).toContain('$ terraform workspace select -or-create -no-color ops');
    // The work directory (checkout, .terraform, the plan) is gone.
    expect(await readdir(sandbox.tmpDir)).toEqual([]);
  });

  it('reports no changes once the plan has been applied, with state kept in the state directory', async () => {
    const sha = await sandbox.commit({ 'main.tf': TWO_RESOURCES });
    expect((await runInProcess(sandbox, { mode: 'plan', runId: 'run-1', environment: 'ops', sha })).exitCode).toBe(0);
    const { sha256 } = (await summaryOf('run-1'))!;

    const applied = await runInProcess(sandbox, {
      mode: 'apply',
      runId: 'run-1',
      environment: 'ops',
      sha,
      planSha256: sha256,
    });

    expect(applied.exitCode).toBe(0);
    expect(await applyResult('run-1')).toEqual({ ok: true, exitCode: 0, terraformExitCode: 0 });
    expect(await artifactText(sandbox, 'run-1', 'ops', 'apply.txt')).toContain(
      'Apply complete! Resources: 2 added, 0 changed, 0 destroyed.',
    );
    const state = await stateOf('ops');
    expect(state.resources.map((resource) => `${resource.type}.${resource.name}`).sort()).toEqual([
      'terraform_data.cluster',
      'terraform_data.network',
    ]);

    const again = await runInProcess(sandbox, { mode: 'plan', runId: 'run-2', environment: 'ops', sha });
    expect(again.exitCode).toBe(0);
    expect(await summaryOf('run-2')).toMatchObject({ add: 0, change: 0, destroy: 0, hasChanges: false });
    expect(await planResult('run-2')).toMatchObject({ ok: true, terraformExitCode: 0 });

    // Another environment is another workspace: it still has everything to create.
    expect((await runInProcess(sandbox, { mode: 'plan', runId: 'run-2', environment: 'apps', sha })).exitCode).toBe(0);
    expect(await summaryOf('run-2', 'apps')).toMatchObject({ add: 2, hasChanges: true });
  });

  it('counts updates and replacements of a later commit', async () => {
    const first = await sandbox.commit({
      'main.tf': `
resource "terraform_data" "kept" { input = "a" }
resource "terraform_data" "changed" { input = "a" }
resource "terraform_data" "replaced" { triggers_replace = "a" }
resource "terraform_data" "removed" { input = "a" }
`,
    });
    await runInProcess(sandbox, { mode: 'plan', runId: 'run-1', environment: 'ops', sha: first });
    await runInProcess(sandbox, {
      mode: 'apply',
      runId: 'run-1',
      environment: 'ops',
      sha: first,
      planSha256: (await summaryOf('run-1'))!.sha256,
    });

    const second = await sandbox.commit({
      'main.tf': `
resource "terraform_data" "kept" { input = "a" }
resource "terraform_data" "changed" { input = "b" }
resource "terraform_data" "replaced" { triggers_replace = "b" }
resource "terraform_data" "added" { input = "a" }
`,
    });
    expect(
      (await runInProcess(sandbox, { mode: 'plan', runId: 'run-2', environment: 'ops', sha: second })).exitCode,
    ).toBe(0);
    expect(await summaryOf('run-2')).toMatchObject({
      add: 2,
      change: 1,
      destroy: 2,
      replace: 1,
      addresses: {
        create: ['terraform_data.added'],
        update: ['terraform_data.changed'],
        delete: ['terraform_data.removed'],
        replace: ['terraform_data.replaced'],
      },
    });
    expect(await artifactText(sandbox, 'run-2', 'ops', 'plan.txt')).toContain(
      'Plan: 2 to add, 1 to change, 2 to destroy.',
    );
  });

  it("fails with terraform's error text when the configuration is invalid, still storing the plan output", async () => {
    const sha = await sandbox.commit({ 'main.tf': 'resource "terraform_data" "a" {\n  input = var.missing\n}\n' });

    const outcome = await runInProcess(sandbox, { mode: 'plan', runId: 'run-1', environment: 'ops', sha });

    expect(outcome.exitCode).toBe(1);
    const result = (await planResult('run-1'))!;
    expect(result.ok).toBe(false);
    expect(result.exitCode).toBe(1);
    expect(result.error).toMatch(/^Error: Reference to undeclared input variable/);
    expect(result.error).toContain('var.missing');
    expect(await artifactNames(sandbox, 'run-1', 'ops')).not.toContain('tfplan');
    expect(outcome.stderr).toContain('Error: Reference to undeclared input variable');
  });

  it('fails clearly for a commit whose source the pipeline never stored', async () => {
    await sandbox.commit({ 'main.tf': TWO_RESOURCES });
    const missing = '0123456789abcdef0123456789abcdef01234567';

    const outcome = await runInProcess(sandbox, { mode: 'plan', runId: 'run-1', environment: 'ops', sha: missing });

    expect(outcome.exitCode).toBe(1);
    const result = (await planResult('run-1'))!;
    expect(result).toMatchObject({ ok: false, exitCode: 1, step: 'source' });
    expect(result.error).toBe(
      `no source archive at sources/acme/infrastructure/${missing}.tar.gz: the pipeline did not store one`,
    );
    expect(outcome.spawned).toEqual([]);
  });

  it('refuses a source archive whose sha256 is not the one the pipeline computed, before unpacking it', async () => {
    const sha = await sandbox.commit({ 'main.tf': TWO_RESOURCES });
    const outcome = await runInProcess(sandbox, {
      mode: 'plan',
      runId: 'run-1',
      environment: 'ops',
      sha,
      sourceSha256: 'b'.repeat(64),
    });
    expect(outcome.exitCode).toBe(1);
    expect((await planResult('run-1'))!.error).toMatch(
      /the source archive's sha256 is [0-9a-f]{64}, but the pipeline stored b{64}; refusing to build it/,
    );
    expect(outcome.spawned).toEqual([]);
  });

  it('writes the backend override as a new file: a committed symbolic link of that name is not followed', async () => {
    const victim = path.join(sandbox.root, 'victim.tf');
    await writeFile(victim, "# the owner's file\n");
    const sha = await sandbox.commit({ 'main.tf': TWO_RESOURCES, [BACKEND_OVERRIDE_FILE]: { symlink: victim } });

    const outcome = await runInProcess(sandbox, { mode: 'plan', runId: 'run-1', environment: 'ops', sha });

    expect(outcome.exitCode).toBe(0);
    expect(await readFile(victim, 'utf8')).toBe("# the owner's file\n");
    // The state went where the override says: the state directory, not the commit's choice.
    expect(existsSync(path.join(sandbox.stateDir, 'terraform.tfstate.d', 'ops'))).toBe(true);
  });

  it('fails clearly when the directory is not in the commit', async () => {
    const sha = await sandbox.commit({ 'main.tf': TWO_RESOURCES });
    const outcome = await runInProcess(sandbox, {
      mode: 'plan',
      runId: 'run-1',
      environment: 'ops',
      sha,
      directory: 'infra/prod',
    });
    expect(outcome.exitCode).toBe(1);
    expect((await planResult('run-1'))!.error).toBe(`directory "infra/prod" does not exist in commit ${sha}`);
  });

  it('refuses a directory that is a committed symbolic link leading out of the repository', async () => {
    const sha = await sandbox.commit({ 'main.tf': TWO_RESOURCES, infra: { symlink: sandbox.root } });
    const outcome = await runInProcess(sandbox, {
      mode: 'plan',
      runId: 'run-1',
      environment: 'ops',
      sha,
      directory: 'infra',
    });
    expect(outcome.exitCode).toBe(1);
    expect((await planResult('run-1'))!.error).toMatch(/resolves outside the repository/);
    expect(outcome.spawned.some((call) => call.command === TERRAFORM_DOUBLE)).toBe(false);
  });

  it('strips terminal escape sequences from stored output', async () => {
    const sha = await sandbox.commit({
      'main.tf': `
resource "terraform_data" "noisy" {
  input = "x"
  provisioner "local-exec" {
    command = "printf '\\\\033[31mred\\\\033[0m text\\\\033]0;title\\\\007\\\\n'"
  }
}
`,
    });
    await runInProcess(sandbox, { mode: 'plan', runId: 'run-1', environment: 'ops', sha });
    const applied = await runInProcess(sandbox, {
      mode: 'apply',
      runId: 'run-1',
      environment: 'ops',
      sha,
      planSha256: (await summaryOf('run-1'))!.sha256,
    });
    expect(applied.exitCode).toBe(0);
    const text = (await artifactText(sandbox, 'run-1', 'ops', 'apply.txt'))!;
    expect(text).toContain('(local-exec): red text');
    expect(text).not.toMatch(/[\u001b\u0007]/);
  });
});

describe('apply', () => {
  it('refuses a plan whose sha256 is not the approved one, before running anything', async () => {
    const sha = await sandbox.commit({ 'main.tf': TWO_RESOURCES });
    await runInProcess(sandbox, { mode: 'plan', runId: 'run-1', environment: 'ops', sha });
    const recorded = (await summaryOf('run-1'))!.sha256;
    const approved = createHash('sha256').update('some other plan').digest('hex');

    const outcome = await runInProcess(sandbox, {
      mode: 'apply',
      runId: 'run-1',
      environment: 'ops',
      sha,
      planSha256: approved,
    });

    expect(outcome.exitCode).toBe(1);
    expect(outcome.spawned).toEqual([]);
    const result = (await applyResult('run-1'))!;
    expect(result).toMatchObject({ ok: false, exitCode: 1, step: 'verify' });
    expect(result.error).toBe(
      `the saved plan's sha256 is ${recorded}, but the run recorded (and approved) ${approved}; refusing to apply ` +
        `a plan nobody approved`,
    );
    expect(outcome.stderr).toContain('refusing to apply a plan nobody approved');
    expect(existsSync(path.join(sandbox.stateDir, 'terraform.tfstate.d', 'ops', 'terraform.tfstate'))).toBe(false);
  });

  it('refuses when there is no saved plan', async () => {
    const sha = await sandbox.commit({ 'main.tf': TWO_RESOURCES });
    const outcome = await runInProcess(sandbox, {
      mode: 'apply',
      runId: 'run-9',
      environment: 'ops',
      sha,
      planSha256: 'a'.repeat(64),
    });
    expect(outcome.exitCode).toBe(1);
    expect((await applyResult('run-9'))!.error).toBe(
      'no saved plan at runs/run-9/ops/plan/tfplan: the plan step did not store one',
    );
  });

  it('fails a stale plan with terraform’s own message', async () => {
    const sha = await sandbox.commit({ 'main.tf': TWO_RESOURCES });
    await runInProcess(sandbox, { mode: 'plan', runId: 'run-a', environment: 'ops', sha });
    await runInProcess(sandbox, { mode: 'plan', runId: 'run-b', environment: 'ops', sha });
    const first = await runInProcess(sandbox, {
      mode: 'apply',
      runId: 'run-a',
      environment: 'ops',
      sha,
      planSha256: (await summaryOf('run-a'))!.sha256,
    });
    expect(first.exitCode).toBe(0);

    const second = await runInProcess(sandbox, {
      mode: 'apply',
      runId: 'run-b',
      environment: 'ops',
      sha,
      planSha256: (await summaryOf('run-b'))!.sha256,
    });

    expect(second.exitCode).toBe(1);
    const result = (await applyResult('run-b'))!;
    expect(result).toMatchObject({ ok: false, exitCode: 1, step: 'apply', terraformExitCode: 1 });
    expect(result.error).toMatch(/^Error: Saved plan is stale\n/);
    expect(result.error).toContain('can no longer be applied');
    expect(await artifactText(sandbox, 'run-b', 'ops', 'apply.txt')).toContain('Error: Saved plan is stale');
  });

  it('fails with terraform’s error text when a local-exec provisioner exits 1', async () => {
    const sha = await sandbox.commit({ 'main.tf': FAILING_PROVISIONER });
    await runInProcess(sandbox, { mode: 'plan', runId: 'run-1', environment: 'ops', sha });

    const outcome = await runInProcess(sandbox, {
      mode: 'apply',
      runId: 'run-1',
      environment: 'ops',
      sha,
      planSha256: (await summaryOf('run-1'))!.sha256,
    });

    expect(outcome.exitCode).toBe(1);
    const result = (await applyResult('run-1'))!;
    expect(result).toMatchObject({ ok: false, step: 'apply', terraformExitCode: 1 });
    expect(result.error).toMatch(/^Error: local-exec provisioner error\n/);
    expect(result.error).toContain('with terraform_data.broken');
    expect(result.error).toContain("Error running command 'echo about to fail; exit 1': exit status 1");
    expect(await artifactText(sandbox, 'run-1', 'ops', 'apply.txt')).toContain('(local-exec): about to fail');
  });

  it('interrupts terraform on abort, so it stops cleanly and releases the state lock', async () => {
    const sha = await sandbox.commit({ 'main.tf': TWO_RESOURCES });
    await runInProcess(sandbox, { mode: 'plan', runId: 'run-1', environment: 'ops', sha });
    const interruption = new AbortController();
    // terraform holds the lock until the file goes, which it never does: the apply ends only if the abort
    // interrupts it (a delay would make that a matter of timing on a loaded machine).
    const holdFile = path.join(sandbox.root, 'hold');
    await writeFile(holdFile, '');
    const slowTerraform = { ...process.env, TFGATE_DOUBLE_HOLD_FILE: holdFile };
    const started = Date.now();

    const applying = runInProcess(
      sandbox,
      { mode: 'apply', runId: 'run-1', environment: 'ops', sha, planSha256: (await summaryOf('run-1'))!.sha256 },
      { env: slowTerraform, signal: interruption.signal },
    );
    const lockInfo = path.join(sandbox.stateDir, 'terraform.tfstate.d', 'ops', '.terraform.tfstate.lock.info');
    while (!existsSync(lockInfo)) await new Promise((resolve) => setTimeout(resolve, 50));
    interruption.abort();
    const outcome = await applying;

    expect(outcome.exitCode).toBe(1);
    // Ended by the interruption, whatever the machine's load (the hold alone never ends).
    expect(Date.now() - started).toBeLessThan(180_000);
    expect(await applyResult('run-1')).toMatchObject({ ok: false, step: 'apply' });
    expect(existsSync(lockInfo)).toBe(false);
    expect(await readdir(sandbox.tmpDir)).toEqual([]);
  });

  it("never reads a pull-request plan: the apply takes the deploy plan build's prefix only", async () => {
    const sha = await sandbox.commit({ 'main.tf': TWO_RESOURCES });
    // A plan-only build's artifacts land under pr-plan/, where no apply looks.
    const planned = await runInProcess(sandbox, {
      mode: 'plan',
      kind: 'pr-plan',
      runMode: 'plan_only',
      runId: 'run-1',
      environment: 'ops',
      sha,
    });
    expect(planned.exitCode).toBe(0);
    expect(await sandbox.artifacts.get('runs/run-1/ops/pr-plan/tfplan')).toBeDefined();
    expect(await sandbox.artifacts.get('runs/run-1/ops/plan/tfplan')).toBeUndefined();
    const sha256 = createHash('sha256')
      .update((await sandbox.artifacts.get('runs/run-1/ops/pr-plan/tfplan'))!)
      .digest('hex');
    const outcome = await runInProcess(sandbox, {
      mode: 'apply',
      runId: 'run-1',
      environment: 'ops',
      sha,
      planSha256: sha256,
    });
    expect(outcome.exitCode).toBe(1);
    expect((await applyResult('run-1'))!.error).toBe(
      'no saved plan at runs/run-1/ops/plan/tfplan: the plan step did not store one',
    );
  });
});

describe('hostile input', () => {
  const refusingSpawn: SpawnFunction = () => {
    throw new Error('no process may start for refused input');
  };

  it.each([
    [
      'a sha with shell characters',
      { sha: '$(touch /tmp/pwned);rm -rf ~' },
      /TFGATE_SHA must be a full 40-character hex commit sha/,
    ],
    ['a short sha', { sha: 'abc1234' }, /TFGATE_SHA must be a full 40-character hex commit sha/],
    ['a sha that is a ref', { sha: 'refs/heads/main' }, /TFGATE_SHA/],
    ['a directory with ..', { directory: '../../etc' }, /TFGATE_DIRECTORY must not contain "\.\."/],
    ['a directory with .. in the middle', { directory: 'infra/../../x' }, /TFGATE_DIRECTORY must not contain "\.\."/],
    ['an absolute directory', { directory: '/etc' }, /TFGATE_DIRECTORY must be relative/],
    ['a directory with shell characters', { directory: 'infra;id' }, /TFGATE_DIRECTORY must be a relative path/],
    ['a malformed source sha256', { sourceSha256: 'not-a-digest' }, /TFGATE_SOURCE_SHA256 must be 64/],
    ['a sandbox that is not JSON', { sandbox: '/usr/bin/bwrap' }, /TFGATE_SANDBOX must be JSON/],
    [
      'a sandbox with a relative read-only path',
      { sandbox: JSON.stringify({ bwrap: '/usr/bin/bwrap', readOnly: [{ source: 'aws', target: '~/.aws' }] }) },
      /TFGATE_SANDBOX readOnly entries must be/,
    ],
    [
      'a sandbox read-only path with ..',
      { sandbox: JSON.stringify({ bwrap: '/usr/bin/bwrap', readOnly: [{ source: '/a/../b', target: '/b' }] }) },
      /TFGATE_SANDBOX readOnly entries must be/,
    ],
    ['an unknown mode', { mode: 'destroy' }, /TFGATE_MODE must be plan or apply/],
    ['an apply without a plan sha256', { mode: 'apply', planSha256: undefined }, /TFGATE_PLAN_SHA256 is missing/],
    ['an apply with a malformed plan sha256', { mode: 'apply', planSha256: 'XYZ' }, /TFGATE_PLAN_SHA256 must be 64/],
  ])('refuses %s before any process runs, and records why', async (_label, overrides, reason) => {
    const sha = 'f'.repeat(40);
    const outcome = await runInProcess(
      sandbox,
      { mode: 'plan', runId: 'run-1', environment: 'ops', sha, planSha256: 'a'.repeat(64), ...overrides },
      { spawn: refusingSpawn },
    );
    expect(outcome.exitCode).toBe(1);
    expect(outcome.spawned).toEqual([]);
    expect(outcome.stderr).toMatch(reason);
    const resultName = (overrides as { mode?: string }).mode === 'apply' ? 'apply-result.json' : 'plan-result.json';
    const result = (await artifactJson<StageResult>(sandbox, 'run-1', 'ops', resultName))!;
    expect(result).toMatchObject({ ok: false, exitCode: 1, step: 'setup' });
    expect(result.error).toMatch(reason);
  });

  it.each([
    [
      'a pull-request plan build planning a deploy run',
      { mode: 'plan', kind: 'pr-plan' },
      /a pr-plan build cannot plan a deploy run/,
    ],
    [
      'an apply of a plan-only run',
      { mode: 'apply', kind: 'apply', runMode: 'plan_only' },
      /this run is plan-only \(a pull request or drift check\): its plans are never applied/,
    ],
    [
      'an apply build asked to plan',
      { mode: 'plan', kind: 'apply' },
      /a apply build cannot plan a deploy run \(that is the plan build's job\)/,
    ],
    [
      'a plan build asked to apply',
      { mode: 'apply', kind: 'plan' },
      /a plan build cannot apply a deploy run \(that is the apply build's job\)/,
    ],
  ])('refuses %s before any process runs', async (_label, overrides, reason) => {
    const outcome = await runInProcess(
      sandbox,
      { runId: 'run-1', environment: 'ops', sha: 'f'.repeat(40), planSha256: 'a'.repeat(64), ...overrides },
      { spawn: refusingSpawn },
    );
    expect(outcome.exitCode).toBe(1);
    expect(outcome.spawned).toEqual([]);
    expect(outcome.stderr).toMatch(reason);
  });

  it.each([
    ['an environment with ..', { environment: '../ops' }],
    ['a run id with a slash', { runId: 'run/../../x' }],
  ])('refuses %s and writes nothing outside the run', async (_label, overrides) => {
    const outcome = await runInProcess(
      sandbox,
      { mode: 'plan', runId: 'run-1', environment: 'ops', sha: 'f'.repeat(40), ...overrides },
      { spawn: refusingSpawn },
    );
    expect(outcome.exitCode).toBe(1);
    expect(outcome.spawned).toEqual([]);
    expect(existsSync(sandbox.artifactsDir)).toBe(false);
  });

  it('fails with the locator’s message when no terraform can be found', async () => {
    const sha = await sandbox.commit({ 'main.tf': TWO_RESOURCES });
    const outcome = await runInProcess(
      sandbox,
      {
        mode: 'plan',
        runId: 'run-1',
        environment: 'ops',
        sha,
        terraform: path.join(sandbox.root, 'no-terraform-here'),
      },
      { spawn: refusingSpawn },
    );
    expect(outcome.exitCode).toBe(1);
    expect((await planResult('run-1'))!.error).toMatch(/TFGATE_TERRAFORM names .*not an executable file/);
  });
});
