import { expect, it } from 'vitest';
import { AlreadyExistsError } from '../../../src/domain/errors.js';
import { anApproval, BUILT_AT } from '../../support/builders.js';
import { storeContract } from './implementations.js';

const beforeDeadline = new Date(Date.parse(BUILT_AT) + 3600_000);
const afterDeadline = new Date(Date.parse(BUILT_AT) + 25 * 3600_000);

storeContract('ApprovalStore', (stores) => {
  it('creates an approval once and reads back what it was given', async () => {
    const approval = anApproval({ id: '1'.repeat(32), reason: undefined });
    await stores().approvals.create(approval);
    await expect(stores().approvals.create(approval)).rejects.toBeInstanceOf(AlreadyExistsError);
    expect(await stores().approvals.get(approval.id)).toEqual(anApproval({ id: '1'.repeat(32) }));
    expect(await stores().approvals.get('f'.repeat(32))).toBeUndefined();
  });

  it('decides once; a second decision gets the first one back', async () => {
    const approval = anApproval({ id: '2'.repeat(32) });
    await stores().approvals.create(approval);
    const first = await stores().approvals.decide(
      approval.id,
      { status: 'approved', by: 'alice@example.com', reason: 'looks right' },
      beforeDeadline,
    );
    expect(first).toEqual({
      decided: true,
      approval: {
        ...approval,
        status: 'approved',
        decidedBy: 'alice@example.com',
        decidedAt: beforeDeadline.toISOString(),
        reason: 'looks right',
      },
    });
    const second = await stores().approvals.decide(
      approval.id,
      { status: 'rejected', by: 'bob@example.com' },
      beforeDeadline,
    );
    expect(second).toEqual({ decided: false, approval: first.approval });
    expect(await stores().approvals.get(approval.id)).toEqual(first.approval);
  });

  it('of concurrent decisions exactly one lands', async () => {
    const approval = anApproval({ id: '3'.repeat(32) });
    await stores().approvals.create(approval);
    const results = await Promise.all(
      ['alice@example.com', 'bob@example.com', 'alice@example.com', 'bob@example.com'].map((by, index) =>
        stores().approvals.decide(approval.id, { status: index % 2 ? 'rejected' : 'approved', by }, beforeDeadline),
      ),
    );
    expect(results.filter((result) => result.decided)).toHaveLength(1);
  });

  it('refuses a person after the deadline, but expiring and superseding still land', async () => {
    await stores().approvals.create(anApproval({ id: '4'.repeat(32) }));
    const late = await stores().approvals.decide(
      '4'.repeat(32),
      { status: 'approved', by: 'alice@example.com' },
      afterDeadline,
    );
    expect(late).toEqual({ decided: false, approval: anApproval({ id: '4'.repeat(32) }) });
    const expired = await stores().approvals.decide('4'.repeat(32), { status: 'expired' }, afterDeadline);
    expect(expired).toEqual({
      decided: true,
      approval: anApproval({ id: '4'.repeat(32), status: 'expired', decidedAt: afterDeadline.toISOString() }),
    });

    await stores().approvals.create(anApproval({ id: '5'.repeat(32) }));
    const superseded = await stores().approvals.decide(
      '5'.repeat(32),
      { status: 'superseded', reason: 'newer push' },
      afterDeadline,
    );
    expect(superseded.approval).toMatchObject({ status: 'superseded', reason: 'newer push' });
    expect(superseded.approval).not.toHaveProperty('decidedBy');
  });

  it('a decision on an unknown approval is no decision', async () => {
    expect(
      await stores().approvals.decide('6'.repeat(32), { status: 'approved', by: 'alice@example.com' }, beforeDeadline),
    ).toEqual({ decided: false, approval: undefined });
    expect(await stores().approvals.attachTaskToken('6'.repeat(32), 'run-1', 'token')).toEqual({
      decided: false,
      approval: undefined,
    });
  });

  it('gives a pending approval of the same run a new token, never another run and never once decided', async () => {
    const approval = anApproval({ id: '7'.repeat(32), runId: 'run-1', taskToken: 'first-token' });
    await stores().approvals.create(approval);
    expect(await stores().approvals.attachTaskToken(approval.id, 'run-2', 'stolen')).toEqual({
      decided: false,
      approval,
    });
    expect(await stores().approvals.attachTaskToken(approval.id, 'run-1', 'second-token')).toEqual({
      decided: true,
      approval: { ...approval, taskToken: 'second-token' },
    });
    await stores().approvals.decide(approval.id, { status: 'rejected', by: 'bob@example.com' }, beforeDeadline);
    const late = await stores().approvals.attachTaskToken(approval.id, 'run-1', 'too-late');
    expect(late).toMatchObject({ decided: false, approval: { status: 'rejected', taskToken: 'second-token' } });
  });
});
