import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CodeBuildController } from '../../src/adapters/aws/codebuild-builds.js';
import { AwsComposition } from '../../src/composition/aws.js';
import { S3ArtifactStore } from '../../src/adapters/aws/s3-artifact-store.js';
import type { RetryPolicy } from '../../src/domain/feedback.js';
import { EnvironmentLocks } from '../../src/domain/locks.js';
import type { Clock, Notifier, SourceArchiver, VcsClient } from '../../src/domain/ports.js';
import { DynamoApprovalStore, DynamoLockStore } from '../../src/adapters/dynamo/index.js';
import { lambdaSourceArchiver } from '../../src/adapters/github/secret.js';
import { createPipelineTasks } from './handler.js';

/**
 * The AWS entry for the pipeline function: the state machine's Lambda tasks, and the EventBridge
 * rule for executions that failed, timed out or were aborted. GitHub feedback and drift notices ride
 * on the run store (FeedbackRunStore); the tasks themselves know nothing of them.
 */

const ENVIRONMENT_KEYS = [
  'RUNS_TABLE',
  'LOCKS_TABLE',
  'APPROVALS_TABLE',
  'ARTIFACTS_BUCKET',
  'CONFIG',
  'APPROVALS_URL',
] as const;
// Read when given (absent: that feature is off); the composition reads no other key.
const OPTIONAL_ENVIRONMENT_KEYS = ['GITHUB_SECRET_ARN'] as const;
const ENDED_STATUSES = new Set(['FAILED', 'TIMED_OUT', 'ABORTED']);
/**
 * How long an invocation waits at its end for the feedback it set off. Lambda freezes an instance
 * between invocations, so feedback left running may never be sent; waiting longer than this would
 * hold the pipeline up for GitHub's sake.
 */
const FEEDBACK_DRAIN_MS = 5_000;
const LAMBDA_RETRY: Partial<RetryPolicy> = { attempts: 3, baseDelayMs: 400, maxDelayMs: 2_000 };

export interface PipelineLambdaOptions {
  env?: NodeJS.ProcessEnv;
  dynamo?: DynamoDBDocumentClient;
  sfn?: SFNClient;
  s3?: S3Client;
  codebuild?: CodeBuildClient;
  secretsManager?: SecretsManagerClient;
  /** Tests: a VcsClient instead of the one from GITHUB_SECRET_ARN. */
  vcs?: VcsClient;
  /** Tests: a source archiver instead of GitHub's archive API. */
  sources?: SourceArchiver;
  /** Drift notices; without one they go to the function's log. */
  notifier?: Notifier;
  clock?: Clock;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  feedbackDrainMs?: number;
}

/** EventBridge's "Execution Status Change" event (the rule passes it whole) → the `executionEnded` task. */
export function executionEndedPayload(event: Record<string, unknown>): Record<string, unknown> | undefined {
  if (
    event['detail-type'] !== 'Step Functions Execution Status Change' ||
    typeof event.detail !== 'object' ||
    event.detail === null
  )
    return undefined;
  const { status, input, error, cause } = event.detail as Record<string, unknown>;
  if (typeof status !== 'string' || !ENDED_STATUSES.has(status))
    return { ignored: `execution status ${String(status)}` };
  let runId: unknown;
  try {
    runId = (typeof input === 'string' ? JSON.parse(input) : input)?.runId;
  } catch {
    runId = undefined;
  }
  if (typeof runId !== 'string' || runId === '') return { ignored: 'the execution input names no run' };
  return {
    action: 'executionEnded',
    runId,
    status,
    ...(typeof error === 'string' && error !== '' ? { error } : {}),
    ...(typeof cause === 'string' && cause !== '' ? { cause } : {}),
  };
}

export function createPipelineLambda(options: PipelineLambdaOptions = {}): (event: unknown) => Promise<unknown> {
  const aws = new AwsComposition(ENVIRONMENT_KEYS, OPTIONAL_ENVIRONMENT_KEYS, 'tfgate-pipeline', {
    ...options,
    artifactStore: (location) => new S3ArtifactStore(options.s3 ?? new S3Client({}), location),
  });
  const { env, config, clock, log, artifacts } = aws;
  const { runs, callbacks } = aws.tracking({
    ...(options.notifier ? { notifier: options.notifier } : {}),
    retry: LAMBDA_RETRY,
  });
  const locks = new EnvironmentLocks({
    locks: new DynamoLockStore(aws.dynamo, env.LOCKS_TABLE, clock),
    runs,
    callbacks,
    clock,
  });
  const builds = new CodeBuildController(options.codebuild ?? new CodeBuildClient({}));
  const sources =
    options.sources ??
    lambdaSourceArchiver({ config, secretId: aws.optional('GITHUB_SECRET_ARN'), secretsManager: aws.secretsManager });
  const tasks = createPipelineTasks({
    runs,
    approvals: new DynamoApprovalStore(aws.dynamo, env.APPROVALS_TABLE),
    locks,
    artifacts,
    callbacks,
    builds,
    sources,
    // Each environment's last apply: the base of the next approval's range.
    ledger: aws.change().ledger,
    clock,
    log,
  });

  return async (event) => {
    const record = (typeof event === 'object' && event !== null ? event : {}) as Record<string, unknown>;
    const ended = executionEndedPayload(record);
    try {
      if (ended && 'ignored' in ended) return ended;
      return await tasks(ended ?? event);
    } finally {
      const drained = await runs.drain(options.feedbackDrainMs ?? FEEDBACK_DRAIN_MS);
      if (!drained) log('GitHub feedback still in flight at the end of the invocation');
    }
  };
}

let instance: ((event: unknown) => Promise<unknown>) | undefined;

export async function handler(event: unknown): Promise<unknown> {
  instance ??= createPipelineLambda();
  return instance(event);
}
