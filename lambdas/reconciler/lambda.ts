import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3ArtifactStore } from '../core/aws/s3-artifact-store.js';
import { SfnExecutionStarter, SfnTaskCallbacks } from '../core/aws/sfn.js';
import { SfnExecutionInspector } from '../core/aws/sfn-inspector.js';
import { artifactLocation, configFromEnv } from '../core/aws/lambda-env.js';
import { FeedbackRunStore } from '../core/domain/feedback.js';
import { EnvironmentLocks } from '../core/domain/locks.js';
import { systemClock, type ArtifactStore, type ChangePeopleSource, type Clock, type VcsClient } from '../core/domain/ports.js';
import { documentClientFor, DynamoDeliveryStore, DynamoLockStore, DynamoRunStore, DynamoSequenceStore } from '../core/dynamo/index.js';
import { optionalEnv, requireEnv } from '../core/env.js';
import { lambdaVcsClient } from '../core/github/secret.js';
import { recordGrantsAsPlanning } from '../pipeline/grant-recorder.js';
import { createReconciler, handleReconcilerEvent } from './handler.js';
import { powertoolsLog } from '../core/aws/log.js';

/**
 * The AWS entry for the reconciler, invoked by EventBridge Scheduler with `{"kind": "reconcile"}`
 * every few minutes and `{"kind": "drift", "repository": "owner/name"}` on each drift schedule
 * (`action` instead of `kind` is read too).
 */

const ENVIRONMENT_KEYS = ['RUNS_TABLE', 'LOCKS_TABLE', 'DELIVERIES_TABLE', 'STATE_MACHINE_ARN', 'CONFIG', 'APPROVALS_URL'] as const;
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
  const env = requireEnv(ENVIRONMENT_KEYS, options.env);
  const config = configFromEnv(env.CONFIG);
  const clock = options.clock ?? systemClock;
  const log = options.log ?? powertoolsLog('tfgate-reconciler');
  const dynamo = options.dynamo ?? documentClientFor(new DynamoDBClient({}));
  const sfn = options.sfn ?? new SFNClient({});
  const publicUrl = env.APPROVALS_URL.replace(/\/+$/, '');
  const vcs =
    options.vcs ??
    lambdaVcsClient({ apiUrl: config.github.apiUrl, secretId: optionalEnv('GITHUB_SECRET_ARN', options.env), ...(options.secretsManager ? { secretsManager: options.secretsManager } : {}), log });
  // The reconciler writes no plans; the artifacts are only read for a plan comment, if it ever ends a pull request run.
  const bucket = optionalEnv('ARTIFACTS_BUCKET', options.env);
  const artifacts: ArtifactStore = bucket
    ? new S3ArtifactStore(options.s3 ?? new S3Client({}), artifactLocation(bucket))
    : { put: async () => undefined, get: async () => undefined };

  // Runs it starts or interrupts get their commit statuses like any other.
  const runs = new FeedbackRunStore(new DynamoRunStore(dynamo, env.RUNS_TABLE), {
    vcs,
    artifacts,
    runUrl: (id) => `${publicUrl}/runs/${encodeURIComponent(id)}`,
    clock,
    retry: { attempts: 3, baseDelayMs: 500, maxDelayMs: 4_000 },
    log,
  });
  const lockStore = new DynamoLockStore(dynamo, env.LOCKS_TABLE, clock);
  // Freeing a dead holder's lock grants it to the next waiter, whose execution resumes by task token.
  const callbacks = recordGrantsAsPlanning(new SfnTaskCallbacks(sfn), runs, clock);
  const locks = new EnvironmentLocks({ locks: lockStore, runs, callbacks, clock });
  const reconciler = createReconciler({
    config,
    runs,
    lockStore,
    locks,
    deliveries: new DynamoDeliveryStore(dynamo, env.DELIVERIES_TABLE),
    sequences: new DynamoSequenceStore(dynamo, env.LOCKS_TABLE),
    starter: new SfnExecutionStarter(sfn, env.STATE_MACHINE_ARN),
    inspector: new SfnExecutionInspector(sfn, env.STATE_MACHINE_ARN),
    vcs,
    ...(isPeopleSource(vcs) ? { people: vcs } : {}),
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
