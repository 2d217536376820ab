import { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AwsComposition } from '../../src/composition/aws.js';
import { S3ArtifactStore } from '../../src/adapters/aws/s3-artifact-store.js';
import { SfnExecutionStarter } from '../../src/adapters/aws/sfn.js';
import { SfnExecutionInspector } from '../../src/adapters/aws/sfn-inspector.js';
import { EnvironmentLocks } from '../../src/domain/locks.js';
import type { ChangePeopleSource, Clock, VcsClient } from '../../src/domain/ports.js';
import { DynamoDeliveryStore, DynamoLockStore, DynamoSequenceStore } from '../../src/adapters/dynamo/index.js';
import { createReconciler, handleReconcilerEvent } from './handler.js';

/**
 * The AWS entry for the reconciler, invoked by EventBridge Scheduler with `{"kind": "reconcile"}`
 * every few minutes and `{"kind": "drift", "repository": "owner/name"}` on each drift schedule
 * (`action` instead of `kind` is read too).
 */

const ENVIRONMENT_KEYS = [
  'RUNS_TABLE',
  'LOCKS_TABLE',
  'DELIVERIES_TABLE',
  'STATE_MACHINE_ARN',
  'CONFIG',
  'APPROVALS_URL',
] as const;
// Read when given (absent: that feature is off); the composition reads no other key.
const OPTIONAL_ENVIRONMENT_KEYS = ['ARTIFACTS_BUCKET', 'GITHUB_SECRET_ARN'] as const;
const FEEDBACK_DRAIN_MS = 20_000;

export interface ReconcilerLambdaOptions {
  env?: NodeJS.ProcessEnv;
  dynamo?: DynamoDBDocumentClient;
  sfn?: SFNClient;
  s3?: S3Client;
  secretsManager?: SecretsManagerClient;
  vcs?: VcsClient;
  clock?: Clock;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export function createReconcilerLambda(options: ReconcilerLambdaOptions = {}): (event: unknown) => Promise<unknown> {
  const aws = new AwsComposition(ENVIRONMENT_KEYS, OPTIONAL_ENVIRONMENT_KEYS, 'tfgate-reconciler', {
    ...options,
    artifactStore: (location) => new S3ArtifactStore(options.s3 ?? new S3Client({}), location),
  });
  const { env, config, clock, log, vcs } = aws;
  // Runs it starts or interrupts get their commit statuses like any other; freeing a dead holder's lock
  // grants it to the next waiter, whose execution resumes by task token and whose stage is planning.
  const { runs, callbacks } = aws.tracking({ retry: { attempts: 3, baseDelayMs: 500, maxDelayMs: 4_000 } });
  const lockStore = new DynamoLockStore(aws.dynamo, env.LOCKS_TABLE, clock);
  const locks = new EnvironmentLocks({ locks: lockStore, runs, callbacks, clock });
  const reconciler = createReconciler({
    config,
    runs,
    lockStore,
    locks,
    deliveries: new DynamoDeliveryStore(aws.dynamo, env.DELIVERIES_TABLE),
    sequences: new DynamoSequenceStore(aws.dynamo, env.LOCKS_TABLE),
    starter: new SfnExecutionStarter(aws.sfn, env.STATE_MACHINE_ARN),
    inspector: new SfnExecutionInspector(aws.sfn, env.STATE_MACHINE_ARN),
    vcs,
    ...(isPeopleSource(vcs) ? { people: vcs } : {}),
    change: aws.change(),
    clock,
    log,
  });

  return async (event) => {
    try {
      const result = await handleReconcilerEvent(reconciler, event);
      log('reconciler pass', { result });
      return result;
    } finally {
      await runs.drain(FEEDBACK_DRAIN_MS);
    }
  };
}

let instance: ((event: unknown) => Promise<unknown>) | undefined;

export async function handler(event: unknown): Promise<unknown> {
  instance ??= createReconcilerLambda();
  return instance(event);
}

function isPeopleSource(vcs: unknown): vcs is ChangePeopleSource {
  return typeof (vcs as Partial<ChangePeopleSource>).changePeople === 'function';
}
