/**
 * The small interfaces the domain talks to. AWS adapters (DynamoDB, S3, Step Functions, CodeBuild,
 * SES) and local adapters (dynalite, the data directory, the local engine) implement them; the
 * domain never imports an AWS SDK.
 */
import type { ChangePeople } from './run.js';
import type { AppliedRecord, ChangeView, HistoryRange, PushRecord } from './change-range.js';
import type {
  ApprovalStatus,
  OperatorStop,
  PlanSummary,
  Run,
  RunStatus,
  Stage,
  StageApproval,
  StageStatus,
} from './run.js';

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

// ---------------------------------------------------------------- runs

export interface StagePatch {
  status: StageStatus;
  plan?: PlanSummary;
  approval?: StageApproval;
  error?: string;
}

export interface RunPatch {
  status?: RunStatus;
  error?: string;
  note?: string;
  /** Written once, together with status `interrupted`, by an operator's stop. */
  stop?: OperatorStop;
}

export interface RunStore {
  /** Conditional create; throws AlreadyExistsError when the id is taken. */
  create(run: Run): Promise<void>;
  get(id: string): Promise<Run | undefined>;
  /** Newest first; `before` (a `runListCursor`) continues a list after the run it names. */
  list(options?: { limit?: number; before?: string }): Promise<Run[]>;
  /** Runs whose status is not terminal (restart recovery, the reconciler). */
  listActive(): Promise<Run[]>;
  /** Records a stage transition with its time (appended to the stage's transitions). */
  updateStage(runId: string, environment: string, patch: StagePatch, at: Date): Promise<Run>;
  updateRun(runId: string, patch: RunPatch, at: Date): Promise<Run>;
  /**
   * Shows the progress of an approval that needs several approvers on its stage, without a transition: only while
   * the stage still waits for that same approval and shows fewer approvals than `approval` does (a late write never
   * hides a newer one, nor reopens a stage that moved on). False when nothing was written.
   */
  recordApprovalProgress(runId: string, environment: string, approval: StageApproval, at: Date): Promise<boolean>;
}

// ---------------------------------------------------------------- deliveries and sequences

export interface DeliveryStore {
  /** Conditional put keyed by X-GitHub-Delivery: true the first time, false for a repeat. */
  claim(deliveryId: string, at: Date): Promise<boolean>;
  /** Remembers which run a delivery started (shown to a repeated delivery). */
  attachRun(deliveryId: string, runId: string): Promise<void>;
  get(deliveryId: string): Promise<{ deliveryId: string; runId?: string; claimedAt?: string } | undefined>;
  /** Forgets a claim whose run could not be started, so a redelivery can try again. */
  release(deliveryId: string): Promise<void>;
}

/**
 * Sign-outs that end a session before its signed cookie expires: one record per revoked session, checked on every
 * request that presents a session, so an old cookie stops working at once on every instance.
 */
export interface SessionRevocations {
  /** Records the session as ended (a repeat is a no-op); `until`: the cookie's own expiry (epoch seconds). */
  revoke(sessionId: string, until: number, at: Date): Promise<void>;
  isRevoked(sessionId: string): Promise<boolean>;
}

/** Fixed-window request counters shared by every instance (sign-in link requests per address and per client). */
export interface RequestCounters {
  /** Counts one request for `key` in the window ending at `windowEndsAt` (epoch s); false once `limit` are counted. */
  take(key: string, limit: number, windowEndsAt: number): Promise<boolean>;
}

export interface SequenceStore {
  /** An atomic per-repository counter: the order in which pushes were received. */
  next(repository: string): Promise<number>;
}

// ---------------------------------------------------------------- locks

export interface LockHolder {
  runId: string;
  sequence: number;
  executionName: string;
  acquiredAt: string;
  /** Epoch seconds. A number, compared in the condition expression; TTL is only clean-up. */
  leaseExpiresAt: number;
  /**
   * Fencing number: grows with every new holder of this lock (never reused, also across releases).
   * An apply starts only while its run still holds the lock with the number it was granted.
   */
  fence: number;
}

/** What a caller asks to hold: without a fence the store issues the next one (a new holder). */
export type LockClaim = Omit<LockHolder, 'fence'> & { fence?: number };

export interface QueueEntry {
  runId: string;
  sequence: number;
  executionName: string;
  enqueuedAt: string;
  /** Set while the run's execution is waiting for the lock: the task token to resume it. */
  taskToken?: string;
  /** The lease the waiting execution asked for; whoever grants the lock on its behalf uses it. */
  leaseSeconds?: number;
}

/** `previous` (on success) is who held the item before: absent for a fresh lock, the caller itself for a refresh. */
export type AcquireResult =
  | { acquired: true; holder: LockHolder; previous?: LockHolder }
  | { acquired: false; holder: LockHolder };

export interface LockEvent {
  at: string;
  kind: 'acquired' | 'released' | 'forced_release' | 'expired_takeover';
  runId: string;
  by?: string;
  reason?: string;
  /** forced_release: the fencing number of the hold that was ended. */
  fence?: number;
}

/** Single-item primitives over one table; the ordering rules live in the domain (locks.ts). */
export interface LockStore {
  get(lockKey: string): Promise<LockHolder | undefined>;
  /**
   * Conditional put. A fresh claim (no fence) succeeds when no lock exists or another run's lease has
   * expired (leaseExpiresAt < now), and gets a new fencing number; it loses to the caller's own live
   * hold, so one hold never has two numbers. A claim with a fence refreshes only the caller's hold
   * under that same number (or takes a free lock). A lost race returns the holder; it never throws for that.
   */
  tryAcquire(lockKey: string, holder: LockClaim, nowEpochSeconds: number): Promise<AcquireResult>;
  /** Extends the lease, only for the holder. False when the caller no longer holds the lock. */
  renew(lockKey: string, runId: string, leaseExpiresAt: number): Promise<boolean>;
  /** Conditional delete, only by the holder. False when the caller does not hold the lock. */
  release(lockKey: string, runId: string): Promise<boolean>;
  /** Unconditional removal by an operator; returns who held it. */
  forceRelease(lockKey: string): Promise<LockHolder | undefined>;
  enqueue(lockKey: string, entry: QueueEntry): Promise<void>;
  /** Stores the waiting execution's task token (and its lease) on its queue entry. False when the entry is gone. */
  setWaiterToken(
    lockKey: string,
    runId: string,
    sequence: number,
    taskToken: string,
    leaseSeconds?: number,
  ): Promise<boolean>;
  /**
   * Removes the token from the entry and returns it, atomically: of several concurrent callers exactly
   * one gets it, so a grant is delivered once. Undefined when there is no token (or no entry).
   */
  takeWaiterToken(lockKey: string, runId: string, sequence: number): Promise<string | undefined>;
  /** Queue entries ordered by sequence (oldest push first). */
  listQueue(lockKey: string): Promise<QueueEntry[]>;
  dequeue(lockKey: string, runId: string, sequence: number): Promise<void>;
  recordEvent(lockKey: string, event: LockEvent): Promise<void>;
  listEvents(lockKey: string): Promise<LockEvent[]>;
  /** Every lock currently held (the reconciler and restart recovery walk these). */
  listHeld(): Promise<Array<{ lockKey: string; holder: LockHolder }>>;
}

// ---------------------------------------------------------------- approvals

export interface ApprovalRecord {
  /** 128 random bits, hex. */
  id: string;
  runId: string;
  repository: string;
  environment: string;
  sha: string;
  planSha256: string;
  status: ApprovalStatus;
  createdAt: string;
  /** Epoch seconds. */
  expiresAt: number;
  /** Kept only here: never in a link, a message or a log. */
  taskToken: string;
  /** Logins (@alice), teams (@acme/platform) and addresses from tfgate.yaml when the approval was asked. */
  approvers: string[];
  allowSelfApproval: boolean;
  /**
   * Who may not approve when self-approval is off (the pusher, the authors and committers); absent: unknown, fail
   * closed.
   */
  people?: ChangePeople;
  /** Distinct approvers needed (`approval.required` when it was asked); absent on older records: 1. */
  required?: number;
  /** The approvals recorded so far, oldest first: who and when (the two-person rule). */
  approvals?: ApprovalGrant[];
  /**
   * Every identity of everyone in `approvals` (GitHub logins, addresses, the stable person key), lower-case: a
   * person who signs in another way is still the same person and never counts twice.
   */
  approverIds?: string[];
  /** The change this approval covers (the range since the environment's last apply), as the page shows it. */
  change?: ChangeView;
  decidedBy?: string;
  decidedAt?: string;
  reason?: string;
}

export interface ApprovalGrant {
  by: string;
  at: string;
}

export type DecideResult =
  | { decided: true; approval: ApprovalRecord }
  | { decided: false; approval: ApprovalRecord | undefined };

export interface ApprovalStore {
  create(record: ApprovalRecord): Promise<void>;
  /**
   * A pending approval waited on by a new execution (a resumed run): the record keeps its id (and so
   * its link) and gets the new wait's token. Conditional on still pending; otherwise returns the record as it is.
   */
  attachTaskToken(id: string, runId: string, taskToken: string): Promise<DecideResult>;
  get(id: string): Promise<ApprovalRecord | undefined>;
  /**
   * One conditional update pending → decided (approved, rejected, expired, superseded); it can succeed
   * once. `decision` of approved/rejected also requires expiresAt > now.
   */
  decide(
    id: string,
    decision: { status: Exclude<ApprovalStatus, 'pending'>; by?: string; reason?: string },
    now: Date,
  ): Promise<DecideResult>;
  /**
   * Records one person's approval by one conditional update: only while pending and before expiresAt, only when
   * none of `ids` is among `approverIds` and exactly `expected` approvals are recorded (so approvers racing each
   * other are counted one at a time, and never more than needed). With `completes`, the same write makes the
   * approval `approved` (decidedBy/decidedAt). `decided: false` returns the record as it is now.
   */
  addApproval(
    id: string,
    grant: { by: string; ids: string[] },
    options: { expected: number; completes: boolean },
    now: Date,
  ): Promise<DecideResult>;
}

// ---------------------------------------------------------------- orchestration

export interface ExecutionStarter {
  /** Starts the state machine; `started: false` when an execution with that name already exists. */
  start(name: string, input: PipelineInput): Promise<{ started: boolean; executionId: string }>;
}

export interface TaskCallbacks {
  /** `delivered: false` when the token is unknown, already used or timed out. */
  sendTaskSuccess(taskToken: string, output: unknown): Promise<{ delivered: boolean }>;
  sendTaskFailure(taskToken: string, error: string, cause: string): Promise<{ delivered: boolean }>;
}

/** Which build `BuildController.stopStageBuilds` looks for: one run's build of one stage and mode. */
export interface StageBuildQuery {
  projectName: string;
  runId: string;
  environment: string;
  mode: 'plan' | 'apply';
}

/** CodeBuild's StopBuild (AWS) or the local build stand-in: used when a build task timed out. */
export interface BuildController {
  /**
   * Stops every unfinished build matching the query and waits up to `waitMs` for them to end.
   * `stillRunning` counts the ones that had not ended by then.
   */
  stopStageBuilds(query: StageBuildQuery, waitMs: number): Promise<{ stopped: number; stillRunning: number }>;
}

/** Which build's output `BuildLogs.tail` reads: one run's build of one stage and mode. */
export type BuildLogQuery = StageBuildQuery;

/** The end of a build's output, as the build printed it. */
export interface BuildLogTail {
  /**
   * The last lines, raw: they come from pull-request code (terraform, providers, provisioners), so
   * whoever renders them strips terminal escapes and escapes HTML.
   */
  lines: string[];
  /** Earlier lines were left out. */
  truncated: boolean;
  /** Where the whole log is: the CodeBuild console in AWS (a URL), the log file locally (a path). */
  location?: string;
}

/** A running or finished build's output (the run page's live view): a log file locally, CloudWatch Logs in AWS. */
export interface BuildLogs {
  /** undefined when that build has not started (or left no output yet). */
  tail(query: BuildLogQuery, maxLines: number): Promise<BuildLogTail | undefined>;
}

export interface ExecutionInspector {
  /** Whether the named execution is still running (reconciler: free locks of dead holders). */
  isRunning(executionName: string): Promise<boolean>;
}

/** The execution input the webhook (or reconciler, drift scheduler) hands to the state machine. */
export interface PipelineEnvironment {
  name: string;
  requiresApproval: boolean;
  approvalTimeoutSeconds: number;
}

export interface PipelineInput {
  runId: string;
  mode: 'deploy' | 'plan_only';
  repository: string;
  sha: string;
  sequence: number;
  /** The CodeBuild project kind the Plan task uses: `plan` for deploy runs, `pr-plan` for plan-only runs. */
  planBuild: 'plan' | 'pr-plan';
  directory: string;
  environments: PipelineEnvironment[];
  environmentCount: number;
  /** The environments' names, comma-separated: plan builds compare them with where the root applied before. */
  environmentNames: string;
  /** The plan task's whole allowance (queue + build + margin): `builds.plan.taskTimeoutSeconds`. */
  planTimeoutSeconds: number;
  /** The apply task's whole allowance: `builds.apply.taskTimeoutSeconds`. */
  applyTimeoutSeconds: number;
  lockWaitSeconds: number;
  /**
   * Only on a run resumed after `tfgate local` restarted: where it picks up (the environment index,
   * and `approval` to wait again for the same approval, `lock` to plan that environment again).
   * With `approval`, `plan` and `lock` carry what the lost execution held at that point.
   */
  resume?: { index: number; at: 'approval' | 'lock' };
  plan?: { next: 'approve'; planSha256: string };
  lock?: { acquired: boolean; lockKey: string; holder?: LockHolder };
  /** What each build is started with, so CodeBuild ends a build itself before the task gives up. */
  builds: { plan: BuildTimeouts; apply: BuildTimeouts };
}

export interface BuildTimeouts {
  timeoutMinutes: number;
  queuedTimeoutMinutes: number;
  taskTimeoutSeconds: number;
}

// ---------------------------------------------------------------- artifacts, sources, notifications, VCS

/**
 * Fetches one commit of a configured repository as a gzipped tar archive with a single top-level
 * directory (GitHub's archive API in AWS, `git archive` of the configured location locally). The
 * location comes from the configuration only; builds receive the archive, never a URL or a token.
 */
export interface SourceArchiver {
  archive(repository: string, sha: string): Promise<Buffer>;
  /** The same archive as a stream (AWS: uploaded to S3 as it arrives, so memory stays flat in its size). */
  archiveStream?(repository: string, sha: string): Promise<NodeJS.ReadableStream>;
}

export interface ArtifactWriteOptions {
  /**
   * Write once: refused (ArtifactExistsError) when the key already holds an object. Builds write their stage
   * artifacts this way, and in AWS their roles may write no other way, so no build replaces what another
   * run's build stored.
   */
  createOnly?: boolean;
}

export interface ArtifactStore {
  put(key: string, body: Buffer | string, contentType?: string, options?: ArtifactWriteOptions): Promise<void>;
  /** Stores a stream of unknown length without holding it (S3: a multipart upload). */
  putStream?(key: string, body: NodeJS.ReadableStream, contentType?: string): Promise<void>;
  get(key: string): Promise<Buffer | undefined>;
}

export interface ApprovalRequest {
  approval: ApprovalRecord;
  run: Run;
  stage: Stage;
  /** The approval page: plain, the same for everyone; who clicks is decided by their sign-in. */
  url: string;
  planText?: string;
}

export interface Notifier {
  approvalRequested(request: ApprovalRequest): Promise<void>;
  /** Drift found, run failed: a short message with the run link. */
  runNotice(run: Run, message: string, runUrl: string): Promise<void>;
}

export type CommitState = 'pending' | 'success' | 'failure' | 'error';

export interface VcsClient {
  setCommitStatus(
    repository: string,
    sha: string,
    status: { context: string; state: CommitState; description: string; targetUrl?: string },
  ): Promise<void>;
  upsertPullRequestComment(repository: string, pullRequest: number, marker: string, body: string): Promise<void>;
  getBranchHead(repository: string, branch: string): Promise<string | undefined>;
}

/** Who pushed and wrote a branch head that arrived without a webhook (the reconciler's runs). */
export interface ChangePeopleSource {
  /** Never throws for "not found": an unknown pusher is reported in `unknown`, and the gate fails closed. */
  changePeople(repository: string, branch: string, sha: string): Promise<ChangePeople>;
}

/**
 * What a failed VcsClient or Notifier call can say about trying again. Errors without it are taken
 * as network-level failures (refused, reset, timed out), which are worth another try.
 */
export interface RetryHint {
  retryable?: boolean;
  /** The service asked to wait this long (Retry-After, a rate-limit reset). */
  retryAfterMs?: number;
}

// ---------------------------------------------------------------- the change: history, pushes, applies

/**
 * The repository's history as GitHub (the compare API, paged through) or the local repository tells it.
 * Never throws for "cannot tell": that is a `HistoryRange` of kind `unresolved` with the reason.
 */
export interface CommitHistory {
  /** base..head, oldest first; `base` undefined: everything reachable from head. */
  range(repository: string, branch: string, base: string | undefined, head: string): Promise<HistoryRange>;
  /** Whether `sha` is an ancestor of `of` (or the same commit). Throws when the history cannot be read. */
  contains(repository: string, of: string, sha: string): Promise<boolean>;
}

/**
 * Durable facts about deployments, one small item each in the locks table (single-item conditional writes):
 * `PUSHED#<repo>#<head>` per pushed head (who pushed it, from what), `APPLIED#<repo>#<env>` per environment.
 */
export interface DeploymentLedger {
  /** Adds the pusher to the head's record (several pushes of one head add up; the first `before` stays). */
  recordPush(repository: string, push: PushRecord): Promise<void>;
  getPush(repository: string, head: string): Promise<PushRecord | undefined>;
  getApplied(repository: string, environment: string): Promise<AppliedRecord | undefined>;
  /** Records a successful apply unless a newer push's apply is already recorded. False when it was older. */
  recordApplied(repository: string, applied: AppliedRecord): Promise<boolean>;
}
