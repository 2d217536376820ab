import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { parseConfig } from '../../src/config/load.js';
import { encodeResolvedConfig } from '../../src/config/resolved.js';
import { FeedbackRunStore } from '../../src/domain/feedback.js';
import { RUN_TRACKING_DECORATORS } from '../../src/domain/run-tracking.js';
import { ProgressEventRunStore } from '../../src/local-mode/progress.js';
import { createApprovalsLambda } from '../../lambdas/web/lambda.js';
import { createNotifierLambda } from '../../lambdas/approval-request/lambda.js';
import { createPipelineLambda } from '../../lambdas/stage-tasks/lambda.js';
import { createReconcilerLambda } from '../../lambdas/reconciler/lambda.js';
import { createFunctionUrlHandler } from '../../lambdas/webhook/lambda.js';
import { startDynalite, type TestDynamo } from '../support/dynalite.js';
import { startTestStack, type TestStack } from '../support/local-stack.js';

/**
 * Every AWS entry that writes runs, and the local stack, compose the same run-store decorators: each
 * goes through domain/run-tracking.ts's `trackRuns` (GitHub feedback, then grants recorded as planning),
 * so a decorator added for one composition cannot be missing from the other. Slow: a whole local stack.
 */

const calls = vi.hoisted(() => [] as Array<{ decorators: readonly string[]; runs: unknown; feedback: unknown }>);
vi.mock('../../src/domain/run-tracking.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/domain/run-tracking.js')>();
  return {
    ...real,
    trackRuns: (...args: Parameters<typeof real.trackRuns>) => {
      const tracking = (real.trackRuns as (...a: unknown[]) => ReturnType<typeof real.trackRuns>)(...args);
      calls.push(tracking);
      return tracking;
    },
  };
});

const CONFIG = encodeResolvedConfig(
  parseConfig(`repositories:
  - name: acme/infra
    branch: main
    environments:
      - name: ops
        approval:
          approvers: [alice@example.com]
`),
);

let dynamo: TestDynamo;
let stack: TestStack | undefined;

beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await stack?.cleanup();
  await dynamo.close();
});

function env(): NodeJS.ProcessEnv {
  return {
    RUNS_TABLE: dynamo.tables.runs,
    LOCKS_TABLE: dynamo.tables.locks,
    APPROVALS_TABLE: dynamo.tables.approvals,
    DELIVERIES_TABLE: dynamo.tables.deliveries,
    STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:123456789012:stateMachine:tfgate',
    WEBHOOK_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook',
    SESSION_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:session',
    ARTIFACTS_BUCKET: 'tfgate-artifacts',
    APPROVALS_URL: 'https://approvals.example.com',
    CONFIG,
  };
}

describe('one run-tracking composition for AWS and local', () => {
  it('each AWS entry that writes runs goes through trackRuns once, with the same decorators', () => {
    const clients = {
      env: env(),
      dynamo: dynamo.doc,
      sfn: new SFNClient({ region: 'us-east-1' }),
      secretsManager: new SecretsManagerClient({ region: 'us-east-1' }),
    };
    const entries: Record<string, () => unknown> = {
      webhook: () => createFunctionUrlHandler(clients),
      pipeline: () => createPipelineLambda(clients),
      notifier: () => createNotifierLambda(clients),
      approvals: () => createApprovalsLambda(clients),
      reconciler: () => createReconcilerLambda(clients),
    };
    for (const [name, create] of Object.entries(entries)) {
      const before = calls.length;
      create();
      expect(calls.length - before, name).toBe(1);
      const tracking = calls[calls.length - 1]!;
      expect(tracking.decorators, name).toEqual(RUN_TRACKING_DECORATORS);
      expect(tracking.runs, name).toBeInstanceOf(FeedbackRunStore);
    }
  });

  it('the local stack goes through the same trackRuns, with console progress on top', async () => {
    const before = calls.length;
    stack = await startTestStack({ github: { credentials: null } });
    expect(calls.length - before).toBe(1);
    const tracking = calls[calls.length - 1]!;
    expect(tracking.decorators).toEqual(RUN_TRACKING_DECORATORS);
    expect(tracking.feedback).toBeInstanceOf(FeedbackRunStore);
    expect(tracking.feedback).toBe(stack.feedback);
    expect(tracking.runs).toBeInstanceOf(ProgressEventRunStore);
    expect(tracking.runs).toBe(stack.runs);
  });
});
