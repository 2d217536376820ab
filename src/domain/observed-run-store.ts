import type { RunPatch, RunStore, StagePatch } from './ports.js';
import type { Run, StageApproval } from './run.js';

/** A recorded change: a run created, a stage transition, or a run-level update. */
export interface RunChange {
  run: Run;
  environment?: string;
  stage?: StagePatch;
  patch?: RunPatch;
}

/**
 * A RunStore that tells `changed` about every write after it is stored: live progress locally and
 * GitHub feedback hang off the store, so the pipeline records a transition once and knows neither.
 */
export abstract class WriteObservingRunStore implements RunStore {
  constructor(protected readonly inner: RunStore) {}

  protected abstract changed(change: RunChange): void;

  async create(run: Run): Promise<void> {
    await this.inner.create(run);
    this.changed({ run });
  }

  get(id: string): Promise<Run | undefined> {
    return this.inner.get(id);
  }

  list(options?: { limit?: number; before?: string }): Promise<Run[]> {
    return this.inner.list(options);
  }

  listActive(): Promise<Run[]> {
    return this.inner.listActive();
  }

  async updateStage(runId: string, environment: string, patch: StagePatch, at: Date): Promise<Run> {
    const run = await this.inner.updateStage(runId, environment, patch, at);
    this.changed({ run, environment, stage: patch });
    return run;
  }

  /** Progress within one waiting stage, no transition: nothing to tell. */
  recordApprovalProgress(runId: string, environment: string, approval: StageApproval, at: Date): Promise<boolean> {
    return this.inner.recordApprovalProgress(runId, environment, approval, at);
  }

  async updateRun(runId: string, patch: RunPatch, at: Date): Promise<Run> {
    const run = await this.inner.updateRun(runId, patch, at);
    this.changed({ run, patch });
    return run;
  }
}
