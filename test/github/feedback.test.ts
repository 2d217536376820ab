import { describe, expect, it } from 'vitest';
import { FEEDBACK_FAILED_NOTE, FeedbackRunStore } from '../../src/domain/feedback.js';
import type { CommitState, RunPatch, RunStore, StagePatch, VcsClient } from '../../src/domain/ports.js';
import type { Run } from '../../src/domain/run.js';
import { aRun, aStage } from '../support/builders.js';

/** Just enough of a run store to watch the decorator: records live in a map. */
class MemoryRuns implements RunStore {
  readonly runs = new Map<string, Run>();
  async create(run: Run) {
    this.runs.set(run.id, structuredClone(run));
  }
  async get(id: string) {
    return structuredClone(this.runs.get(id));
  }
  async list() {
    return [...this.runs.values()].reverse();
  }
  async listActive() {
    return [...this.runs.values()].filter((r) => r.status === 'running');
  }
  async updateStage(runId: string, environment: string, patch: StagePatch, at: Date) {
    const run = this.runs.get(runId)!;
    const stage = run.stages.find((s) => s.environment === environment)!;
    Object.assign(stage, patch);
    stage.transitions.push({ status: patch.status, at: at.toISOString() });
    run.updatedAt = at.toISOString();
    return structuredClone(run);
  }
  async recordApprovalProgress() {
    return false;
  }
  async updateRun(runId: string, patch: RunPatch, at: Date) {
    const run = this.runs.get(runId)!;
    if (patch.status) run.status = patch.status;
    if (patch.error) run.error = patch.error;
    if (patch.note) run.notes = [...(run.notes ?? []), patch.note];
    run.updatedAt = at.toISOString();
    return structuredClone(run);
  }
}

function newRun(): Run {
  return aRun({
    id: 'run-1',
    repository: 'acme/infra',
    sha: 'b'.repeat(40),
    createdAt: new Date().toISOString(),
    executionName: 'gh-1',
    stages: ['ops', 'apps'].map((environment) => aStage(environment, { transitions: [] })),
  });
}

type StatusCall = { context: string; state: CommitState; description: string };

function vcsWith(setCommitStatus: (status: StatusCall) => Promise<void>): VcsClient {
  return {
    setCommitStatus: (_repo, _sha, status) => setCommitStatus(status),
    upsertPullRequestComment: async () => undefined,
    getBranchHead: async () => undefined,
  };
}

const noArtifacts = { put: async () => undefined, get: async () => undefined };

describe('FeedbackRunStore', () => {
  it('returns from the store call before GitHub answers; drain() waits for the answer', async () => {
    const sent: StatusCall[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const store = new FeedbackRunStore(new MemoryRuns(), {
      vcs: vcsWith(async (s) => {
        await gate;
        sent.push(s);
      }),
      artifacts: noArtifacts,
      runUrl: (id) => `http://t/runs/${id}`,
    });
    await store.create(newRun());
    await store.updateStage('run-1', 'ops', { status: 'planning' }, new Date());
    expect(sent).toEqual([]);
    expect(await store.drain(50)).toBe(false);
    release();
    expect(await store.drain()).toBe(true);
    expect(sent.map((s) => `${s.context} ${s.state} ${s.description}`)).toEqual([
      'tfgate/ops pending queued',
      'tfgate/apps pending queued',
      'tfgate/ops pending planning',
    ]);
  });

  it('retries a 5xx with backoff and honours Retry-After up to the cap', async () => {
    const delays: number[] = [];
    let calls = 0;
    const failures = [
      Object.assign(new Error('502'), { retryable: true }),
      Object.assign(new Error('429'), { retryable: true, retryAfterMs: 60_000 }),
    ];
    const store = new FeedbackRunStore(new MemoryRuns(), {
      vcs: vcsWith(async () => {
        calls += 1;
        const failure = failures.shift();
        if (failure) throw failure;
      }),
      artifacts: noArtifacts,
      runUrl: () => undefined,
      retry: { attempts: 3, baseDelayMs: 100, maxDelayMs: 1000 },
      sleep: async (ms) => void delays.push(ms),
    });
    const runs = newRun();
    runs.stages = [runs.stages[0]!];
    await store.create(runs);
    await store.drain();
    expect(calls).toBe(3);
    expect(delays).toEqual([100, 1000]);
    expect((await store.get('run-1'))!.notes).toBeUndefined();
  });

  it(
    'gives up on a refused call at once and notes the failure once per run, whatever number of ' + 'calls failed',
    async () => {
      let calls = 0;
      const inner = new MemoryRuns();
      const store = new FeedbackRunStore(inner, {
        vcs: vcsWith(async () => {
          calls += 1;
          throw Object.assign(new Error('GitHub API: 404 Not Found'), { retryable: false });
        }),
        artifacts: noArtifacts,
        runUrl: () => undefined,
        sleep: async () => undefined,
      });
      await store.create(newRun());
      await store.updateStage('run-1', 'ops', { status: 'planning' }, new Date());
      await store.updateRun('run-1', { status: 'failed', error: 'ops: boom' }, new Date());
      await store.drain();
      expect(calls).toBeGreaterThanOrEqual(4);
      const notes = (await inner.get('run-1'))!.notes ?? [];
      expect(notes).toHaveLength(1);
      expect(notes[0]).toContain(FEEDBACK_FAILED_NOTE);
      expect(notes[0]).toContain('404 Not Found');
    },
  );
});
