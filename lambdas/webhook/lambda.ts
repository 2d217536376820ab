import { Logger } from '@aws-lambda-powertools/logger';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AwsComposition } from '../../src/composition/aws.js';
import { SfnExecutionStarter } from '../../src/adapters/aws/sfn.js';
import { EnvironmentLocks } from '../../src/domain/locks.js';
import type { Clock, VcsClient } from '../../src/domain/ports.js';
import { DynamoDeliveryStore } from '../../src/adapters/dynamo/delivery-store.js';
import { DynamoLockStore } from '../../src/adapters/dynamo/lock-store.js';
import { DynamoSequenceStore } from '../../src/adapters/dynamo/sequence-store.js';
import { CachedSecret } from '../../src/adapters/aws/lambda-env.js';
import { parseWebhookSecrets } from '../../src/adapters/aws/secret-values.js';
import {
  toFunctionUrlResult,
  toHttpRequest,
  type FunctionUrlEvent,
  type FunctionUrlResult,
} from '../../src/adapters/aws/function-url.js';
import { json, type HttpHandler } from '../../src/http.js';
import { createWebhookHandler } from './handler.js';
import type { WebhookLogger } from '../../src/application/logger.js';

/** The AWS entry: a Lambda function URL (payload format 2.0) in front of the shared webhook handler. */

// Kept importable from here: the translation moved to core/aws/function-url.ts for the approvals function too.
export { toFunctionUrlResult, toHttpRequest, type FunctionUrlEvent, type FunctionUrlResult };

// Kept importable from here; the parser lives with the other secret shapes (tfgate doctor reads them too).
export { parseWebhookSecrets };

export interface WebhookLambdaOptions {
  env?: NodeJS.ProcessEnv;
  dynamo?: DynamoDBDocumentClient;
  sfn?: SFNClient;
  secretsManager?: SecretsManagerClient;
  logger?: WebhookLogger;
  clock?: Clock;
  /** Tests: a VcsClient instead of the one GITHUB_MINTER_FUNCTION's tokens make (the "queued" commit status). */
  vcs?: VcsClient;
  /** How long an answer waits for the commit statuses it set off (default 3 s; GitHub gives up at 10 s). */
  feedbackDrainMs?: number;
}

/**
 * The "queued" statuses are sent before the answer: Lambda freezes the instance once it answers, and
 * feedback left running then might never be sent. Bounded well under GitHub's 10 s delivery timeout.
 */
const FEEDBACK_DRAIN_MS = 3_000;

const ENVIRONMENT_KEYS = [
  'RUNS_TABLE',
  'LOCKS_TABLE',
  'DELIVERIES_TABLE',
  'STATE_MACHINE_ARN',
  'WEBHOOK_SECRET_ARN',
  'CONFIG',
] as const;
// Read when given (absent: that feature is off); the composition reads no other key.
// Publicly reachable: GitHub through installation tokens the token function mints, never the GitHub secret.
const OPTIONAL_ENVIRONMENT_KEYS = ['GITHUB_MINTER_FUNCTION', 'APPROVALS_URL'] as const;

function powertoolsLogger(): WebhookLogger {
  const logger = new Logger({ serviceName: 'tfgate-webhook' });
  return {
    info: (message, fields) => logger.info(message, fields ?? {}),
    warn: (message, fields) => logger.warn(message, fields ?? {}),
    error: (message, fields) => logger.error(message, fields ?? {}),
  };
}

/** Everything here is built once per Lambda instance and reused by every invocation it serves. */
export function createFunctionUrlHandler(
  options: WebhookLambdaOptions = {},
): (event: FunctionUrlEvent) => Promise<FunctionUrlResult> {
  const logger = options.logger ?? powertoolsLogger();
  const aws = new AwsComposition(ENVIRONMENT_KEYS, OPTIONAL_ENVIRONMENT_KEYS, 'tfgate-webhook', {
    ...options,
    log: (message, fields) => logger.warn(message, fields),
  });
  const { env, config, clock } = aws;
  // Rotation adds the new secret as "current" and keeps the old one as "previous"; the cache picks it up.
  const secrets = new CachedSecret(aws.secretsManager, env.WEBHOOK_SECRET_ARN, clock, 'webhook', parseWebhookSecrets);

  // The same decoration as every writer of runs: a recorded run gets its "queued" commit statuses, and a
  // lock handed on by a failed start's clean-up records the next run's stage as planning.
  const { runs, callbacks } = aws.tracking();
  const stores = {
    runs,
    deliveries: new DynamoDeliveryStore(aws.dynamo, env.DELIVERIES_TABLE),
    sequences: new DynamoSequenceStore(aws.dynamo, env.LOCKS_TABLE),
  };
  const locks = new EnvironmentLocks({
    locks: new DynamoLockStore(aws.dynamo, env.LOCKS_TABLE, clock),
    runs,
    callbacks,
    clock,
  });
  const starter = new SfnExecutionStarter(aws.sfn, env.STATE_MACHINE_ARN);

  let built: { secrets: string[]; handler: HttpHandler } | undefined;
  const handlerFor = (accepted: string[]): HttpHandler => {
    const unchanged =
      built &&
      built.secrets.length === accepted.length &&
      built.secrets.every((secret, index) => secret === accepted[index]);
    if (!built || !unchanged)
      built = {
        secrets: accepted,
        handler: createWebhookHandler({
          config,
          secrets: accepted,
          stores,
          locks,
          starter,
          clock,
          logger,
          // Each push's pusher recorded; a replay of an applied commit starts nothing.
          change: aws.change(),
        }),
      };
    return built.handler;
  };

  return async (event) => {
    let accepted: string[];
    try {
      accepted = await secrets.get();
    } catch (error) {
      logger.error('webhook secret unavailable', { error: error instanceof Error ? error.message : String(error) });
      return toFunctionUrlResult(
        json(500, { error: 'the webhook secret is unavailable; redeliver the event to try again' }),
      );
    }
    try {
      return toFunctionUrlResult(await handlerFor(accepted)(toHttpRequest(event)));
    } finally {
      if (!(await runs.drain(options.feedbackDrainMs ?? FEEDBACK_DRAIN_MS)))
        logger.warn('GitHub feedback still in flight at the answer');
    }
  };
}

let instance: ((event: FunctionUrlEvent) => Promise<FunctionUrlResult>) | undefined;

export async function handler(event: FunctionUrlEvent): Promise<FunctionUrlResult> {
  instance ??= createFunctionUrlHandler();
  return instance(event);
}
