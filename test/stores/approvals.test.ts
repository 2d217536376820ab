import { describe, expect, it } from 'vitest';
import { AlreadyExistsError } from '../../src/domain/errors.js';
import type { ApprovalRecord } from '../../src/domain/ports.js';
import { useDynalite } from '../support/dynalite.js';
import { anApproval } from '../support/builders.js';

const dynamo = useDynalite();

const createdAt = new Date('2024-05-01T10:00:00.000Z');
const beforeDeadline = new Date('2024-05-01T11:00:00.000Z');
const afterDeadline = new Date('2024-05-02T11:00:00.000Z');

function makeApproval(id: string): ApprovalRecord {
  return anApproval({ id, createdAt: createdAt.toISOString() });
}

describe('DynamoApprovalStore', () => {
  it('gives a pending approval of the same run a new waiting token, and nothing once decided', async () => {
    const approval = makeApproval('7e'.repeat(16));
    await dynamo.stores.approvals.create(approval);
    expect(await dynamo.stores.approvals.attachTaskToken(approval.id, 'another-run', 'stolen')).toMatchObject({
      decided: false,
      approval: { taskToken: approval.taskToken },
    });
    const attached = await dynamo.stores.approvals.attachTaskToken(approval.id, 'run-1', 'token-after-restart');
    expect(attached).toMatchObject({
      decided: true,
      approval: { id: approval.id, status: 'pending', taskToken: 'token-after-restart' },
    });
    await dynamo.stores.approvals.decide(approval.id, { status: 'approved', by: 'alice@example.com' }, beforeDeadline);
    const late = await dynamo.stores.approvals.attachTaskToken(approval.id, 'run-1', 'too-late');
    expect(late).toMatchObject({ decided: false, approval: { status: 'approved', taskToken: 'token-after-restart' } });
  });

  it('creates an approval once and reads it back', async () => {
    const approval = makeApproval('a'.repeat(32));
    await dynamo.stores.approvals.create(approval);
    await expect(dynamo.stores.approvals.create(approval)).rejects.toBeInstanceOf(AlreadyExistsError);
    expect(await dynamo.stores.approvals.get(approval.id)).toEqual(approval);
    expect(await dynamo.stores.approvals.get('f'.repeat(32))).toBeUndefined();
  });

  it('decides once; a second decision returns the first one', async () => {
    const approval = makeApproval('1'.repeat(32));
    await dynamo.stores.approvals.create(approval);
    const first = await dynamo.stores.approvals.decide(
      approval.id,
      { status: 'approved', by: 'alice@example.com' },
      beforeDeadline,
    );
    expect(first.decided).toBe(true);
    expect(first.approval).toMatchObject({
      status: 'approved',
      decidedBy: 'alice@example.com',
      decidedAt: beforeDeadline.toISOString(),
    });

    const second = await dynamo.stores.approvals.decide(
      approval.id,
      { status: 'rejected', by: 'bob@example.com', reason: 'no' },
      beforeDeadline,
    );
    expect(second.decided).toBe(false);
    expect(second.approval).toMatchObject({ status: 'approved', decidedBy: 'alice@example.com' });
    expect(second.approval?.reason).toBeUndefined();
  });

  it('lets exactly one of two concurrent decisions win', async () => {
    const approval = makeApproval('2'.repeat(32));
    await dynamo.stores.approvals.create(approval);
    const [approve, reject] = await Promise.all([
      dynamo.stores.approvals.decide(approval.id, { status: 'approved', by: 'alice@example.com' }, beforeDeadline),
      dynamo.stores.approvals.decide(
        approval.id,
        { status: 'rejected', by: 'bob@example.com', reason: 'not now' },
        beforeDeadline,
      ),
    ]);
    expect([approve.decided, reject.decided].filter(Boolean)).toHaveLength(1);
    const winner = approve.decided ? approve : reject;
    const loser = approve.decided ? reject : approve;
    expect(loser.approval).toEqual(winner.approval);
    expect(await dynamo.stores.approvals.get(approval.id)).toEqual(winner.approval);
  });

  it('refuses approval or rejection after the deadline but can mark it expired', async () => {
    const approval = makeApproval('3'.repeat(32));
    await dynamo.stores.approvals.create(approval);
    const late = await dynamo.stores.approvals.decide(
      approval.id,
      { status: 'approved', by: 'alice@example.com' },
      afterDeadline,
    );
    expect(late).toEqual({ decided: false, approval });
    const lateReject = await dynamo.stores.approvals.decide(
      approval.id,
      { status: 'rejected', by: 'alice@example.com' },
      afterDeadline,
    );
    expect(lateReject.decided).toBe(false);

    const expired = await dynamo.stores.approvals.decide(
      approval.id,
      { status: 'expired', reason: 'timeout' },
      afterDeadline,
    );
    expect(expired.decided).toBe(true);
    expect(expired.approval).toMatchObject({
      status: 'expired',
      reason: 'timeout',
      decidedAt: afterDeadline.toISOString(),
    });
  });

  it('marks a pending approval superseded, after which nobody can approve it', async () => {
    const approval = makeApproval('4'.repeat(32));
    await dynamo.stores.approvals.create(approval);
    const superseded = await dynamo.stores.approvals.decide(
      approval.id,
      { status: 'superseded', reason: 'newer push' },
      beforeDeadline,
    );
    expect(superseded.decided).toBe(true);
    const approve = await dynamo.stores.approvals.decide(
      approval.id,
      { status: 'approved', by: 'alice@example.com' },
      beforeDeadline,
    );
    expect(approve.decided).toBe(false);
    expect(approve.approval?.status).toBe('superseded');
  });

  it('reports a missing approval as not decided', async () => {
    expect(
      await dynamo.stores.approvals.decide(
        '9'.repeat(32),
        { status: 'approved', by: 'alice@example.com' },
        beforeDeadline,
      ),
    ).toEqual({
      decided: false,
      approval: undefined,
    });
  });
});
