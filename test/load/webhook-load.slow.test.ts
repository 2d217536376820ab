import { createHash, createHmac } from 'node:crypto';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { STAGE_ARTIFACTS, stageArtifactKey } from '../../src/domain/plan-summary.js';
import { isTerminalRun } from '../../src/domain/run.js';
import type { LocalCodeBuild } from '../../src/local-mode/engine.js';
import { FsArtifactStore } from '../../src/adapters/fs/artifact-store.js';
import { startTestStack, type TestStack } from '../support/local-stack.js';
import { Prng } from '../bad-input/prng.js';

/**
 * 500 webhook deliveries over loopback against a local stack: 10% repeats of an earlier delivery,
 * 5% bad signatures, the rest valid pushes across 10 repositories, 20 at a time. The build stand-in
 * answers "no changes" at once, so this measures intake and orchestration (every run still goes
 * through the definition, its lock and the stores), not terraform.
 */

const SECRET = 'load-test-secret';
// Enough to race every path (repeats against their first delivery, 20 in flight, 10 repositories' locks);
// bench/ measures throughput at larger counts.
const DELIVERIES = 500;
const CONCURRENCY = 20;
const REPOSITORIES = Array.from({ length: 10 }, (_, i) => `acme/infra-${i}`);

let stack: TestStack | undefined;
afterAll(async () => {
  await stack?.cleanup();
});

function config(): string {
  return [
    'repositories:',
    ...REPOSITORIES.flatMap((name) => [
      `  - name: ${name}`,
      '    branch: main',
      '    environments:',
      '      - name: ops',
    ]),
  ].join('\n');
}

/** Builds that finish at once with an empty plan, written where the real runner writes it. */
function instantBuilds(artifactsDir: () => string): (real: LocalCodeBuild) => LocalCodeBuild {
  return () => async (params) => {
    const env = Object.fromEntries((params.EnvironmentVariablesOverride ?? []).map((v) => [v.Name, v.Value]));
    const artifacts = new FsArtifactStore(artifactsDir());
    // The pipeline computes the plan's sha256 from the stored plan file, so one is stored too.
    const planFile = Buffer.from(`empty plan for ${env.TFGATE_RUN_ID}`);
    const sha256 = createHash('sha256').update(planFile).digest('hex');
    const summary = {
      add: 0,
      change: 0,
      destroy: 0,
      replace: 0,
      hasChanges: false,
      sha256,
      addresses: { create: [], update: [], delete: [], replace: [] },
    };
    await artifacts.put(
      stageArtifactKey(env.TFGATE_RUN_ID!, env.TFGATE_ENVIRONMENT!, STAGE_ARTIFACTS.planFile, 'plan'),
      planFile,
    );
    await artifacts.put(
      stageArtifactKey(env.TFGATE_RUN_ID!, env.TFGATE_ENVIRONMENT!, STAGE_ARTIFACTS.summary, 'plan'),
      JSON.stringify(summary),
    );
    return { Id: `${params.ProjectName}:instant`, BuildStatus: 'SUCCEEDED' };
  };
}

interface Delivery {
  id: string;
  kind: 'valid' | 'duplicate' | 'bad-signature';
  body: string;
  signature: string;
}

function sign(body: string): string {
  return `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
}

function plan(prng: Prng): Delivery[] {
  const valid: Delivery[] = [];
  const all: Delivery[] = [];
  for (let i = 0; i < DELIVERIES; i++) {
    const roll = prng.next();
    if (roll < 0.1 && valid.length > 0) {
      const original = prng.pick(valid);
      all.push({ ...original, kind: 'duplicate' });
      continue;
    }
    const repository = REPOSITORIES[i % REPOSITORIES.length]!;
    const body = JSON.stringify({
      ref: 'refs/heads/main',
      after: prng.bytes(20).toString('hex'),
      repository: { full_name: repository, clone_url: `https://github.com/${repository}.git` },
      pusher: { name: 'alice', email: 'alice@example.com' },
      head_commit: { message: `change ${i}`, author: { name: 'Alice', email: 'alice@example.com', username: 'alice' } },
    });
    const id = `load-${i}-${prng.bytes(4).toString('hex')}`;
    if (roll < 0.15) {
      all.push({ id, kind: 'bad-signature', body, signature: sign(`${body} `) });
      continue;
    }
    const delivery: Delivery = { id, kind: 'valid', body, signature: sign(body) };
    valid.push(delivery);
    all.push(delivery);
  }
  return all;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);

describe('webhook load', () => {
  it('500 deliveries: one run per valid delivery, none for repeats, 401 for bad signatures, ' +
    'bounded memory', async () => {
    let dataDir = '';
    stack = await startTestStack({
      config: config(),
      webhookSecret: SECRET,
      intercept: {
        codeBuild: instantBuilds(() => path.join(dataDir, 'artifacts')),
        sources: () => ({ archive: async () => Buffer.from('no source: builds are instant') }),
      },
    });
    dataDir = stack.dataDir;
    const deliveries = plan(new Prng(424_242));
    const counts = { valid: 0, duplicate: 0, 'bad-signature': 0 };
    for (const d of deliveries) counts[d.kind] += 1;

    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
    const answers: Array<{ delivery: Delivery; status: number; body: Record<string, unknown>; ms: number }> = [];
    let healthFailures = 0;
    const health = setInterval(() => {
      fetch(`${stack!.url}/healthz`).then(
        (r) => (healthFailures += r.status === 200 ? 0 : 1),
        () => (healthFailures += 1),
      );
    }, 250);

    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < deliveries.length) {
          const delivery = deliveries[next++]!;
          const t0 = performance.now();
          const response = await fetch(stack!.webhookUrl, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'x-github-event': 'push',
              'x-github-delivery': delivery.id,
              'x-hub-signature-256': delivery.signature,
            },
            body: delivery.body,
          });
          const body = (await response.json()) as Record<string, unknown>;
          answers.push({ delivery, status: response.status, body, ms: performance.now() - t0 });
        }
      }),
    );
    const elapsedMs = performance.now() - started;

    // Every run the deliveries started goes through the pipeline to the end.
    const runIds = new Set(
      answers
        .filter((a) => typeof a.body.runId === 'string' && a.body.ignored === undefined)
        .map((a) => a.body.runId as string),
    );
    const drainStarted = performance.now();
    // A bound on waiting, not a timing goal (bench/ measures speed): each run now also archives its source.
    const deadline = Date.now() + 300_000;
    let runs = await stack.runs.list({ limit: 2000 });
    while (runs.some((run) => !isTerminalRun(run.status)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      runs = await stack.runs.list({ limit: 2000 });
    }
    const drainMs = performance.now() - drainStarted;
    clearInterval(sampler);
    clearInterval(health);
    global.gc?.();
    const rssAfter = process.memoryUsage().rss;

    const latencies = answers.map((a) => a.ms).sort((a, b) => a - b);
    const statuses: Record<string, number> = {};
    for (const run of runs) statuses[run.status] = (statuses[run.status] ?? 0) + 1;
    console.log(
      [
        `load: ${answers.length} deliveries (${counts.valid} valid, ${counts.duplicate} repeats, ` +
          `${counts['bad-signature']} bad signatures) in ${(elapsedMs / 1000).toFixed(2)} s`,
        `  ${(answers.length / (elapsedMs / 1000)).toFixed(0)} deliveries/s at concurrency ${CONCURRENCY}; answer ` +
          `time p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, ` +
          `max ${latencies[latencies.length - 1]!.toFixed(1)} ms`,
        `  runs created ${runs.length}, finished ${JSON.stringify(statuses)} ${(drainMs / 1000).toFixed(1)} s ` +
          `after the last answer`,
        `  RSS before ${mb(rssBefore)} MiB, peak ${mb(rssPeak)} MiB, after ${mb(rssAfter)} MiB (test process: ` +
          `client and server)`,
      ].join('\n'),
    );

    const server5xx = answers.filter((a) => a.status >= 500);
    expect(server5xx.map((a) => [a.delivery.kind, a.status, a.body])).toEqual([]);
    for (const answer of answers.filter((a) => a.delivery.kind === 'bad-signature')) expect(answer.status).toBe(401);
    // Each delivery id: exactly one 202 with a runId that is not "ignored", however its repeats raced it.
    const byId = new Map<string, typeof answers>();
    for (const answer of answers.filter((a) => a.delivery.kind !== 'bad-signature'))
      byId.set(answer.delivery.id, [...(byId.get(answer.delivery.id) ?? []), answer]);
    expect(byId.size).toBe(counts.valid);
    for (const [id, group] of byId) {
      expect(
        group.every((a) => a.status === 202),
        id,
      ).toBe(true);
      expect(
        group.filter((a) => a.body.ignored === undefined),
        id,
      ).toHaveLength(1);
      expect(
        group.filter((a) => a.body.ignored !== undefined).every((a) => a.body.ignored === 'duplicate delivery'),
        id,
      ).toBe(true);
    }
    expect(runIds.size).toBe(counts.valid);
    expect(runs).toHaveLength(counts.valid);
    expect(new Set(runs.map((run) => run.deliveryId)).size).toBe(counts.valid);
    expect(statuses).toEqual({ succeeded: counts.valid });
    expect(await stack.stores.locks.listHeld()).toEqual([]);

    expect(healthFailures).toBe(0);
    expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
    // Memory stays bounded: what the runs left behind is records in dynalite, not a leak per request.
    expect(rssAfter - rssBefore).toBeLessThan(512 * 1024 * 1024);
  }, 480_000);
});
