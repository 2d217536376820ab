import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decideThroughPage,
  expectNoLocksHeld,
  nextApproval,
  pushChange,
  runForSha,
  runJson,
  sendPullRequest,
  startTestStack,
  statePath,
  terraformFiles,
  waitForRun,
  type TestStack,
} from '../support/local-stack.js';

/**
 * The whole pipeline through the real definition file, the local engine and the terraform double:
 * the everyday end-to-end runs (an approved push, a failing apply, a pull request). Rejection,
 * expiry and no-changes runs are in outcomes.slow.test.ts.
 */

let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.cleanup();
  stack = undefined;
});

async function resourcesIn(file: string): Promise<string[]> {
  const state = JSON.parse(await readFile(file, 'utf8')) as { resources: Array<{ type: string; name: string }> };
  return state.resources.map((r) => `${r.type}.${r.name}`).sort();
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

    const json = (await runJson(stack, run.id)) as {
      status: string;
      trigger: string;
      stages: Array<{
        environment: string;
        status: string;
        plan: { add: number; change: number; destroy: number; sha256: string };
        approval?: { status: string };
        transitions: Array<{ status: string; at: string }>;
      }>;
    };
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
    expect(json.stages[0]!.transitions.map((t) => t.status)).toEqual([
      'pending',
      'waiting_for_lock',
      'planning',
      'planned',
      'applying',
      'applied',
    ]);
    expect(await resourcesIn(statePath(stack, 'apps'))).toEqual(['terraform_data.cluster', 'terraform_data.network']);
    await expectNoLocksHeld(stack);
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
    await expectNoLocksHeld(stack);
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
    expect(run).toMatchObject({
      status: 'succeeded',
      trigger: 'pull_request',
      mode: 'plan_only',
      pullRequest: 12,
      ref: 'refs/pull/12/head',
    });
    expect(run.stages.map((s) => [s.environment, s.status, s.plan?.add])).toEqual([
      ['ops', 'planned', 2],
      ['apps', 'planned', 2],
    ]);
    expect(
      run.stages.every((s) => !s.transitions.some((t) => t.status === 'waiting_for_lock' || t.status === 'applying')),
    ).toBe(true);
    expect(approvalsAsked).toBe(0);
    await expect(readFile(statePath(stack, 'ops'), 'utf8')).rejects.toThrow();
    await expectNoLocksHeld(stack);
  });
});
