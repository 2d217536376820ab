import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { artifactLocation, CachedSecret, configFromEnv } from '../core/aws/lambda-env.js';
import { S3ArtifactStore } from '../core/aws/s3-artifact-store.js';
import { createSesNotifier } from '../core/aws/ses-notifier.js';
import { systemClock, type ArtifactStore, type Clock, type Notifier } from '../core/domain/ports.js';
import { documentClientFor, DynamoApprovalStore, DynamoLockStore, DynamoRunStore } from '../core/dynamo/index.js';
import { SfnTaskCallbacks } from '../core/aws/sfn.js';
import { SFNClient } from '@aws-sdk/client-sfn';
import { optionalEnv, requireEnv } from '../core/env.js';
import { allApprovers } from '../core/notify/from-config.js';
import { SlackNotifier } from '../core/notify/slack.js';
import { FanOutNotifier } from '../core/notify/fan-out.js';
import { createApprovalRequester } from './handler.js';
import { powertoolsLog } from '../core/aws/log.js';

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
  clock?: Clock;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

const REQUIRED = ['RUNS_TABLE', 'APPROVALS_TABLE', 'LOCKS_TABLE', 'ARTIFACTS_BUCKET', 'CONFIG', 'APPROVALS_URL'] as const;

/** The Slack secret holds the webhook URL itself, or `{"webhookUrl": "…"}`. */
export function parseSlackSecret(secretString: string): string {
  const text = secretString.trim();
  let url = text;
  if (text.startsWith('{')) {
    const value = JSON.parse(text) as { webhookUrl?: unknown };
    if (typeof value.webhookUrl !== 'string') throw new Error('the Slack secret JSON has no "webhookUrl" string');
    url = value.webhookUrl.trim();
  }
  // Checked without echoing it: the URL is the credential.
  if (!/^https?:\/\/\S+$/.test(url)) throw new Error('the Slack secret is not a webhook URL');
  return url;
}

export function createNotifierLambda(options: NotifierLambdaOptions = {}): (payload: unknown) => Promise<{ approvalId: string }> {
  const env = requireEnv(REQUIRED, options.env);
  const slackSecretArn = optionalEnv('SLACK_SECRET_ARN', options.env);
  const config = configFromEnv(env.CONFIG);
  const sesFrom = optionalEnv('SES_FROM', options.env) ?? config.notifications.email?.from;
  const clock = options.clock ?? systemClock;
  const log = options.log ?? powertoolsLog('tfgate-notifier', 'warn');
  const dynamo = options.dynamo ?? documentClientFor(new DynamoDBClient({}));
  const secretsManager = options.secretsManager ?? new SecretsManagerClient({});
  const artifacts = options.artifacts ?? new S3ArtifactStore(options.s3 ?? new S3Client({}), artifactLocation(env.ARTIFACTS_BUCKET));

  const notifiers: Notifier[] = [];
  if (slackSecretArn) {
    const slackUrl = new CachedSecret(secretsManager, slackSecretArn, clock, 'Slack webhook', parseSlackSecret);
    notifiers.push(new SlackNotifier({ webhookUrl: () => slackUrl.get(), ...(options.fetch ? { fetch: options.fetch } : {}) }));
  }
  if (sesFrom) notifiers.push(createSesNotifier(options.ses ?? new SESv2Client({}), { from: sesFrom, noticeRecipients: allApprovers(config) }));
  const notifier = new FanOutNotifier(notifiers);
  const runs = new DynamoRunStore(dynamo, env.RUNS_TABLE);
  const approvals = new DynamoApprovalStore(dynamo, env.APPROVALS_TABLE);
  const supersede = { locks: new DynamoLockStore(dynamo, env.LOCKS_TABLE), callbacks: new SfnTaskCallbacks(options.sfn ?? new SFNClient({})) };

  return async (payload) => {
    const requester = createApprovalRequester({ config, runs, approvals, artifacts, notifier, publicUrl: env.APPROVALS_URL, supersede, clock, log });
    return requester(payload);
  };
}

let instance: ((payload: unknown) => Promise<{ approvalId: string }>) | undefined;

export async function handler(payload: unknown): Promise<{ approvalId: string }> {
  instance ??= createNotifierLambda();
  return instance(payload);
}
