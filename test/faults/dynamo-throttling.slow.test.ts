import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import type { LocalFunction } from '../../src/local-mode/engine.js';
import {
  configYaml,
  pushChange,
  runForSha,
  startTestStack,
  terraformFiles,
  waitForRun,
  type TestStack,
} from '../support/local-stack.js';
import { expectNoLockHeld, stageStatuses } from './support.js';

/**
 * DynamoDB throttling that outlasts the SDK's own retries (the injected error sits above the SDK's
 * retry middleware, so the store sees it at once). The definition's Retry lists ThrottlingException,
 * ProvisionedThroughputExceededException and TransientError: the error has to reach it under one of
 * those names, through the store adapter and the Lambda error mapping.
 */

let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.cleanup();
  stack = undefined;
});

interface Throttle {
  /** The pipeline action during which the next sends are refused. */
  during?: string;
  /** DynamoDB command name → how many more sends to refuse, and with which error name. */
  refuse: Map<string, { left: number; errorName: string }>;
  refused: string[];
}

function throttling(throttle: Throttle, current: { action?: string }) {
  return (client: DynamoDBClient) => {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const command = context.commandName ?? '';
        const rule = throttle.refuse.get(command);
        if (rule && rule.left > 0 && current.action !== undefined && current.action === throttle.during) {
          rule.left -= 1;
          throttle.refused.push(`${current.action}:${command}`);
          const error = Object.assign(
            new Error(`Rate of requests exceeds the allowed throughput (injected, ${command})`),
            {
              name: rule.errorName,
              $fault: 'client',
              $metadata: { httpStatusCode: 400 },
            },
          );
          throw error;
        }
        return next(args);
      },
      { step: 'initialize', name: 'injectThrottling' },
    );
  };
}

function tracking(current: { action?: string }): (real: LocalFunction) => LocalFunction {
  return (real) => async (payload) => {
    current.action = (payload as { action?: string }).action;
    try {
      return await real(payload);
    } finally {
      current.action = undefined;
    }
  };
}

describe('DynamoDB throttling inside a pipeline task', () => {
  it('is retried by the definition and the run succeeds', async () => {
    const current: { action?: string } = {};
    const throttle: Throttle = { refuse: new Map(), refused: [] };
    stack = await startTestStack({
      config: configYaml({ environments: ['ops'], approval: false }),
      intercept: { dynamoClient: throttling(throttle, current), pipeline: tracking(current) },
    });
    throttle.during = 'afterPlan';
    throttle.refuse.set('UpdateItemCommand', { left: 2, errorName: 'ThrottlingException' });
    const sha = await pushChange(stack, terraformFiles({ network: 'one' }));
    const run = await waitForRun(stack, (await runForSha(stack, sha)).id);
    expect(throttle.refused).toEqual(['afterPlan:UpdateItemCommand', 'afterPlan:UpdateItemCommand']);
    expect(run.status, run.error).toBe('succeeded');
    expect(stageStatuses(run)).toEqual([['ops', 'applied']]);
    await expectNoLockHeld(stack);

    throttle.refused = [];
    throttle.during = 'finishStage';
    throttle.refuse.set('GetItemCommand', { left: 1, errorName: 'ProvisionedThroughputExceededException' });
    const nextSha = await pushChange(stack, terraformFiles({ network: 'two' }));
    const next = await waitForRun(stack, (await runForSha(stack, nextSha)).id);
    expect(throttle.refused).toEqual(['finishStage:GetItemCommand']);
    expect(next.status, next.error).toBe('succeeded');
    await expectNoLockHeld(stack);
  }, 300_000);
});
