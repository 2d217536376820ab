import type { ApprovalRecord, LockClaim, QueueEntry } from '../../src/domain/ports.js';
import type { PlanSummary, Run, Stage } from '../../src/domain/run.js';

/**
 * One builder per domain object, for every test and the bench: a valid object with plain defaults,
 * and overrides for what a test is about. A test states the fields it depends on, never relies on a
 * default it checks. Webhook deliveries (real GitHub payloads, signed requests) are built by
 * test/webhook/fixtures.ts, re-exported at the end.
 */

/** The time every builder uses unless told otherwise. */
export const BUILT_AT = '2026-02-01T00:00:00.000Z';

export function aStage(environment: string, overrides: Partial<Stage> = {}): Stage {
  const status = overrides.status ?? 'pending';
  return { environment, status, transitions: [{ status, at: BUILT_AT }], ...overrides };
}

/**
 * A deploy run of acme/infrastructure at sequence 1, running, with a pending ops and apps stage.
 * `environments` names the stages (each pending since createdAt) unless `stages` is given.
 */
export function aRun(overrides: Partial<Run> & { environments?: string[] } = {}): Run {
  const { environments = ['ops', 'apps'], ...fields } = overrides;
  const id = fields.id ?? 'run-1';
  const createdAt = fields.createdAt ?? BUILT_AT;
  return {
    id,
    repository: 'acme/infrastructure',
    sha: 'a'.repeat(40),
    ref: 'refs/heads/main',
    trigger: 'push',
    mode: 'deploy',
    status: 'running',
    createdAt,
    updatedAt: createdAt,
    sequence: 1,
    executionName: `exec-${id}`,
    stages: environments.map((environment) => ({
      environment,
      status: 'pending',
      transitions: [{ status: 'pending', at: createdAt }],
    })),
    ...fields,
  };
}

/** A plan summary with the given counts; hasChanges follows them unless given. */
export function aPlanSummary(overrides: Partial<PlanSummary> = {}): PlanSummary {
  const counts = { add: 0, change: 0, destroy: 0, replace: 0, ...overrides };
  return {
    ...counts,
    hasChanges: counts.add + counts.change + counts.destroy + counts.replace > 0,
    sha256: 'f'.repeat(64),
    addresses: { create: [], update: [], delete: [], replace: [] },
    ...overrides,
  };
}

/** A claim on a lock for a run (default run-1) with a 10-minute lease from `at`; no fence (the store issues one). */
export function aLockClaim(overrides: Partial<LockClaim> & { at?: number } = {}): LockClaim {
  const { at = Math.floor(Date.parse(BUILT_AT) / 1000), ...fields } = overrides;
  const runId = fields.runId ?? 'run-1';
  return {
    runId,
    sequence: 1,
    executionName: `exec-${runId}`,
    acquiredAt: new Date(at * 1000).toISOString(),
    leaseExpiresAt: at + 600,
    ...fields,
  };
}

export function aQueueEntry(overrides: Partial<QueueEntry> = {}): QueueEntry {
  const runId = overrides.runId ?? 'run-1';
  return { runId, sequence: 1, executionName: `exec-${runId}`, enqueuedAt: BUILT_AT, ...overrides };
}

/** A pending approval of run-1's apps stage, asked at BUILT_AT, expiring a day later. */
export function anApproval(overrides: Partial<ApprovalRecord> = {}): ApprovalRecord {
  const createdAt = overrides.createdAt ?? BUILT_AT;
  const id = overrides.id ?? 'a'.repeat(32);
  return {
    id,
    runId: 'run-1',
    repository: 'acme/infrastructure',
    environment: 'apps',
    sha: 'a'.repeat(40),
    planSha256: 'b'.repeat(64),
    status: 'pending',
    createdAt,
    expiresAt: Math.floor(Date.parse(createdAt) / 1000) + 24 * 3600,
    taskToken: `token-${id}`,
    approvers: ['alice@example.com', 'bob@example.com'],
    allowSelfApproval: false,
    people: { logins: [], emails: [] },
    ...overrides,
  };
}
