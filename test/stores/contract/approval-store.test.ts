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

  it('two-person rule: counts distinct people one write at a time; the Nth flips it to approved', async () => {
    const approval = anApproval({ id: '8'.repeat(32), required: 2, approvals: [] });
    await stores().approvals.create(approval);
    const alice = { by: 'alice@example.com', ids: ['key:alice', '@alice', 'alice@example.com'] };
    const first = await stores().approvals.addApproval(
      approval.id,
      alice,
      { expected: 0, completes: false },
      beforeDeadline,
    );
    expect(first).toEqual({
      decided: true,
      approval: {
        ...approval,
        approvals: [{ by: 'alice@example.com', at: beforeDeadline.toISOString() }],
        approverIds: ['key:alice', '@alice', 'alice@example.com'],
      },
    });
    // The same person again, by any one of her identities (another sign-in): refused, nothing changes.
    const again = await stores().approvals.addApproval(
      approval.id,
      { by: 'alice@example.com', ids: ['alice@example.com'] },
      { expected: 1, completes: true },
      beforeDeadline,
    );
    expect(again).toEqual({ decided: false, approval: first.approval });
    // A count that moved (another approval landed) refuses the write: the caller counts again.
    const stale = await stores().approvals.addApproval(
      approval.id,
      { by: '@bob', ids: ['key:bob', '@bob'] },
      { expected: 0, completes: false },
      beforeDeadline,
    );
    expect(stale).toEqual({ decided: false, approval: first.approval });
    const second = await stores().approvals.addApproval(
      approval.id,
      { by: '@bob', ids: ['key:bob', '@bob'] },
      { expected: 1, completes: true },
      beforeDeadline,
    );
    expect(second.decided).toBe(true);
    expect(second.approval).toMatchObject({
      status: 'approved',
      decidedBy: '@bob',
      decidedAt: beforeDeadline.toISOString(),
      approvals: [
        { by: 'alice@example.com', at: beforeDeadline.toISOString() },
        { by: '@bob', at: beforeDeadline.toISOString() },
      ],
    });
    // Approved is closed: a third approver changes nothing.
    const third = await stores().approvals.addApproval(
      approval.id,
      { by: 'carol@example.com', ids: ['carol@example.com'] },
      { expected: 2, completes: true },
      beforeDeadline,
    );
    expect(third).toEqual({ decided: false, approval: second.approval });
  });

  it('two-person rule: no approval counts after the deadline or once rejected', async () => {
    await stores().approvals.create(anApproval({ id: '9'.repeat(32), required: 2 }));
    const late = await stores().approvals.addApproval(
      '9'.repeat(32),
      { by: 'alice@example.com', ids: ['alice@example.com'] },
      { expected: 0, completes: false },
      afterDeadline,
    );
    expect(late.decided).toBe(false);
    await stores().approvals.decide('9'.repeat(32), { status: 'rejected', by: '@bob' }, beforeDeadline);
    const closed = await stores().approvals.addApproval(
      '9'.repeat(32),
      { by: 'alice@example.com', ids: ['alice@example.com'] },
      { expected: 0, completes: false },
      beforeDeadline,
    );
    expect(closed).toMatchObject({ decided: false, approval: { status: 'rejected' } });
    expect(closed.approval).not.toHaveProperty('approvals.0');
  });

  it('two-person rule: of concurrent approvals by different people exactly `required` count', async () => {
    const approval = anApproval({ id: 'a'.repeat(32), required: 2 });
    await stores().approvals.create(approval);
    const people = ['alice', 'bob', 'carol', 'dave'];
    // Everyone read the record with no approvals: each write claims to be the first.
    const results = await Promise.all(
      people.map((name) =>
        stores().approvals.addApproval(
          approval.id,
          { by: `@${name}`, ids: [`@${name}`] },
          { expected: 0, completes: false },
          beforeDeadline,
        ),
      ),
    );
    expect(results.filter((result) => result.decided)).toHaveLength(1);
    expect((await stores().approvals.get(approval.id))?.approvals).toHaveLength(1);
  });
});
