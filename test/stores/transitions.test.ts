import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/domain/errors.js';
import type { Run } from '../../src/domain/run.js';
import {
  IllegalTransitionError,
  isAllowedRunTransition,
  isAllowedStageTransition,
} from '../../src/domain/transitions.js';
import { startDynalite, type TestDynamo } from '../support/dynalite.js';

/** The allowed status transitions (domain/transitions.ts), as the DynamoDB run store enforces them in its writes. */

let dynamo: TestDynamo;
beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo?.close();
});

function makeRun(id: string): Run {
  const at = '2024-05-01T10:00:00.000Z';
  return {
    id,
    repository: 'acme/infrastructure',
    sha: 'a'.repeat(40),
    ref: 'refs/heads/main',
    trigger: 'push',
    mode: 'deploy',
    status: 'running',
    createdAt: at,
    updatedAt: at,
    sequence: 1,
    executionName: `exec-${id}`,
    stages: [
      { environment: 'ops', status: 'pending', transitions: [{ status: 'pending', at }] },
      { environment: 'apps', status: 'pending', transitions: [{ status: 'pending', at }] },
    ],
  };
}

describe('allowed transitions', () => {
  it('declares the lifecycle: a deploy stage goes on from planned, nothing goes on from an ended stage or run', () => {
    expect(isAllowedStageTransition('pending', 'waiting_for_lock')).toBe(true);
    expect(isAllowedStageTransition('planned', 'awaiting_approval')).toBe(true);
    expect(isAllowedStageTransition('awaiting_approval', 'applying')).toBe(true);
    expect(isAllowedStageTransition('rejected', 'applying')).toBe(false);
    expect(isAllowedStageTransition('applied', 'planning')).toBe(false);
    expect(isAllowedStageTransition('rejected', 'rejected')).toBe(true);
    expect(isAllowedRunTransition('awaiting_approval', 'running')).toBe(true);
    expect(isAllowedRunTransition('failed', 'running')).toBe(false);
    expect(isAllowedRunTransition('succeeded', 'failed')).toBe(false);
  });

  it('the run store refuses an illegal stage transition and records nothing', async () => {
    const runs = dynamo.stores.runs;
    await runs.create(makeRun('run-stage'));
    await runs.updateStage('run-stage', 'ops', { status: 'awaiting_approval' }, new Date('2024-05-01T10:01:00.000Z'));
    await runs.updateStage('run-stage', 'ops', { status: 'rejected' }, new Date('2024-05-01T10:02:00.000Z'));
    // A late approval after the rejection must not reopen the stage.
    await expect(
      runs.updateStage('run-stage', 'ops', { status: 'applying' }, new Date('2024-05-01T10:03:00.000Z')),
    ).rejects.toThrow(IllegalTransitionError);
    await expect(runs.updateStage('run-stage', 'ops', { status: 'applying' }, new Date())).rejects.toThrow(
      /ops stage is rejected and cannot become applying/,
    );
    const after = (await runs.get('run-stage'))!;
    expect(after.stages[0]!.status).toBe('rejected');
    expect(after.stages[0]!.transitions.map((t) => t.status)).toEqual(['pending', 'awaiting_approval', 'rejected']);
    // Re-recording the same status stays allowed; a missing stage is still "not found".
    await runs.updateStage('run-stage', 'ops', { status: 'rejected' }, new Date('2024-05-01T10:04:00.000Z'));
    await expect(runs.updateStage('run-stage', 'nowhere', { status: 'planning' }, new Date())).rejects.toThrow(
      NotFoundError,
    );
  });

  it('the run store refuses to move an ended run, and still takes notes on it', async () => {
    const runs = dynamo.stores.runs;
    await runs.create(makeRun('run-ended'));
    await runs.updateRun('run-ended', { status: 'failed', error: 'boom' }, new Date('2024-05-01T10:01:00.000Z'));
    await expect(runs.updateRun('run-ended', { status: 'succeeded' }, new Date())).rejects.toThrow(
      IllegalTransitionError,
    );
    await runs.updateRun('run-ended', { note: 'feedback failed' }, new Date('2024-05-01T10:02:00.000Z'));
    expect(await runs.get('run-ended')).toMatchObject({ status: 'failed', notes: ['feedback failed'] });
    await expect(runs.updateRun('no-such-run', { status: 'failed' }, new Date())).rejects.toThrow(NotFoundError);
  });
});
