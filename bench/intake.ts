import { performance } from 'node:perf_hooks';
import type { TfgateConfig } from '../src/config/load.js';
import { parseConfig } from '../src/config/load.js';
import { EnvironmentLocks } from '../src/domain/locks.js';
import type { HttpHandler } from '../src/http.js';
import { startLocalDynamo } from '../src/local-mode/dynalite.js';
import { createWebhookHandler } from '../lambdas/webhook/handler.js';
import { percentile, pushHeaders, pushPayload, round } from './common.js';
import {
  MemoryDeliveryStore,
  MemoryLockQueues,
  MemoryRunStore,
  MemorySequenceStore,
  RecordingStarter,
} from '../test/support/memory-stores.js';

/**
 * Part 1: the webhook handler in process, signed push deliveries with distinct delivery ids, measured
 * from request to response: verify → parse → route → claim delivery → sequence → run record → two
 * lock queue entries → StartExecution (recorded) → attach run. Once with the DynamoDB adapters on
 * dynalite, once with in-memory ports, so the handler's own cost is not hidden by HTTP round trips.
 */

const SECRET = 'bench-webhook-secret';
const REPOSITORY = 'acme/infrastructure';

export const BENCH_CONFIG_YAML = `repositories:
  - name: ${REPOSITORY}
    branch: main
    environments:
      - name: ops
      - name: apps
        approval: { approvers: [alice@example.com], timeout: 1h }
`;

export interface IntakeFigures {
  deliveries: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
}

async function measure(handler: HttpHandler, deliveries: number, warmup: number): Promise<IntakeFigures> {
  const durations: number[] = [];
  for (let i = 0; i < warmup + deliveries; i++) {
    // One deploy run per commit: every delivery pushes a commit of its own. Built and signed up front:
    // GitHub signs, not the handler, so signing is no part of the measured time.
    const body = JSON.stringify(pushPayload(REPOSITORY, 'main', (i + 1).toString(16).padStart(40, '0')));
    const request = {
      method: 'POST',
      path: '/webhook',
      query: {},
      headers: pushHeaders(body, SECRET, 'push', `bench-${process.pid}-${i}`),
      body: Buffer.from(body),
    };
    const started = performance.now();
    const response = await handler(request);
    const took = performance.now() - started;
    if (response.status !== 202 || !response.body.includes('runId') || response.body.includes('ignored'))
      throw new Error(`delivery ${i} was not started: ${response.status} ${response.body}`);
    if (i >= warmup) durations.push(took);
  }
  durations.sort((a, b) => a - b);
  return {
    deliveries,
    p50Ms: round(percentile(durations, 50), 3),
    p99Ms: round(percentile(durations, 99), 3),
    meanMs: round(durations.reduce((a, b) => a + b, 0) / durations.length, 3),
    maxMs: round(durations[durations.length - 1]!, 3),
  };
}

export async function benchIntakeMemory(
  deliveries: number,
  config: TfgateConfig = parseConfig(BENCH_CONFIG_YAML),
): Promise<IntakeFigures & { runsRecorded: number; executionsStarted: number }> {
  const runs = new MemoryRunStore();
  const starter = new RecordingStarter();
  const handler = createWebhookHandler({
    config,
    secrets: [SECRET],
    stores: { runs, deliveries: new MemoryDeliveryStore(), sequences: new MemorySequenceStore() },
    locks: new MemoryLockQueues(),
    starter,
  });
  const warmup = 500;
  const figures = await measure(handler, deliveries, warmup);
  if (runs.size !== deliveries + warmup || starter.started.size !== deliveries + warmup)
    throw new Error('not every delivery recorded and started one run');
  return { ...figures, runsRecorded: runs.size, executionsStarted: starter.started.size };
}

export async function benchIntakeDynalite(
  deliveries: number,
  config: TfgateConfig = parseConfig(BENCH_CONFIG_YAML),
): Promise<IntakeFigures> {
  const dynamo = await startLocalDynamo();
  try {
    const { stores } = dynamo;
    // No task is waiting on these queues, so releasing (the failure path only) resumes nothing.
    const locks = new EnvironmentLocks({
      locks: stores.locks,
      runs: stores.runs,
      callbacks: {
        sendTaskSuccess: async () => ({ delivered: false }),
        sendTaskFailure: async () => ({ delivered: false }),
      },
    });
    const handler = createWebhookHandler({
      config,
      secrets: [SECRET],
      stores: { runs: stores.runs, deliveries: stores.deliveries, sequences: stores.sequences },
      locks,
      starter: new RecordingStarter(),
    });
    return await measure(handler, deliveries, 100);
  } finally {
    await dynamo.close();
  }
}
