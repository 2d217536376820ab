import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { planViewKey, STAGE_ARTIFACTS, stageArtifactKey } from '../../src/domain/artifact-keys.js';
import type { EnvironmentLocks } from '../../src/domain/locks.js';
import type { ArtifactStore, TaskCallbacks } from '../../src/domain/ports.js';
import type { HttpRequest } from '../../src/http.js';
import { createPipelineTasks } from '../../lambdas/stage-tasks/handler.js';
import { createApprovalsHandler } from '../../lambdas/web/handler.js';
import { anApproval, aPlanSummary, aRun, aStage } from '../support/builders.js';
import { MemoryApprovalStore, MemoryRunStore } from '../support/memory-stores.js';

/**
 * The pipeline's afterPlan turns the stored plan.json into the small view the approval page reads, stored
 * under views/ (where no build writes); the page shows it above the plan text, escaped.
 */

const MIXED = readFileSync(new URL('./fixtures/mixed.1.2.json', import.meta.url), 'utf8');
const PLAN_BYTES = Buffer.from('a saved plan');
const PLAN_SHA = createHash('sha256').update(PLAN_BYTES).digest('hex');

function memoryArtifacts(): ArtifactStore & { files: Map<string, Buffer> } {
  const files = new Map<string, Buffer>();
  return {
    files,
    put: async (key, body) => void files.set(key, Buffer.from(body)),
    get: async (key) => files.get(key),
  };
}

const noCallbacks: TaskCallbacks = {
  sendTaskSuccess: async () => ({ delivered: true }),
  sendTaskFailure: async () => ({ delivered: true }),
};

async function planned(planJson: string, summary = { add: 2, change: 4, destroy: 2, replace: 1 }) {
  const runs = new MemoryRunStore();
  const approvals = new MemoryApprovalStore();
  const artifacts = memoryArtifacts();
  await runs.create(aRun({ id: 'run-view', stages: [aStage('apps', { status: 'planning' })] }));
  const key = (name: (typeof STAGE_ARTIFACTS)[keyof typeof STAGE_ARTIFACTS]) =>
    stageArtifactKey('run-view', 'apps', name, 'plan');
  await artifacts.put(key(STAGE_ARTIFACTS.planFile), PLAN_BYTES);
  await artifacts.put(key(STAGE_ARTIFACTS.planJson), planJson);
  await artifacts.put(
    key(STAGE_ARTIFACTS.summary),
    JSON.stringify(aPlanSummary({ ...summary, hasChanges: true, sha256: PLAN_SHA })),
  );
  const tasks = createPipelineTasks({
    runs,
    approvals,
    artifacts,
    callbacks: noCallbacks,
    locks: {} as EnvironmentLocks,
    sources: { archive: async () => Buffer.alloc(0) },
  });
  const next = await tasks({
    action: 'afterPlan',
    runId: 'run-view',
    mode: 'deploy',
    repository: 'acme/infrastructure',
    sequence: 1,
    environment: 'apps',
    requiresApproval: true,
  });
  return { runs, approvals, artifacts, next };
}

async function approvalPageHtml(setup: Awaited<ReturnType<typeof planned>>): Promise<string> {
  const approval = anApproval({ id: 'd'.repeat(32), runId: 'run-view', environment: 'apps', planSha256: PLAN_SHA });
  if (!(await setup.approvals.get(approval.id))) await setup.approvals.create(approval);
  const handler = createApprovalsHandler({
    runs: setup.runs,
    approvals: setup.approvals,
    artifacts: setup.artifacts,
    callbacks: noCallbacks,
    sessionKey: 'k'.repeat(32),
  });
  const request: HttpRequest = {
    method: 'GET',
    path: `/approvals/${approval.id}`,
    query: {},
    headers: {},
    body: Buffer.alloc(0),
    identity: { via: 'email', emails: ['alice@example.com'], sessionId: 's' },
  };
  const page = await handler(request);
  expect(page.status).toBe(200);
  return page.body;
}

describe('the structured plan view on the approval page', () => {
  it('afterPlan stores the view under views/, and the page shows it above the plan text', async () => {
    const setup = await planned(MIXED);
    expect(setup.next).toEqual({ next: 'approve', planSha256: PLAN_SHA });
    const stored = setup.artifacts.files.get(planViewKey('run-view', 'apps', 'plan'));
    expect(planViewKey('run-view', 'apps', 'plan')).toBe('views/run-view/apps/plan/plan-view.json');
    expect(stored!.length).toBeLessThan(MIXED.length);
    expect(JSON.parse(stored!.toString()).problems).toEqual([]);

    const html = await approvalPageHtml(setup);
    const view = html.indexOf('id="plan-view"');
    expect(view).toBeGreaterThan(0);
    expect(view).toBeLessThan(html.indexOf('id="plan-text"'));
    expect(html).toContain('<p class="pv-summary" id="plan-view-summary">1 to create, 4 to update, 1 to replace');
    expect(html).toContain(
      '<details class="pv-delete" open><summary>Destroyed (1)</summary><ul><li><code>terraform_data.retired[0]</code>',
    );
    expect(html).toContain('<details class="pv-replace" open><summary>Replaced (destroyed, then created) (1)');
    expect(html).toContain('<tr><td>input.tags.env</td><td>&quot;x1&quot;</td><td>→</td><td>&quot;x2&quot;</td></tr>');
    expect(html).toContain('<code>terraform_data.original</code> → <code>terraform_data.renamed</code>');
    for (const secret of ['hunter2-old-password', 's3cr3t-new-password', 'token-from-a-module'])
      expect(html).not.toContain(secret);
  });

  it('counts that disagree with the summary are said on the page', async () => {
    const setup = await planned(MIXED, { add: 0, change: 0, destroy: 0, replace: 0 });
    expect(await approvalPageHtml(setup)).toContain('the plan JSON&#39;s counts differ from the plan summary&#39;s');
  });

  it('hostile addresses are escaped; a missing or broken view is said, never a failed page', async () => {
    const evil = JSON.stringify({
      format_version: '1.2',
      resource_changes: [
        { address: '<img src=x onerror=alert(1)>', change: { actions: ['delete'], before: {}, after: null } },
      ],
    });
    const html = await approvalPageHtml(await planned(evil, { add: 0, change: 0, destroy: 1, replace: 0 }));
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');

    const broken = await planned(MIXED);
    broken.artifacts.files.set(planViewKey('run-view', 'apps', 'plan'), Buffer.from('{"resources": 5'));
    expect(await approvalPageHtml(broken)).toContain('The structured view of this plan cannot be read');
    broken.artifacts.files.delete(planViewKey('run-view', 'apps', 'plan'));
    expect(await approvalPageHtml(broken)).toContain('The structured view of this plan is not available');
  });
});
