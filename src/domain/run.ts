/** The run record, as stored and as shown by `--json` (../shared/interface.md). */
import type { ChangeView } from './change-range.js';

export const RUN_STATUSES = [
  'running',
  'awaiting_approval',
  'succeeded',
  'failed',
  'rejected',
  'expired',
  'superseded',
  'interrupted',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const TERMINAL_RUN_STATUSES: ReadonlySet<RunStatus> = new Set([
  'succeeded',
  'failed',
  'rejected',
  'expired',
  'superseded',
  'interrupted',
]);

export const STAGE_STATUSES = [
  'pending',
  'waiting_for_lock',
  'planning',
  'planned',
  'awaiting_approval',
  'applying',
  'applied',
  'no_changes',
  'failed',
  'rejected',
  'expired',
  'superseded',
  'skipped',
  'interrupted',
] as const;
export type StageStatus = (typeof STAGE_STATUSES)[number];
export const TERMINAL_STAGE_STATUSES: ReadonlySet<StageStatus> = new Set([
  'applied',
  'planned',
  'no_changes',
  'failed',
  'rejected',
  'expired',
  'superseded',
  'skipped',
  'interrupted',
]);

export type Trigger = 'push' | 'pull_request' | 'reconcile' | 'drift' | 'manual';
/** deploy: plan, approve where required, apply, environment by environment. plan_only: pull requests and drift. */
export type RunMode = 'deploy' | 'plan_only';

export interface PlanSummary {
  add: number;
  change: number;
  destroy: number;
  replace: number;
  /** True when terraform's detailed exit code was 2 (resource or output changes). */
  hasChanges: boolean;
  sha256: string;
  addresses: { create: string[]; update: string[]; delete: string[]; replace: string[] };
  /**
   * Addresses left out of `addresses` (run records keep a capped list so a big plan fits DynamoDB's
   * 400 KB item; the full list is in the stage's summary.json and plan.txt).
   */
  omittedAddresses?: number;
}

/** Where a list of runs (newest first) continues after `run`: its creation time and id. */
export function runListCursor(run: Pick<Run, 'createdAt' | 'id'>): string {
  return `${run.createdAt}#${run.id}`;
}

/** A cursor as `runListCursor` makes them: anything else from a query string is refused. */
export const RUN_LIST_CURSOR = /^\d{4}-\d{2}-\d{2}T[0-9:.]+Z#[A-Za-z0-9_-]{1,128}$/;

export type ApprovalStatus = 'pending' | 'approved' | 'rejected' | 'expired' | 'superseded';

export interface StageApproval {
  id: string;
  status: ApprovalStatus;
  by?: string;
  at?: string;
  /** What the person deciding wrote (`--reason`, the page's reason field). */
  reason?: string;
  /** Distinct approvers the gate needs (`approval.required`). */
  required?: number;
  /** Who approved so far, oldest first. */
  approvals?: Array<{ by: string; at: string }>;
  /** What is promoted: the commits since what the environment last applied, and who may not approve and why. */
  change?: ChangeView;
}

export interface StageTransition {
  status: StageStatus;
  at: string;
}

export interface Stage {
  environment: string;
  status: StageStatus;
  plan?: PlanSummary;
  approval?: StageApproval;
  error?: string;
  transitions: StageTransition[];
}

export interface Run {
  id: string;
  repository: string;
  sha: string;
  ref: string;
  trigger: Trigger;
  mode: RunMode;
  pullRequest?: number;
  status: RunStatus;
  createdAt: string;
  updatedAt: string;
  error?: string;
  /** Who pushed (or opened the pull request) and who wrote the head commit; approvals may refuse them. */
  pusher?: string;
  author?: { name?: string; email?: string; login?: string };
  /** Everyone behind the change as GitHub (or the local repository) resolved them: the self-approval check. */
  people?: ChangePeople;
  message?: string;
  /** Per-repository push sequence: environment locks are granted in this order. */
  sequence: number;
  executionName: string;
  deliveryId?: string;
  /** A deliberate re-run (`tfgate rerun`, POST /runs/{id}/rerun): the run it repeats and who asked for it. */
  rerunOf?: string;
  requestedBy?: string;
  /** A re-run asked for as a rollback (`--rollback --reason`): every environment it changes waits for approval. */
  rollback?: { reason: string };
  /** Set when the run was superseded by a newer push or freed by `tfgate unlock`. */
  notes?: string[];
  /** An operator stopped the run (`tfgate unlock --force`): it plans and applies nothing more, restarts included. */
  stop?: OperatorStop;
  stages: Stage[];
}

/**
 * An operator's stop, recorded on the run before its lock is freed: who, why, when, and the fencing
 * number of the lock hold it ended (the apply that hold would have allowed is the one refused).
 */
export interface OperatorStop {
  environment: string;
  by: string;
  reason: string;
  at: string;
  fence: number;
}

/** What a stopped run's record says, in one sentence. */
export function describeStop(stop: OperatorStop): string {
  return `stopped by ${stop.by} at ${stop.at}: ${stop.reason} (${stop.environment} lock, fencing number ${stop.fence})`;
}

export function isTerminalRun(status: RunStatus): boolean {
  return TERMINAL_RUN_STATUSES.has(status);
}

/** The people behind a change, as GitHub resolved them (or the local repository locally). */
export interface ChangePeople {
  /** GitHub logins: the pusher, the pull request author, the authors and committers of the pushed commits. */
  logins: string[];
  /** Commit author/committer and pusher addresses (claimed, not verified: compared only with verified ones). */
  emails: string[];
  /** Set when who pushed could not be determined: with self-approval off, nobody may approve on that basis. */
  unknown?: string;
}
