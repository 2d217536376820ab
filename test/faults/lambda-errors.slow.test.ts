import { afterEach, describe, expect, it } from 'vitest';
import type { LocalFunction } from '../../src/local-mode/engine.js';
import { RetryableTaskError } from '../../lambdas/stage-tasks/handler.js';
import {
  configYaml,
  pushChange,
  runForSha,
  startTestStack,
  terraformFiles,
  waitForRun,
  type TestStack,
} from '../support/local-stack.js';
import { expectNoLockHeld, expectStateFilesIntact, stageStatuses } from './support.js';

/** A pipeline Lambda task that throws: the definition's Retry absorbs transient errors, Catch records the rest. */

let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.cleanup();
  stack = undefined;
});

type Fault = (payload: { action?: string }) => Error | undefined;

function failing(fault: { current?: Fault }, calls: string[]): (real: LocalFunction) => LocalFunction {
  return (real) => async (payload) => {
    const action = (payload as { action?: string }).action ?? '?';
    calls.push(action);
    const error = fault.current?.(payload as { action?: string });
    if (error) throw error;
    return real(payload);
  };
}

function named(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

describe('a Lambda task throwing', () => {
  it('a non-transient afterPlan error fails the run with its message, frees the lock, keeps earlier runs', async () => {
    const fault: { current?: Fault } = {};
    const calls: string[] = [];
    stack = await startTestStack({
      config: configYaml({ environments: ['ops', 'apps'], approval: false }),
      intercept: { pipeline: failing(fault, calls) },
    });
    const goodSha = await pushChange(stack, terraformFiles({ network: 'one' }));
    const good = await waitForRun(stack, (await runForSha(stack, goodSha)).id);
    expect(good.status).toBe('succeeded');

    fault.current = (payload) =>
      payload.action === 'afterPlan' ? new Error('the plan summary could not be read (injected)') : undefined;
    const sha = await pushChange(stack, terraformFiles({ network: 'two' }));
    const run = await waitForRun(stack, (await runForSha(stack, sha)).id);
    expect(run.status).toBe('failed');
    expect(run.error).toBe('ops: Error: the plan summary could not be read (injected)');
    expect(stageStatuses(run)).toEqual([
      ['ops', 'failed'],
      ['apps', 'skipped'],
    ]);
    // Not a transient error: the definition must not retry it.
    expect(calls.filter((action) => action === 'afterPlan')).toHaveLength(3);
    await expectNoLockHeld(stack);
    expect((await stack.runs.get(good.id))?.status).toBe('succeeded');
    expect(await expectStateFilesIntact(stack)).toBe(2);
  }, 300_000);

  it('TransientError and ThrottlingException are retried by the definition and the run succeeds', async () => {
    const fault: { current?: Fault } = {};
    const calls: string[] = [];
    stack = await startTestStack({
      config: configYaml({ environments: ['ops'], approval: false }),
      intercept: { pipeline: failing(fault, calls) },
    });
    let afterPlanFailures = 2;
    let finishFailures = 1;
    fault.current = (payload) => {
      if (payload.action === 'afterPlan' && afterPlanFailures > 0) {
        afterPlanFailures -= 1;
        return new RetryableTaskError('the run store did not answer in time (injected)');
      }
      if (payload.action === 'finishStage' && finishFailures > 0) {
        finishFailures -= 1;
        return named('ThrottlingException', 'Rate exceeded (injected)');
      }
      return undefined;
    };
    const sha = await pushChange(stack, terraformFiles({ network: 'one' }));
    const run = await waitForRun(stack, (await runForSha(stack, sha)).id);
    expect(run.status, run.error).toBe('succeeded');
    expect(stageStatuses(run)).toEqual([['ops', 'applied']]);
    expect(calls.filter((action) => action === 'afterPlan')).toHaveLength(3);
    expect(calls.filter((action) => action === 'finishStage')).toHaveLength(2);
    await expectNoLockHeld(stack);
  }, 300_000);
});
