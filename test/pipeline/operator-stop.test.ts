import { describe, expect, it } from 'vitest';
import { INTERRUPTED_ERROR, unlockAsOperator } from '../../src/application/operator-stop.js';
import { lockKeyFor } from '../../src/domain/lock-key.js';
import { EnvironmentLocks } from '../../src/domain/locks.js';
import type { Clock, TaskCallbacks } from '../../src/domain/ports.js';
import { decideResumption } from '../../src/local-mode/resume.js';
import { parseConfig } from '../../src/config/load.js';
import { aPlanSummary, aRun, aStage, anApproval, BUILT_AT } from '../support/builders.js';
import { MemoryApprovalStore, MemoryLockStore, MemoryRunStore } from '../support/memory-stores.js';

/**
 * Issue 23 point 1, on the use case: an operator's forced unlock ends the run for good, and restart
 * recovery honours what was recorded (a stop, a forced release, a rejection) instead of planning again.
 */

const clock: Clock = { now: () => new Date(BUILT_AT) };
const REPO = 'acme/infrastructure';

class Callbacks implements TaskCallbacks {
  readonly failures: Array<{ token: string; error: string; cause: string }> = [];
  async sendTaskSuccess(): Promise<{ delivered: boolean }> {
    return { delivered: true };
  }
  async sendTaskFailure(token: string, error: string, cause: string): Promise<{ delivered: boolean }> {
    this.failures.push({ token, error, cause });
    return { delivered: true };
  }
}

async function runAwaitingApproval() {
  const runs = new MemoryRunStore();
  const approvals = new MemoryApprovalStore();
  const lockStore = new MemoryLockStore();
  const callbacks = new Callbacks();
  const locks = new EnvironmentLocks({ locks: lockStore, runs, callbacks, clock });
  const approval = anApproval({ runId: 'run-1' });
  const run = aRun({
    id: 'run-1',
    status: 'awaiting_approval',
    stages: [
      aStage('ops', { status: 'applied', plan: aPlanSummary({ add: 1 }) }),
      aStage('apps', {
        status: 'awaiting_approval',
        plan: aPlanSummary({ add: 1, sha256: approval.planSha256 }),
        approval: { id: approval.id, status: 'pending' },
      }),
    ],
  });
  await runs.create(run);
  await approvals.create(approval);
  await locks.enqueue(REPO, 'apps', run);
  const granted = await locks.grantNext(lockKeyFor(REPO, 'apps'));
  expect(granted.holder?.runId).toBe('run-1');
  return { runs, approvals, lockStore, callbacks, locks, clock, approval, fence: granted.holder!.fence };
}

describe("an operator's forced unlock", () => {
  it('ends the run interrupted with who, why and the fence, closes its approval and tells the wait', async () => {
    const world = await runAwaitingApproval();
    const outcome = await unlockAsOperator(world, REPO, 'apps', {
      by: 'carol (local operator)',
      reason: 'bad change, stop it',
      force: true,
    });
    expect(outcome.kind).toBe('freed');
    const run = (await world.runs.get('run-1'))!;
    expect(run.status).toBe('interrupted');
    expect(run.stop).toEqual({
      environment: 'apps',
      by: 'carol (local operator)',
      reason: 'bad change, stop it',
      at: BUILT_AT,
      fence: world.fence,
    });
    expect(run.error).toContain('apps: stopped by carol (local operator)');
    expect(run.error).toContain(`fencing number ${world.fence}`);
    expect(run.stages.map((s) => s.status)).toEqual(['applied', 'interrupted']);
    expect(run.stages[1]!.approval).toMatchObject({ id: world.approval.id, status: 'expired' });
    expect((await world.approvals.get(world.approval.id))?.status).toBe('expired');
    expect(world.callbacks.failures).toEqual([
      expect.objectContaining({ token: world.approval.taskToken, error: INTERRUPTED_ERROR }),
    ]);
    expect(await world.lockStore.get(lockKeyFor(REPO, 'apps'))).toBeUndefined();
    const events = await world.lockStore.listEvents(lockKeyFor(REPO, 'apps'));
    expect(events.at(-1)).toMatchObject({
      kind: 'forced_release',
      runId: 'run-1',
      by: 'carol (local operator)',
      fence: world.fence,
    });
  });

  it('refuses without --force and changes nothing', async () => {
    const world = await runAwaitingApproval();
    const outcome = await unlockAsOperator(world, REPO, 'apps', { by: 'carol', reason: 'why not', force: false });
    expect(outcome.kind).toBe('refused');
    expect((await world.runs.get('run-1'))?.status).toBe('awaiting_approval');
    expect((await world.approvals.get(world.approval.id))?.status).toBe('pending');
    expect((await world.lockStore.get(lockKeyFor(REPO, 'apps')))?.runId).toBe('run-1');
  });

  it('says honestly that an apply already running is not killed, and skips the later environments', async () => {
    const world = await runAwaitingApproval();
    await world.runs.create(
      aRun({
        id: 'run-2',
        sequence: 2,
        stages: [aStage('ops', { status: 'applying' }), aStage('apps', { status: 'pending' })],
      }),
    );
    const run2 = (await world.runs.get('run-2'))!;
    await world.locks.enqueue(REPO, 'ops', run2);
    await world.locks.enqueue(REPO, 'apps', run2);
    await world.locks.grantNext(lockKeyFor(REPO, 'ops'));
    await unlockAsOperator(world, REPO, 'ops', { by: 'carol', reason: 'wrong commit', force: true });
    const stopped = (await world.runs.get('run-2'))!;
    expect(stopped.status).toBe('interrupted');
    expect(stopped.stages[0]).toMatchObject({ status: 'interrupted' });
    expect(stopped.stages[0]!.error).toContain('its apply build had already started and runs to its end');
    expect(stopped.stages[1]).toMatchObject({ status: 'skipped' });
    // Its place in the apps queue is gone too: it never takes that lock.
    expect((await world.lockStore.listQueue(lockKeyFor(REPO, 'apps'))).map((e) => e.runId)).not.toContain('run-2');
  });
});

describe('restart recovery', () => {
  const config = parseConfig(
    `repositories:
  - name: ${REPO}
    environments:
      - name: ops
      - name: apps
        approval: { approvers: [alice@example.com] }
`,
    'tfgate.yaml',
  );

  async function decide(world: Awaited<ReturnType<typeof runAwaitingApproval>>) {
    const run = (await world.runs.get('run-1'))!;
    return decideResumption(run, {
      config,
      runs: world.runs,
      approvals: world.approvals,
      locks: world.lockStore,
      clock,
      presetToken: (name) => `preset-${name}`,
    });
  }

  it('resumes the approval wait when nothing was said (the case that must keep working)', async () => {
    const world = await runAwaitingApproval();
    expect((await decide(world)).kind).toBe('resume');
  });

  it('does not plan again a run whose lock an operator freed (the history says who, why, which fence)', async () => {
    const world = await runAwaitingApproval();
    // As an older tfgate left it: the lock freed and the run still awaiting approval.
    await world.locks.forceRelease(REPO, 'apps', { by: 'carol', reason: 'bad change, stop it' });
    const decision = await decide(world);
    expect(decision).toMatchObject({ kind: 'interrupt' });
    const reason = (decision as { reason: string }).reason;
    expect(reason).toContain('freed by carol');
    expect(reason).toContain('bad change, stop it');
    expect(reason).toContain(`fencing number ${world.fence}`);
  });

  it('ends as rejected a run whose rejection was recorded before it could act on it', async () => {
    const world = await runAwaitingApproval();
    await world.approvals.decide(world.approval.id, { status: 'rejected', by: 'bob', reason: 'no' }, clock.now());
    expect(await decide(world)).toEqual({
      kind: 'end',
      environment: 'apps',
      outcome: 'rejected',
      reason: 'by bob: no',
    });
  });

  it('ends a run whose stage already ended instead of planning it again', async () => {
    const world = await runAwaitingApproval();
    await world.runs.updateStage('run-1', 'apps', { status: 'interrupted', error: 'stopped by carol' }, clock.now());
    expect(await decide(world)).toEqual({ kind: 'interrupt', reason: 'stopped by carol' });
  });
});
