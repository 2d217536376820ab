/**
 * One deploy run per (repository, branch, commit), whoever starts it: the webhook under any delivery
 * id, or the reconciler that saw the head first. One conditional write decides (issue 12.1).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { EnvironmentLocks } from '../../src/domain/locks.js';
import type { Clock } from '../../src/domain/ports.js';
import type { HttpHandler, HttpResponse } from '../../src/http.js';
import { createReconciler } from '../../lambdas/reconciler/handler.js';
import { createWebhookHandler } from '../../lambdas/webhook/handler.js';
import { ALREADY_DEPLOYED } from '../../src/application/intake.js';
import { useDynalite } from '../support/dynalite.js';
import { RecordingCallbacks, RecordingStarter } from './fakes.js';
import { newDeliveryId, pushToMaster, testConfig, webhookRequest } from './fixtures.js';

const REPOSITORY = 'Codertocat/Hello-World';
const OLD_SHA = 'a'.repeat(40);
const HEAD_SHA = '6113728f27ae82c7b1a177c8d03f9e96e0adf246';

const dynamo = useDynalite();
let starter: RecordingStarter;
let now: Date;
const clock: Clock = { now: () => now };

function wiring(headGraceSeconds: number) {
  const config = testConfig();
  const { runs, deliveries, sequences, locks: lockStore } = dynamo.stores;
  const locks = new EnvironmentLocks({ locks: lockStore, runs, callbacks: new RecordingCallbacks(), clock });
  const webhook: HttpHandler = createWebhookHandler({
    config,
    secrets: ['test-webhook-secret-4b1d'],
    stores: { runs, deliveries, sequences },
    locks,
    starter,
    clock,
  });
  let head = OLD_SHA;
  const reconciler = createReconciler({
    config,
    runs,
    lockStore,
    locks,
    deliveries,
    sequences,
    starter,
    inspector: { isRunning: async () => true },
    vcs: { getBranchHead: async () => head },
    clock,
    headGraceSeconds,
  });
  return { webhook, reconciler, setHead: (sha: string) => (head = sha) };
}

const deliver = async (webhook: HttpHandler, sha: string): Promise<Record<string, unknown>> => {
  const response: HttpResponse = await webhook(
    webhookRequest('push', Object.assign(pushToMaster(), { after: sha }), { deliveryId: newDeliveryId() }),
  );
  expect(response.status).toBe(202);
  return JSON.parse(response.body) as Record<string, unknown>;
};

const runsOf = async (sha: string) =>
  (await dynamo.stores.runs.list()).filter((run) => run.sha === sha && run.repository === REPOSITORY);

beforeEach(async () => {
  starter = new RecordingStarter();
  now = new Date('2026-11-29T10:00:00.000Z');
});

describe('the reconciler and the webhook for the same head', () => {
  it('a late delivery after the reconciler started the head starts nothing and names the run', async () => {
    const { webhook, reconciler, setHead } = wiring(0);
    expect((await deliver(webhook, OLD_SHA)).runId).toBeDefined();
    setHead(HEAD_SHA);

    const report = await reconciler.reconcile();
    expect(report.repositories[0]).toMatchObject({ action: 'started', sha: HEAD_SHA });
    const late = await deliver(webhook, HEAD_SHA);

    const runs = await runsOf(HEAD_SHA);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.trigger).toBe('reconcile');
    expect(late).toEqual({ ignored: ALREADY_DEPLOYED, runId: runs[0]!.id });
  });

  it('a reconciler pass after the delivery starts nothing', async () => {
    const { webhook, reconciler, setHead } = wiring(0);
    await deliver(webhook, OLD_SHA);
    setHead(HEAD_SHA);
    const delivered = await deliver(webhook, HEAD_SHA);

    const report = await reconciler.reconcile();

    expect(report.repositories[0]).toMatchObject({ action: 'none' });
    expect((await runsOf(HEAD_SHA)).map((run) => run.id)).toEqual([delivered.runId]);
  });

  it('both at once: exactly one run', async () => {
    const { webhook, reconciler, setHead } = wiring(0);
    await deliver(webhook, OLD_SHA);
    setHead(HEAD_SHA);
    await Promise.all([
      reconciler.reconcile(),
      deliver(webhook, HEAD_SHA),
      deliver(webhook, HEAD_SHA),
      reconciler.reconcile(),
    ]);
    expect(await runsOf(HEAD_SHA)).toHaveLength(1);
  });

  it('leaves a head younger than the grace period to its delivery, and starts it once the grace is over', async () => {
    const { webhook, reconciler, setHead } = wiring(60);
    await deliver(webhook, OLD_SHA);
    setHead(HEAD_SHA);

    expect((await reconciler.reconcile()).repositories[0]).toMatchObject({
      action: 'none',
      reason: expect.stringContaining('60s to arrive'),
    });
    now = new Date(now.getTime() + 30_000);
    expect((await reconciler.reconcile()).repositories[0]).toMatchObject({
      action: 'none',
      reason: 'head seen 30s ago; its push delivery gets 60s to arrive',
    });
    expect(await runsOf(HEAD_SHA)).toHaveLength(0);

    now = new Date(now.getTime() + 31_000);
    expect((await reconciler.reconcile()).repositories[0]).toMatchObject({ action: 'started', sha: HEAD_SHA });
    expect(await runsOf(HEAD_SHA)).toHaveLength(1);
    // The delivery that finally arrives starts nothing.
    expect((await deliver(webhook, HEAD_SHA)).ignored).toBe(ALREADY_DEPLOYED);
    expect(await runsOf(HEAD_SHA)).toHaveLength(1);
  });
});
