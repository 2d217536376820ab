import { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AwsComposition } from '../../src/composition/aws.js';
import { S3ArtifactStore } from '../../src/adapters/aws/s3-artifact-store.js';
import { CachedSecret } from '../../src/adapters/aws/lambda-env.js';
import { parseSlackSecret } from '../../src/adapters/aws/secret-values.js';
import { createSesNotifier } from '../../src/adapters/aws/ses-notifier.js';
import type { ArtifactStore, Clock, Notifier, VcsClient } from '../../src/domain/ports.js';
import { DynamoApprovalStore, DynamoLockStore } from '../../src/adapters/dynamo/index.js';
import { allApprovers } from '../../src/adapters/notify/from-config.js';
import { SlackNotifier } from '../../src/adapters/notify/slack.js';
import { FanOutNotifier } from '../../src/adapters/notify/fan-out.js';
import { createApprovalRequester } from './handler.js';

/**
 * The AWS entry of the notifier: the state machine's approval wait invokes it with a task token.
 * Clients, stores and secrets are built once per instance; the Slack webhook URL is
 * read from Secrets Manager on first use and cached.
 */

export interface NotifierLambdaOptions {
  env?: NodeJS.ProcessEnv;
  dynamo?: DynamoDBDocumentClient;
  s3?: S3Client;
  ses?: SESv2Client;
  secretsManager?: SecretsManagerClient;
  sfn?: SFNClient;
  artifacts?: ArtifactStore;
  fetch?: typeof fetch;
  /** Tests: a VcsClient instead of the one from GITHUB_SECRET_ARN ("waiting for approval" statuses). */
  vcs?: VcsClient;
  clock?: Clock;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

// Lambda freezes the instance between invocations: the statuses set off are sent before it returns.
const FEEDBACK_DRAIN_MS = 5_000;
const REQUIRED = [
  'RUNS_TABLE',
  'APPROVALS_TABLE',
  'LOCKS_TABLE',
  'ARTIFACTS_BUCKET',
  'CONFIG',
  'APPROVALS_URL',
] as const;
// Read when given (absent: that feature is off); the composition reads no other key.
const OPTIONAL_ENVIRONMENT_KEYS = ['SLACK_SECRET_ARN', 'SES_FROM', 'GITHUB_SECRET_ARN'] as const;

// Kept importable from here; the parser lives with the other secret shapes (tfgate doctor reads them too).
export { parseSlackSecret };

export function createNotifierLambda(
  options: NotifierLambdaOptions = {},
): (payload: unknown) => Promise<{ approvalId: string }> {
  const aws = new AwsComposition(REQUIRED, OPTIONAL_ENVIRONMENT_KEYS, 'tfgate-notifier', {
    ...options,
    logLevel: 'warn',
    artifactStore: (location) => new S3ArtifactStore(options.s3 ?? new S3Client({}), location),
  });
  const { env, config, clock, log, artifacts } = aws;
  const slackSecretArn = aws.optional('SLACK_SECRET_ARN');
  const sesFrom = aws.optional('SES_FROM') ?? config.notifications.email?.from;

  const notifiers: Notifier[] = [];
  if (slackSecretArn) {
    const slackUrl = new CachedSecret(aws.secretsManager, slackSecretArn, clock, 'Slack webhook', parseSlackSecret);
    notifiers.push(
      new SlackNotifier({ webhookUrl: () => slackUrl.get(), ...(options.fetch ? { fetch: options.fetch } : {}) }),
    );
  }
  if (sesFrom)
    notifiers.push(
      createSesNotifier(options.ses ?? new SESv2Client({}), { from: sesFrom, noticeRecipients: allApprovers(config) }),
    );
  const notifier = new FanOutNotifier(notifiers);
  // "waiting for approval" and "superseded" are recorded here: through the same feedback as every writer.
  const { runs, callbacks } = aws.tracking({ notifier });
  const approvals = new DynamoApprovalStore(aws.dynamo, env.APPROVALS_TABLE);
  const supersede = { locks: new DynamoLockStore(aws.dynamo, env.LOCKS_TABLE), callbacks };

  return async (payload) => {
    const requester = createApprovalRequester({
      config,
      runs,
      approvals,
      artifacts,
      notifier,
      publicUrl: env.APPROVALS_URL,
      supersede,
      // Every commit since the environment's last apply: GitHub's compare API and the ledger in LOCKS_TABLE.
      change: aws.change(),
      clock,
      log,
    });
    try {
      return await requester(payload);
    } finally {
      if (!(await runs.drain(FEEDBACK_DRAIN_MS))) log('GitHub feedback still in flight at the end of the invocation');
    }
  };
}

let instance: ((payload: unknown) => Promise<{ approvalId: string }>) | undefined;

export async function handler(payload: unknown): Promise<{ approvalId: string }> {
  instance ??= createNotifierLambda();
  return instance(payload);
}
