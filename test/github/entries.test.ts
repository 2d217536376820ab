import { describe, expect, it } from 'vitest';
import { executionEndedPayload } from '../../lambdas/stage-tasks/lambda.js';
import { parseReconcilerEvent } from '../../lambdas/reconciler/handler.js';

describe('the AWS entries read their events', () => {
  it('reconciler: {kind} from the schedules', () => {
    expect(parseReconcilerEvent({ kind: 'reconcile' })).toEqual({ kind: 'reconcile' });
    expect(parseReconcilerEvent({ kind: 'drift', repository: 'acme/infra' })).toEqual({
      kind: 'drift',
      repository: 'acme/infra',
    });
    expect(() => parseReconcilerEvent({ kind: 'drift' })).toThrow(/repository/);
    expect(() => parseReconcilerEvent({ kind: 'other' })).toThrow(/unknown/);
  });

  it('pipeline: an EventBridge execution status change becomes the executionEnded task', () => {
    const raw = {
      'detail-type': 'Step Functions Execution Status Change',
      source: 'aws.states',
      detail: {
        status: 'ABORTED',
        name: 'gh-1',
        input: JSON.stringify({ runId: 'run-9', repository: 'acme/infra' }),
        error: null,
        cause: null,
      },
    };
    expect(executionEndedPayload(raw)).toEqual({ action: 'executionEnded', runId: 'run-9', status: 'ABORTED' });
    expect(
      executionEndedPayload({
        ...raw,
        detail: { ...raw.detail, status: 'TIMED_OUT', input: JSON.stringify({ runId: 'run-8' }) },
      }),
    ).toEqual({ action: 'executionEnded', runId: 'run-8', status: 'TIMED_OUT' });
    expect(executionEndedPayload({ ...raw, detail: { ...raw.detail, status: 'SUCCEEDED' } })).toEqual({
      ignored: 'execution status SUCCEEDED',
    });
    // A task payload from the state machine passes through untouched.
    expect(executionEndedPayload({ action: 'completeRun', runId: 'run-1' })).toBeUndefined();
    expect(executionEndedPayload({ action: 'executionEnded', runId: 'run-1', status: 'FAILED' })).toBeUndefined();
  });
});
