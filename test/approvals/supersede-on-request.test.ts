import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Notifier, TaskCallbacks } from '../../src/domain/ports.js';
import type { Run } from '../../src/domain/run.js';
import { lockKeyFor } from '../../src/adapters/dynamo/table-layout.js';
import { createApprovalRequester } from '../../lambdas/approval-request/handler.js';
import { useDynalite } from '../support/dynalite.js';
import { aRun, aStage } from '../support/builders.js';

/**
 * The other order of the superseding race: the newer push already waits for the apps lock when the
 * older run starts waiting for approval. The older run gives way at once instead of holding the lock.
 */

const CONFIG = parseConfig(
  'repositories:\n  - name: acme/infrastructure\n    environments:\n      - name: ops\n      - name: apps\n       ' +
    ' approval: { approvers: [alice@example.com], timeout: 1h }\n',
);
const AT = '2026-02-01T00:00:00.000Z';

function run(id: string, sequence: number, appsStatus: Run['stages'][number]['status']): Run {
  return aRun({
    id,
    sha: id.padEnd(40, '0'),
    createdAt: AT,
    sequence,
    stages: [
      aStage('ops', { status: 'applied', transitions: [] }),
      aStage('apps', { status: appsStatus, transitions: [] }),
    ],
  });
}

describe('a run that starts waiting for approval behind a newer waiting push', () => {
  const dynamo = useDynalite();
  const failures: Array<{ token: string; error: string; cause: string }> = [];
  const notified: string[] = [];
  const callbacks: TaskCallbacks = {
    sendTaskSuccess: async () => ({ delivered: true }),
    sendTaskFailure: async (token, error, cause) => {
      failures.push({ token, error, cause });
      return { delivered: true };
    },
  };
  const notifier: Notifier = {
    approvalRequested: async (request) => void notified.push(request.approval.runId),
    runNotice: async () => undefined,
  };

  function requester() {
    const { runs, approvals, locks } = dynamo.stores;
    return createApprovalRequester({
      config: CONFIG,
      runs,
      approvals,
      artifacts: { put: async () => undefined, get: async () => undefined },
      notifier,
      publicUrl: 'http://127.0.0.1:1',
      supersede: { locks, callbacks },
    });
  }

  it(
    'gives way to a newer push whose token is queued: approval superseded, its own wait failed, ' + 'nobody notified',
    async () => {
      const { runs, locks, approvals } = dynamo.stores;
      await runs.create(run('older', 1, 'planned'));
      await runs.create(run('newer', 2, 'waiting_for_lock'));
      const key = lockKeyFor('acme/infrastructure', 'apps');
      await locks.enqueue(key, { runId: 'older', sequence: 1, executionName: 'exec-older', enqueuedAt: AT });
      await locks.enqueue(key, {
        runId: 'newer',
        sequence: 2,
        executionName: 'exec-newer',
        enqueuedAt: AT,
        taskToken: 'newer-token',
      });

      const { approvalId } = await requester()({
        action: 'requestApproval',
        runId: 'older',
        repository: 'acme/infrastructure',
        environment: 'apps',
        taskToken: 'older-token',
        planSha256: 'a'.repeat(64),
        timeoutSeconds: 3600,
      });
      expect((await approvals.get(approvalId))?.status).toBe('superseded');
      expect(failures).toEqual([
        { token: 'older-token', error: 'tfgate.Superseded', cause: expect.stringContaining('superseded by run newer') },
      ]);
      expect(notified).toEqual([]);
    },
  );

  it('waits as usual when the newer push is only queued (it has not passed the earlier environments)', async () => {
    const { runs, locks, approvals } = dynamo.stores;
    failures.length = 0;
    await runs.create(run('first', 3, 'planned'));
    await runs.create(run('second', 4, 'pending'));
    const key = lockKeyFor('acme/infrastructure', 'apps');
    await locks.enqueue(key, { runId: 'second', sequence: 4, executionName: 'exec-second', enqueuedAt: AT });

    const { approvalId } = await requester()({
      action: 'requestApproval',
      runId: 'first',
      repository: 'acme/infrastructure',
      environment: 'apps',
      taskToken: 'first-token',
      planSha256: 'b'.repeat(64),
      timeoutSeconds: 3600,
    });
    expect((await approvals.get(approvalId))?.status).toBe('pending');
    expect(failures).toEqual([]);
    expect(notified).toEqual(['first']);
  });
});
