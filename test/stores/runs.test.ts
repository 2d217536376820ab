import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlreadyExistsError, NotFoundError } from '../../src/domain/errors.js';
import type { Run } from '../../src/domain/run.js';
import { startDynalite, useDynalite, type TestDynamo } from '../support/dynalite.js';
import { aRun } from '../support/builders.js';

const dynamo = useDynalite();

function makeRun(id: string, createdAt: string, overrides: Partial<Run> = {}): Run {
  return aRun({ id, createdAt, ...overrides });
}

describe('DynamoRunStore', () => {
  it('creates a run and reads it back with its stages in configured order', async () => {
    const run = makeRun('run-create', '2024-05-01T10:00:00.000Z', {
      author: { name: 'Alice', email: 'a@example.com' },
      pusher: 'alice',
    });
    await dynamo.stores.runs.create(run);
    expect(await dynamo.stores.runs.get('run-create')).toEqual(run);
    expect(await dynamo.stores.runs.get('no-such-run')).toBeUndefined();
  });

  it('refuses a second run with the same id', async () => {
    await dynamo.stores.runs.create(makeRun('run-twin', '2024-05-01T10:00:00.000Z'));
    await expect(dynamo.stores.runs.create(makeRun('run-twin', '2024-05-01T11:00:00.000Z'))).rejects.toBeInstanceOf(
      AlreadyExistsError,
    );
  });

  it('records stage transitions with their times, plan and approval', async () => {
    await dynamo.stores.runs.create(makeRun('run-stages', '2024-05-01T10:00:00.000Z'));
    const plan = {
      add: 1,
      change: 0,
      destroy: 0,
      replace: 0,
      hasChanges: true,
      sha256: 'f'.repeat(64),
      addresses: { create: ['null_resource.a'], update: [], delete: [], replace: [] },
    };
    await dynamo.stores.runs.updateStage(
      'run-stages',
      'ops',
      { status: 'waiting_for_lock' },
      new Date('2024-05-01T10:00:01.000Z'),
    );
    await dynamo.stores.runs.updateStage(
      'run-stages',
      'ops',
      { status: 'planning' },
      new Date('2024-05-01T10:00:02.000Z'),
    );
    await dynamo.stores.runs.updateStage(
      'run-stages',
      'ops',
      { status: 'planned', plan },
      new Date('2024-05-01T10:00:30.000Z'),
    );
    const updated = await dynamo.stores.runs.updateStage(
      'run-stages',
      'ops',
      { status: 'awaiting_approval', approval: { id: 'ab'.repeat(16), status: 'pending' } },
      new Date('2024-05-01T10:00:31.000Z'),
    );

    const ops = updated.stages[0]!;
    expect(updated.stages.map((stage) => stage.environment)).toEqual(['ops', 'apps']);
    expect(ops.status).toBe('awaiting_approval');
    expect(ops.plan).toEqual(plan);
    expect(ops.approval).toEqual({ id: 'ab'.repeat(16), status: 'pending' });
    expect(ops.transitions).toEqual([
      { status: 'pending', at: '2024-05-01T10:00:00.000Z' },
      { status: 'waiting_for_lock', at: '2024-05-01T10:00:01.000Z' },
      { status: 'planning', at: '2024-05-01T10:00:02.000Z' },
      { status: 'planned', at: '2024-05-01T10:00:30.000Z' },
      { status: 'awaiting_approval', at: '2024-05-01T10:00:31.000Z' },
    ]);
    expect(updated.stages[1]!.transitions).toHaveLength(1);
    expect(updated.updatedAt).toBe('2024-05-01T10:00:31.000Z');
    expect(await dynamo.stores.runs.get('run-stages')).toEqual(updated);
  });

  it('keeps every transition when stages are updated concurrently', async () => {
    await dynamo.stores.runs.create(makeRun('run-concurrent', '2024-05-01T10:00:00.000Z'));
    const at = new Date('2024-05-01T10:01:00.000Z');
    await Promise.all([
      ...Array.from({ length: 10 }, () =>
        dynamo.stores.runs.updateStage('run-concurrent', 'ops', { status: 'planning' }, at),
      ),
      ...Array.from({ length: 10 }, () =>
        dynamo.stores.runs.updateStage('run-concurrent', 'apps', { status: 'planning' }, at),
      ),
    ]);
    const run = await dynamo.stores.runs.get('run-concurrent');
    expect(run!.stages.map((stage) => stage.transitions.length)).toEqual([11, 11]);
  });

  it('refuses updates to a missing run or a stage the run does not have', async () => {
    await dynamo.stores.runs.create(makeRun('run-missing-stage', '2024-05-01T10:00:00.000Z'));
    const at = new Date('2024-05-01T10:00:01.000Z');
    await expect(
      dynamo.stores.runs.updateStage('no-such-run', 'ops', { status: 'planning' }, at),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      dynamo.stores.runs.updateStage('run-missing-stage', 'prod', { status: 'planning' }, at),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(dynamo.stores.runs.updateRun('no-such-run', { status: 'failed' }, at)).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });

  it('sets run status and error and appends notes', async () => {
    await dynamo.stores.runs.create(makeRun('run-notes', '2024-05-01T10:00:00.000Z'));
    await dynamo.stores.runs.updateRun(
      'run-notes',
      { note: 'lock on ops freed by bob: stuck' },
      new Date('2024-05-01T10:05:00.000Z'),
    );
    const failed = await dynamo.stores.runs.updateRun(
      'run-notes',
      { status: 'failed', error: 'plan failed', note: 'second note' },
      new Date('2024-05-01T10:06:00.000Z'),
    );
    expect(failed.status).toBe('failed');
    expect(failed.error).toBe('plan failed');
    expect(failed.notes).toEqual(['lock on ops freed by bob: stuck', 'second note']);
    expect(failed.updatedAt).toBe('2024-05-01T10:06:00.000Z');
  });
});

describe('DynamoRunStore listings', () => {
  let listing: TestDynamo;
  beforeAll(async () => {
    listing = await startDynalite();
    await listing.stores.runs.create(makeRun('r-middle', '2024-06-02T00:00:00.000Z'));
    await listing.stores.runs.create(makeRun('r-oldest', '2024-06-01T00:00:00.000Z', { status: 'succeeded' }));
    await listing.stores.runs.create(makeRun('r-newest', '2024-06-03T00:00:00.000Z', { status: 'awaiting_approval' }));
    await listing.stores.runs.create(makeRun('r-failed', '2024-06-01T12:00:00.000Z', { status: 'failed' }));
  });
  afterAll(async () => {
    await listing?.close();
  });

  it('lists newest first, honouring the limit', async () => {
    expect((await listing.stores.runs.list()).map((run) => run.id)).toEqual([
      'r-newest',
      'r-middle',
      'r-failed',
      'r-oldest',
    ]);
    expect((await listing.stores.runs.list({ limit: 2 })).map((run) => run.id)).toEqual(['r-newest', 'r-middle']);
  });

  it('lists only runs that are not terminal', async () => {
    expect((await listing.stores.runs.listActive()).map((run) => run.id)).toEqual(['r-middle', 'r-newest']);
    await listing.stores.runs.updateRun('r-middle', { status: 'interrupted' }, new Date('2024-06-04T00:00:00.000Z'));
    expect((await listing.stores.runs.listActive()).map((run) => run.id)).toEqual(['r-newest']);
  });
});
