import { expect, it } from 'vitest';
import { AlreadyExistsError, NotFoundError } from '../../../src/domain/errors.js';
import { runListCursor } from '../../../src/domain/run.js';
import { aPlanSummary, aRun, aStage } from '../../support/builders.js';
import { storeContract } from './implementations.js';

const at = (second: number): string => new Date(Date.UTC(2026, 1, 1, 10, 0, second)).toISOString();

storeContract('RunStore', (stores) => {
  it('creates a run once and reads back what it was given', async () => {
    const run = aRun({ id: 'r-create', pullRequest: undefined, notes: ['first'] });
    await stores().runs.create(run);
    await expect(stores().runs.create(run)).rejects.toBeInstanceOf(AlreadyExistsError);
    expect(await stores().runs.get('r-create')).toEqual(aRun({ id: 'r-create', notes: ['first'] }));
    expect(await stores().runs.get('r-missing')).toBeUndefined();
  });

  it('hands out copies: changing a returned run changes nothing stored', async () => {
    await stores().runs.create(aRun({ id: 'r-copy' }));
    const read = await stores().runs.get('r-copy');
    read!.stages[0]!.status = 'failed';
    expect((await stores().runs.get('r-copy'))!.stages[0]!.status).toBe('pending');
  });

  it('lists newest first, honours limit, and continues after a cursor', async () => {
    for (const [id, second] of [
      ['r-b', 2],
      ['r-a', 1],
      ['r-d', 4],
      ['r-c', 3],
    ] as const)
      await stores().runs.create(aRun({ id, createdAt: at(second) }));
    expect((await stores().runs.list()).map((run) => run.id)).toEqual(['r-d', 'r-c', 'r-b', 'r-a']);
    const page = await stores().runs.list({ limit: 2 });
    expect(page.map((run) => run.id)).toEqual(['r-d', 'r-c']);
    expect((await stores().runs.list({ before: runListCursor(page[1]!) })).map((run) => run.id)).toEqual([
      'r-b',
      'r-a',
    ]);
    expect((await stores().runs.list({ before: runListCursor(page[1]!), limit: 1 })).map((run) => run.id)).toEqual([
      'r-b',
    ]);
  });

  it('orders runs created in the same millisecond by id', async () => {
    for (const id of ['r-1', 'r-3', 'r-2']) await stores().runs.create(aRun({ id, createdAt: at(5) }));
    expect((await stores().runs.list()).map((run) => run.id)).toEqual(['r-3', 'r-2', 'r-1']);
  });

  it('lists active runs oldest first, leaving out terminal ones', async () => {
    await stores().runs.create(aRun({ id: 'r-late', createdAt: at(9) }));
    await stores().runs.create(aRun({ id: 'r-done', createdAt: at(1), status: 'succeeded' }));
    await stores().runs.create(aRun({ id: 'r-early', createdAt: at(2), status: 'awaiting_approval' }));
    expect((await stores().runs.listActive()).map((run) => run.id)).toEqual(['r-early', 'r-late']);
  });

  it('records a stage transition with its time, keeping fields the patch leaves out', async () => {
    await stores().runs.create(aRun({ id: 'r-stage', createdAt: at(0) }));
    const plan = aPlanSummary({ add: 2 });
    await stores().runs.updateStage('r-stage', 'ops', { status: 'planned', plan }, new Date(at(1)));
    const updated = await stores().runs.updateStage(
      'r-stage',
      'ops',
      { status: 'applying', plan: undefined, error: undefined },
      new Date(at(2)),
    );
    expect(updated.updatedAt).toBe(at(2));
    expect(updated.stages[0]).toEqual({
      environment: 'ops',
      status: 'applying',
      plan,
      transitions: [
        { status: 'pending', at: at(0) },
        { status: 'planned', at: at(1) },
        { status: 'applying', at: at(2) },
      ],
    });
    expect(updated.stages.map((stage) => stage.environment)).toEqual(['ops', 'apps']);
    expect(await stores().runs.get('r-stage')).toEqual(updated);
  });

  it('refuses a stage or run that does not exist with NotFoundError', async () => {
    await stores().runs.create(aRun({ id: 'r-known' }));
    await expect(
      stores().runs.updateStage('r-known', 'prod', { status: 'planning' }, new Date(at(1))),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      stores().runs.updateStage('r-unknown', 'ops', { status: 'planning' }, new Date(at(1))),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(stores().runs.updateRun('r-unknown', { status: 'failed' }, new Date(at(1)))).rejects.toBeInstanceOf(
      NotFoundError,
    );
    expect(await stores().runs.get('r-unknown')).toBeUndefined();
  });

  it('updates a run: status and error when given, notes appended', async () => {
    await stores().runs.create(aRun({ id: 'r-update' }));
    await stores().runs.updateRun('r-update', { note: 'superseded by r-2' }, new Date(at(1)));
    const updated = await stores().runs.updateRun(
      'r-update',
      { status: 'failed', error: 'plan failed', note: 'freed by alice' },
      new Date(at(2)),
    );
    expect(updated).toMatchObject({
      status: 'failed',
      error: 'plan failed',
      notes: ['superseded by r-2', 'freed by alice'],
      updatedAt: at(2),
    });
    const again = await stores().runs.updateRun('r-update', {}, new Date(at(3)));
    expect(again).toMatchObject({ status: 'failed', error: 'plan failed', updatedAt: at(3) });
  });

  it('shows approval progress only on a stage still waiting for that approval, and never fewer approvals', async () => {
    const id = 'b'.repeat(32);
    await stores().runs.create(
      aRun({
        id: 'r-progress',
        stages: [aStage('apps', { status: 'awaiting_approval', approval: { id, status: 'pending', approvals: [] } })],
      }),
    );
    const one = { id, status: 'pending' as const, required: 3, approvals: [{ by: '@alice', at: at(1) }] };
    const two = { ...one, approvals: [...one.approvals, { by: '@bob', at: at(2) }] };
    expect(await stores().runs.recordApprovalProgress('r-progress', 'apps', two, new Date(at(3)))).toBe(true);
    // A late write of an older count never hides a newer one.
    expect(await stores().runs.recordApprovalProgress('r-progress', 'apps', one, new Date(at(4)))).toBe(false);
    const shown = await stores().runs.get('r-progress');
    expect(shown!.stages[0]!.approval).toEqual(two);
    expect(shown!.stages[0]!.transitions).toHaveLength(1);
    // Another approval's progress, or a stage that moved on, is left alone.
    expect(
      await stores().runs.recordApprovalProgress(
        'r-progress',
        'apps',
        { ...two, id: 'c'.repeat(32), approvals: [...two.approvals, { by: '@carol', at: at(5) }] },
        new Date(at(5)),
      ),
    ).toBe(false);
    await stores().runs.updateStage('r-progress', 'apps', { status: 'applying' }, new Date(at(6)));
    const three = { ...two, approvals: [...two.approvals, { by: '@carol', at: at(7) }] };
    expect(await stores().runs.recordApprovalProgress('r-progress', 'apps', three, new Date(at(7)))).toBe(false);
    expect((await stores().runs.get('r-progress'))!.stages[0]).toMatchObject({ status: 'applying', approval: two });
  });
});
