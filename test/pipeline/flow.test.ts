import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { lockKeyFor } from '../../lambdas/core/dynamo/table-layout.js';
import {
  configYaml,
  decideThroughPage,
  nextApproval,
  pushChange,
  REPOSITORY,
  runForSha,
  runJson,
  sendPullRequest,
  startTestStack,
  statePath,
  terraformFiles,
  waitForRun,
  type TestStack,
} from '../support/local-stack.js';

/** The whole pipeline through the real definition file, the local engine and the terraform double. */

let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.cleanup();
  stack = undefined;
});

async function resourcesIn(file: string): Promise<string[]> {
  const state = JSON.parse(await readFile(file, 'utf8')) as { resources: Array<{ type: string; name: string }> };
  return state.resources.map((r) => `${r.type}.${r.name}`).sort();
}

async function noLocksHeld(current: TestStack): Promise<void> {
  expect(await current.stores.locks.get(lockKeyFor(REPOSITORY, 'ops'))).toBeUndefined();
  expect(await current.stores.locks.get(lockKeyFor(REPOSITORY, 'apps'))).toBeUndefined();
  expect(await current.stores.locks.listHeld()).toEqual([]);
}

describe('a push through the pipeline', () => {
  it('applies ops, waits for approval of apps, applies apps once approved over HTTP', async () => {
    stack = await startTestStack();
    const approval = nextApproval(stack);
    const sha = await pushChange(stack, terraformFiles({ network: 'net', cluster: 'k8s' }));
    const request = await approval;
    const waiting = await stack.runs.get(request.run.id);
    expect(waiting?.status).toBe('awaiting_approval');
    expect(waiting?.stages.map((s) => [s.environment, s.status])).toEqual([
      ['ops', 'applied'],
      ['apps', 'awaiting_approval'],
    ]);
    // ops is already applied while apps waits: what ops validated is what apps will receive.
    expect(await resourcesIn(statePath(stack, 'ops'))).toEqual(['terraform_data.cluster', 'terraform_data.network']);

    const decision = await decideThroughPage(request.url, 'approve');
    expect(decision.status).toBe(200);
    const run = await waitForRun(stack, request.run.id);
    expect(run.status).toBe('succeeded');
    expect(run.sha).toBe(sha);

    const json = (await runJson(stack, run.id)) as { status: string; trigger: string; stages: Array<{ environment: string; status: string; plan: { add: number; change: number; destroy: number; sha256: string }; approval?: { status: string }; transitions: Array<{ status: string; at: string }> }> };
    expect(json.status).toBe('succeeded');
    expect(json.trigger).toBe('push');
    expect(json.stages.map((s) => s.environment)).toEqual(['ops', 'apps']);
    for (const stage of json.stages) {
      expect(stage.status).toBe('applied');
      expect(stage.plan).toMatchObject({ add: 2, change: 0, destroy: 0 });
      expect(stage.plan.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(stage.transitions.map((t) => t.status)).toContain('planning');
      for (const transition of stage.transitions) expect(Number.isNaN(Date.parse(transition.at))).toBe(false);
    }
    expect(json.stages[1]!.approval?.status).toBe('approved');
    expect(json.stages[0]!.transitions.map((t) => t.status)).toEqual(['pending', 'waiting_for_lock', 'planning', 'planned', 'applying', 'applied']);
    expect(await resourcesIn(statePath(stack, 'apps'))).toEqual(['terraform_data.cluster', 'terraform_data.network']);
    await noLocksHeld(stack);
  });

  it('stops at a failing ops apply: apps never planned, terraform error recorded, no lock held', async () => {
    stack = await startTestStack();
    const failing = {
      'main.tf': `resource "terraform_data" "broken" {
  input = "x"
  provisioner "local-exec" {
    command = "echo provisioning fails on purpose >&2; exit 1"
  }
}
`,
    };
    const sha = await pushChange(stack, failing);
    const run = await waitForRun(stack, (await runForSha(stack, sha)).id);
    expect(run.status).toBe('failed');
    expect(run.stages.map((s) => [s.environment, s.status])).toEqual([
      ['ops', 'failed'],
      ['apps', 'skipped'],
    ]);
    expect(run.error).toContain('local-exec provisioner error');
    expect(run.stages[0]!.error).toContain('exit status 1');
    // apps never reached planning: no transition beyond pending/skipped.
    expect(run.stages[1]!.transitions.map((t) => t.status)).toEqual(['pending', 'skipped']);
    await noLocksHeld(stack);
  });

  it('a rejection leaves apps untouched and frees the lock', async () => {
    stack = await startTestStack();
    const approval = nextApproval(stack);
    await pushChange(stack, terraformFiles({ network: 'net' }));
    const request = await approval;
    const decision = await decideThroughPage(request.url, 'reject', 'not today');
    expect(decision.status).toBe(200);
    const run = await waitForRun(stack, request.run.id);
    expect(run.status).toBe('rejected');
    expect(run.stages.map((s) => s.status)).toEqual(['applied', 'rejected']);
    expect(run.error).toContain('not today');
    await expect(readFile(statePath(stack, 'apps'), 'utf8')).rejects.toThrow();
    await noLocksHeld(stack);
  });

  it('an approval nobody decides expires at its timeout and frees the lock', async () => {
    stack = await startTestStack({ config: configYaml({ approval: '2s' }) });
    const approval = nextApproval(stack);
    await pushChange(stack, terraformFiles({ network: 'net' }));
    const request = await approval;
    const run = await waitForRun(stack, request.run.id);
    expect(run.status).toBe('expired');
    expect(run.stages[1]).toMatchObject({ status: 'expired', approval: { status: 'expired' } });
    const late = await decideThroughPage(request.url, 'approve').catch(() => ({ status: 0, body: '' }));
    // The page no longer offers a form once expired, so a late click cannot approve.
    expect(late.status === 409 || late.status === 0).toBe(true);
    expect((await stack.stores.approvals.get(request.approval.id))?.status).toBe('expired');
    await noLocksHeld(stack);
  });

  it('asks no approval when an environment has no changes', async () => {
    stack = await startTestStack({ config: configYaml({ approval: '1h' }) });
    const files = terraformFiles({ network: 'net' });
    const first = nextApproval(stack);
    await pushChange(stack, files);
    const request = await first;
    await decideThroughPage(request.url, 'approve');
    await waitForRun(stack, request.run.id);

    let approvalsAsked = 0;
    stack.runs.events.on('approval', () => (approvalsAsked += 1));
    const sha = await pushChange(stack, { ...files, 'README.md': 'docs only\n' }, { message: 'docs' });
    const run = await waitForRun(stack, (await runForSha(stack, sha)).id);
    expect(run.status).toBe('succeeded');
    expect(run.stages.map((s) => s.status)).toEqual(['no_changes', 'no_changes']);
    expect(run.stages.every((s) => s.plan?.hasChanges === false && s.approval === undefined)).toBe(true);
    expect(approvalsAsked).toBe(0);
    await noLocksHeld(stack);
  });

  it('plans every environment for a pull request, applies nothing, asks no approval, takes no lock', async () => {
    stack = await startTestStack();
    let approvalsAsked = 0;
    stack.runs.events.on('approval', () => (approvalsAsked += 1));
    // The commit is stored without a push event, then announced as a pull request's head.
    const sha = await pushChange(stack, terraformFiles({ network: 'net', cluster: 'k8s' }), { quiet: true });
    const answer = await sendPullRequest(stack, sha, { number: 12 });
    expect(answer.status).toBe(202);
    const run = await waitForRun(stack, answer.body.runId!);
    expect(run).toMatchObject({ status: 'succeeded', trigger: 'pull_request', mode: 'plan_only', pullRequest: 12, ref: 'refs/pull/12/head' });
    expect(run.stages.map((s) => [s.environment, s.status, s.plan?.add])).toEqual([
      ['ops', 'planned', 2],
      ['apps', 'planned', 2],
    ]);
    expect(run.stages.every((s) => !s.transitions.some((t) => t.status === 'waiting_for_lock' || t.status === 'applying'))).toBe(true);
    expect(approvalsAsked).toBe(0);
    await expect(readFile(statePath(stack, 'ops'), 'utf8')).rejects.toThrow();
    await noLocksHeld(stack);
  });
});
