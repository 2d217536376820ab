import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendTaskSuccessCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { parseConfig } from '../../src/config/load.js';
import { encodeResolvedConfig } from '../../src/config/resolved.js';
import { EnvironmentLocks } from '../../src/domain/locks.js';
import type { CommitState, VcsClient } from '../../src/domain/ports.js';
import { createFunctionUrlHandler, type FunctionUrlEvent } from '../../lambdas/webhook/lambda.js';
import { startDynalite, type TestDynamo } from '../support/dynalite.js';
import { RecordingCallbacks, RecordingLogger } from './fakes.js';
import { newDeliveryId, pushToMaster, SECRET, signatureOf } from './fixtures.js';

/**
 * The AWS webhook entry writes runs through the same decoration as tfgate local (domain/run-tracking.ts):
 * a recorded run gets its "queued" commit statuses, and a lock its clean-up path hands on records the
 * next run's stage as planning. DynamoDB is dynalite; Step Functions and GitHub are mocked.
 */

const STATE_MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:tfgate-pipeline';
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:tfgate/webhook-AbCdEf';
const CONFIG_YAML = `repositories:
  - name: Codertocat/Hello-World
    branch: master
    environments:
      - name: ops
      - name: apps
        approval:
          approvers: [alice@example.com]
`;

interface SentStatus {
  repository: string;
  sha: string;
  context: string;
  state: CommitState;
  description: string;
  targetUrl?: string;
}

class RecordingVcs implements VcsClient {
  readonly statuses: SentStatus[] = [];
  async setCommitStatus(
    repository: string,
    sha: string,
    status: { context: string; state: CommitState; description: string; targetUrl?: string },
  ): Promise<void> {
    this.statuses.push({ repository, sha, ...status });
  }
  async upsertPullRequestComment(): Promise<void> {}
  async getBranchHead(): Promise<string | undefined> {
    return undefined;
  }
}

const sfn = mockClient(SFNClient);
const secretsManager = mockClient(SecretsManagerClient);
let dynamo: TestDynamo;
let vcs: RecordingVcs;

// Tables of their own per test: a run left queued by one test would stand ahead in the next one's queue.
beforeEach(async () => {
  dynamo = await startDynalite();
  vcs = new RecordingVcs();
  secretsManager
    .on(GetSecretValueCommand, { SecretId: SECRET_ARN })
    .resolves({ SecretString: JSON.stringify({ current: SECRET }) });
  sfn.on(SendTaskSuccessCommand).resolves({});
});
afterEach(async () => {
  await dynamo.close();
  sfn.reset();
  secretsManager.reset();
});

function lambda() {
  return createFunctionUrlHandler({
    env: {
      RUNS_TABLE: dynamo.tables.runs,
      LOCKS_TABLE: dynamo.tables.locks,
      DELIVERIES_TABLE: dynamo.tables.deliveries,
      STATE_MACHINE_ARN: STATE_MACHINE,
      WEBHOOK_SECRET_ARN: SECRET_ARN,
      APPROVALS_URL: 'https://approvals.example.com/',
      CONFIG: encodeResolvedConfig(parseConfig(CONFIG_YAML)),
    },
    dynamo: dynamo.doc,
    logger: new RecordingLogger(),
    vcs,
  });
}

function push(sha: string): FunctionUrlEvent {
  const payload = pushToMaster();
  payload.after = sha;
  payload.head_commit = { ...payload.head_commit, id: sha };
  const body = Buffer.from(JSON.stringify(payload));
  return {
    rawPath: '/webhook',
    rawQueryString: '',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': newDeliveryId(),
      'x-hub-signature-256': signatureOf(body),
    },
    body: body.toString('utf8'),
    isBase64Encoded: false,
    requestContext: { http: { method: 'POST' } },
  };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('the AWS webhook entry composes run tracking', () => {
  it('posts "queued" for every environment of a recorded run, before it answers, linked to the run page', async () => {
    sfn.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
      executionArn: `${STATE_MACHINE}:${input.name}`,
      startDate: new Date(),
    }));
    const sha = 'a'.repeat(40);
    const result = await lambda()(push(sha));
    expect(result.statusCode).toBe(202);
    const { runId } = JSON.parse(result.body) as { runId: string };

    expect(vcs.statuses.map((s) => [s.context, s.state, s.description])).toEqual([
      ['tfgate/ops', 'pending', 'queued'],
      ['tfgate/apps', 'pending', 'queued'],
    ]);
    expect(vcs.statuses.every((s) => s.sha === sha && s.repository === 'Codertocat/Hello-World')).toBe(true);
    expect(vcs.statuses[0]!.targetUrl).toBe(`https://approvals.example.com/runs/${runId}`);
  });

  it("a lock handed on by a failed start's clean-up marks the waiting run planning and resumes it", async () => {
    // The first push's start hangs until the test lets it fail; meanwhile a second push queues behind it.
    let failFirstStart: (error: Error) => void = () => undefined;
    let calls = 0;
    sfn.on(StartExecutionCommand).callsFake((input: { name: string }) => {
      calls += 1;
      if (calls === 1) return new Promise((_resolve, reject) => (failFirstStart = reject));
      return { executionArn: `${STATE_MACHINE}:${input.name}`, startDate: new Date() };
    });
    const handler = lambda();
    const first = handler(push('b'.repeat(40)));
    await until(() => calls === 1, 'the first StartExecution');
    const second = await handler(push('c'.repeat(40)));
    expect(second.statusCode).toBe(202);
    const { runId: waiterId } = JSON.parse(second.body) as { runId: string };

    // The second run's execution asks for ops and waits: the first run is ahead of it in push order.
    const waiter = (await dynamo.stores.runs.get(waiterId))!;
    await dynamo.stores.runs.updateStage(waiterId, 'ops', { status: 'waiting_for_lock' }, new Date());
    const plainLocks = new EnvironmentLocks({
      locks: dynamo.stores.locks,
      runs: dynamo.stores.runs,
      callbacks: new RecordingCallbacks(),
    });
    const asked = await plainLocks.request('Codertocat/Hello-World', 'ops', {
      runId: waiterId,
      sequence: waiter.sequence,
      executionName: waiter.executionName,
      taskToken: 'waiter-ops-token',
      leaseSeconds: 3600,
    });
    expect(asked.acquired).toBe(false);

    failFirstStart(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    const failed = await first;
    expect(failed.statusCode).toBeGreaterThanOrEqual(500);

    // The clean-up released the first run's queue entries and granted ops to the waiter, through the
    // entry's own callbacks: the stage is planning, GitHub was told, and the execution was resumed.
    const resumed = sfn.commandCalls(SendTaskSuccessCommand).map((call) => call.args[0].input);
    expect(resumed).toHaveLength(1);
    expect(resumed[0]!.taskToken).toBe('waiter-ops-token');
    expect(JSON.parse(resumed[0]!.output!)).toMatchObject({ acquired: true, holder: { runId: waiterId } });
    const after = (await dynamo.stores.runs.get(waiterId))!;
    expect(after.stages.find((s) => s.environment === 'ops')!.status).toBe('planning');
    expect(vcs.statuses.filter((s) => s.sha === 'c'.repeat(40)).map((s) => [s.context, s.description])).toContainEqual([
      'tfgate/ops',
      'planning',
    ]);
  });
});
