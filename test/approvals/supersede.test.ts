import { describe, expect, it } from 'vitest';
import { supersedes, supersedeWaitingRun } from '../../src/domain/supersede.js';
import type { ApprovalRecord, TaskCallbacks } from '../../src/domain/ports.js';
import type { Run } from '../../src/domain/run.js';
import { useDynalite } from '../support/dynalite.js';
import { anApproval, aRun, aStage } from '../support/builders.js';

const AT = '2026-02-01T00:00:00.000Z';

function run(
  id: string,
  sequence: number,
  overrides: Partial<Run> = {},
  appsStatus: Run['stages'][number]['status'] = 'awaiting_approval',
): Run {
  return aRun({
    id,
    sha: `${id.padEnd(40, '0')}`,
    status: appsStatus === 'awaiting_approval' ? 'awaiting_approval' : 'running',
    createdAt: AT,
    sequence,
    stages: [
      aStage('ops', { status: 'applied', transitions: [] }),
      aStage('apps', {
        status: appsStatus,
        ...(appsStatus === 'awaiting_approval'
          ? { approval: { id: `${id}`.padEnd(32, 'a'), status: 'pending' as const } }
          : {}),
        transitions: [],
      }),
    ],
    ...overrides,
  });
}

describe('the superseding rule', () => {
  const older = run('old', 1);
  const newer = run('new', 2, { status: 'running' }, 'waiting_for_lock');

  it(
    'a newer deploy push of the same repository replaces an older one waiting for approval in that ' + 'environment',
    () => {
      expect(supersedes(newer, older, 'apps')).toBe(true);
    },
  );

  it(
    'does not apply to an older push, another repository, another environment, a plan-only run, or a run ' +
      'not waiting',
    () => {
      expect(supersedes(older, newer, 'apps')).toBe(false);
      expect(supersedes({ ...newer, sequence: 1 }, older, 'apps')).toBe(false);
      expect(supersedes({ ...newer, repository: 'acme/other' }, older, 'apps')).toBe(false);
      expect(supersedes(newer, older, 'ops')).toBe(false);
      expect(supersedes({ ...newer, mode: 'plan_only' }, older, 'apps')).toBe(false);
      expect(supersedes(newer, run('old', 1, {}, 'planning'), 'apps')).toBe(false);
      expect(
        supersedes(
          newer,
          { ...older, stages: [older.stages[0]!, { ...older.stages[1]!, approval: { id: 'x', status: 'approved' } }] },
          'apps',
        ),
      ).toBe(false);
    },
  );
});

describe('supersedeWaitingRun', () => {
  const dynamo = useDynalite();
  const failures: Array<{ token: string; error: string; cause: string }> = [];
  const callbacks: TaskCallbacks = {
    sendTaskSuccess: async () => ({ delivered: true }),
    sendTaskFailure: async (token, error, cause) => {
      failures.push({ token, error, cause });
      return { delivered: true };
    },
  };

  async function waiting(id: string, sequence: number): Promise<{ older: Run; approval: ApprovalRecord }> {
    const older = run(id, sequence);
    await dynamo.stores.runs.create(older);
    const approval: ApprovalRecord = anApproval({
      id: older.stages[1]!.approval!.id,
      runId: id,
      repository: older.repository,
      sha: older.sha,
      createdAt: AT,
      expiresAt: Math.floor(Date.now() / 1000) + 3600,
      taskToken: `token-of-${id}`,
      approvers: [],
    });
    await dynamo.stores.approvals.create(approval);
    return { older, approval };
  }

  it(
    'closes the approval as superseded (saying by which run) and fails the older run’s wait with ' +
      'tfgate.Superseded',
    async () => {
      const { approval } = await waiting('older-1', 1);
      const newer = run('newer-1', 2, { status: 'running' }, 'waiting_for_lock');
      const outcome = await supersedeWaitingRun(
        { runs: dynamo.stores.runs, approvals: dynamo.stores.approvals, callbacks },
        newer,
        'older-1',
        'apps',
      );
      expect(outcome).toEqual({ superseded: true, runId: 'older-1', delivered: true });
      expect(await dynamo.stores.approvals.get(approval.id)).toMatchObject({
        status: 'superseded',
        reason: `superseded by run newer-1 (${newer.sha.slice(0, 12)})`,
      });
      expect(failures.at(-1)).toEqual({
        token: 'token-of-older-1',
        error: 'tfgate.Superseded',
        cause: `superseded by run newer-1 (${newer.sha.slice(0, 12)})`,
      });
    },
  );

  it('loses cleanly to an approval decided first: the approved run keeps going', async () => {
    const { approval } = await waiting('older-2', 3);
    await dynamo.stores.approvals.decide(approval.id, { status: 'approved', by: 'alice@example.com' }, new Date());
    const before = failures.length;
    const outcome = await supersedeWaitingRun(
      { runs: dynamo.stores.runs, approvals: dynamo.stores.approvals, callbacks },
      run('newer-2', 4, { status: 'running' }, 'waiting_for_lock'),
      'older-2',
      'apps',
    );
    expect(outcome).toEqual({ superseded: false, reason: 'decided_meanwhile' });
    expect(failures.length).toBe(before);
    expect((await dynamo.stores.approvals.get(approval.id))?.status).toBe('approved');
  });
});
