import { describe, expect, it } from 'vitest';
import { commitStatusFor, driftMessage } from '../../src/domain/feedback.js';
import { GITHUB_COMMENT_LIMIT, PLAN_COMMENT_MARKER, renderPlanComment } from '../../src/domain/pr-comment.js';
import type { PlanSummary, Run, Stage } from '../../src/domain/run.js';
import { aPlanSummary, aRun, aStage } from '../support/builders.js';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const RUN_URL = 'http://tfgate.example/runs/r-1';

function plan(add: number, change = 0, destroy = 0): PlanSummary {
  return aPlanSummary({ add, change, destroy });
}

function stage(environment: string, extra: Partial<Stage> = {}): Stage {
  return aStage(environment, { status: 'planned', transitions: [], ...extra });
}

function run(stages: Stage[], extra: Partial<Run> = {}): Run {
  return aRun({
    id: 'r-1',
    repository: 'acme/infra',
    sha: SHA,
    ref: 'refs/pull/7/head',
    trigger: 'pull_request',
    mode: 'plan_only',
    pullRequest: 7,
    status: 'succeeded',
    createdAt: '2024-01-01T00:00:00.000Z',
    executionName: 'gh-1',
    stages,
    ...extra,
  });
}

const PLAN_TEXT = [
  'Terraform will perform the following actions:',
  '',
  '  # terraform_data.cluster will be updated in-place',
  '  ~ resource "terraform_data" "cluster" {',
  '      ~ input = "v1" -> "v2"',
  '    }',
  '',
  '  # terraform_data.ingress will be created',
  '  + resource "terraform_data" "ingress" {',
  '      + input = "x"',
  '    }',
  '',
  'Plan: 1 to add, 1 to change, 0 to destroy.',
].join('\n');

describe('the pull request plan comment', () => {
  it('starts with the marker and shows each environment with its summary and plan in a collapsible diff block', () => {
    const body = renderPlanComment({
      run: run([stage('ops', { plan: plan(1, 1) }), stage('apps', { status: 'no_changes', plan: plan(0) })]),
      planTexts: { ops: PLAN_TEXT, apps: 'No changes.' },
      runUrl: RUN_URL,
    });
    expect(body.startsWith(`${PLAN_COMMENT_MARKER}\n`)).toBe(true);
    expect(body).toContain('#### ops: `+1 ~1 -0`');
    expect(body).toContain('#### apps: `no changes`');
    expect(body).toContain('<details><summary>Plan for ops</summary>');
    expect(body).toContain('```diff\n');
    // Markers moved to the front so GitHub colours the lines; ~ becomes ! (diff's "changed").
    expect(body).toContain('\n!   resource "terraform_data" "cluster" {');
    expect(body).toContain('\n+   resource "terraform_data" "ingress" {');
    expect(body).toContain('```text\nNo changes.\n```');
    expect(body).toContain(`[Run r-1](${RUN_URL})`);
  });

  it("cuts a 300,000-character plan at a line boundary below GitHub's limit, says so and links the full plan", () => {
    const line = `  + input = "${'x'.repeat(80)}"`;
    const huge = Array.from({ length: 3300 }, (_, index) => `${line} ${index}`).join('\n');
    expect(huge.length).toBeGreaterThanOrEqual(300_000);
    const body = renderPlanComment({
      run: run([stage('ops', { plan: plan(3000) }), stage('apps', { plan: plan(1) })]),
      planTexts: { ops: huge, apps: PLAN_TEXT },
      runUrl: RUN_URL,
    });
    expect(body.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    expect(body.length).toBeGreaterThan(GITHUB_COMMENT_LIMIT - 2000);
    expect(body).toMatch(
      new RegExp(
        String.raw`The ops plan is cut at \d+ of \d+ lines to fit GitHub's comment limit: ` +
          String.raw`\[see the full plan on the run page\]\(http://tfgate\.example/runs/r-1\)`,
      ),
    );
    // The short plan is shown whole; the cut one ends on a complete line.
    expect(body).toContain('Plan: 1 to add, 1 to change, 0 to destroy.');
    const opsBlock = body.slice(body.indexOf('```diff'), body.indexOf('\n```\n', body.indexOf('```diff')));
    const lastLine = opsBlock.split('\n').at(-1)!;
    expect(lastLine).toMatch(/^\+ {3}input = "x{80}" \d+$/);
  });

  it('keeps plan text that contains backticks inside its block', () => {
    const body = renderPlanComment({
      run: run([stage('ops', { plan: plan(0), status: 'no_changes' })]),
      planTexts: { ops: 'a ``` b\n```` c' },
      runUrl: RUN_URL,
    });
    expect(body).toContain('`````text\na ``` b\n```` c\n`````');
  });
});

describe('commit statuses and drift notices', () => {
  it('describes each stage status in at most 140 characters', () => {
    const deploy = run([], { mode: 'deploy', trigger: 'push', pullRequest: undefined, status: 'running' });
    expect(commitStatusFor(deploy, stage('ops', { status: 'waiting_for_lock' }))).toEqual({
      state: 'pending',
      description: 'waiting for the ops lock',
    });
    expect(commitStatusFor(deploy, stage('ops', { status: 'awaiting_approval', plan: plan(2) }))).toEqual({
      state: 'pending',
      description: '+2 ~0 -0: waiting for approval',
    });
    expect(commitStatusFor(deploy, stage('ops', { status: 'applied', plan: plan(2) }))).toEqual({
      state: 'success',
      description: 'applied +2 ~0 -0',
    });
    const failed = commitStatusFor(
      deploy,
      stage('ops', { status: 'failed', error: `ops: ${'terraform said no. '.repeat(20)}` }),
    );
    expect(failed.state).toBe('failure');
    expect(failed.description.startsWith('failed: terraform said no.')).toBe(true);
    expect(failed.description.length).toBeLessThanOrEqual(140);
    expect(commitStatusFor(run([]), stage('apps', { status: 'planned', plan: plan(1) }))).toEqual({
      state: 'success',
      description: 'plan: +1 ~0 -0 (not applied)',
    });
  });

  it('a drift notice names the drifted environments; no drift, no notice', () => {
    const drift = (stages: Stage[]) =>
      run(stages, { trigger: 'drift', pullRequest: undefined, ref: 'refs/heads/main' });
    expect(
      driftMessage(drift([stage('ops', { plan: plan(1) }), stage('apps', { status: 'no_changes', plan: plan(0) })])),
    ).toBe(
      'Drift in acme/infra (main at 01234567): the infrastructure differs from the code in ops (ops +1 ~0 -0, ' +
        'apps no changes).',
    );
    expect(driftMessage(drift([stage('ops', { status: 'no_changes', plan: plan(0) })]))).toBeUndefined();
  });
});
