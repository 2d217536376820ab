import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SfnExecutionStarter, SfnTaskCallbacks } from '../core/aws/sfn.js';
import { parseConfig } from '../core/config/load.js';
import { EnvironmentLocks } from '../core/domain/locks.js';
import { systemClock, type Clock } from '../core/domain/ports.js';
import { DynamoDeliveryStore } from '../core/dynamo/delivery-store.js';
import { DynamoLockStore } from '../core/dynamo/lock-store.js';
import { DynamoRunStore } from '../core/dynamo/run-store.js';
import { DynamoSequenceStore } from '../core/dynamo/sequence-store.js';
import { requireEnv } from '../core/env.js';
import { json, type HttpHandler, type HttpRequest, type HttpResponse } from '../core/http.js';
import { createWebhookHandler } from './handler.js';
import type { WebhookLogger } from './logger.js';

/** The AWS entry: a Lambda function URL (payload format 2.0) in front of the shared webhook handler. */

export interface FunctionUrlEvent {
  rawPath: string;
  rawQueryString?: string;
  headers?: Record<string, string | undefined>;
  body?: string;
  isBase64Encoded?: boolean;
  requestContext: { http: { method: string } };
}

export interface FunctionUrlResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: false;
}

export function toHttpRequest(event: FunctionUrlEvent): HttpRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) headers[name.toLowerCase()] = value;
  return {
    method: event.requestContext.http.method,
    path: event.rawPath,
    query: Object.fromEntries(new URLSearchParams(event.rawQueryString ?? '')),
    headers,
    // Function URLs hand over text bodies as text and anything else base64-encoded; either way these
    // are the bytes GitHub signed.
    body: event.body === undefined ? Buffer.alloc(0) : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8'),
  };
}

export function toFunctionUrlResult(response: HttpResponse): FunctionUrlResult {
  return { statusCode: response.status, headers: response.headers, body: response.body, isBase64Encoded: false };
}

/**
 * The secret's SecretString: `{"current": "…", "previous": "…"}` while rotating, or the secret itself.
 * Returns the accepted secrets, current first.
 */
export function parseWebhookSecrets(secretString: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(secretString);
  } catch {
    return [secretString];
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const { current, previous } = value as { current?: unknown; previous?: unknown };
    if (typeof current !== 'string' || current === '') throw new Error('the webhook secret JSON has no "current" string');
    return typeof previous === 'string' && previous !== '' && previous !== current ? [current, previous] : [current];
  }
  // Valid JSON that is not an object (a quoted string, a number) is taken as the plain secret it was typed as.
  return [secretString];
}

/** The CDK stack passes tfgate.yaml JSON-encoded (a quoted string); a raw document works too. */
function configText(value: string): string {
  if (!value.trimStart().startsWith('"')) return value;
  const decoded: unknown = JSON.parse(value);
  if (typeof decoded !== 'string') throw new Error('CONFIG is neither tfgate.yaml text nor a JSON-encoded string of it');
  return decoded;
}

// Rotation adds the new secret as "current" and keeps the old one as "previous"; warm instances pick
// it up within this time without a redeploy.
const SECRET_CACHE_MS = 5 * 60 * 1000;

class WebhookSecrets {
  private cached: { secrets: string[]; fetchedAt: number } | undefined;
  private pending: Promise<string[]> | undefined;

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly secretId: string,
    private readonly clock: Clock,
  ) {}

  async get(): Promise<string[]> {
    const now = this.clock.now().getTime();
    if (this.cached && now - this.cached.fetchedAt < SECRET_CACHE_MS) return this.cached.secrets;
    // Concurrent requests on one instance share one fetch; a failed fetch is not remembered.
    this.pending ??= this.fetch(now).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async fetch(now: number): Promise<string[]> {
    const result = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId }));
    if (result.SecretString === undefined) throw new Error('the webhook secret has no SecretString');
    const secrets = parseWebhookSecrets(result.SecretString);
    this.cached = { secrets, fetchedAt: now };
    return secrets;
  }
}

export interface WebhookLambdaOptions {
  env?: NodeJS.ProcessEnv;
  dynamo?: DynamoDBDocumentClient;
  sfn?: SFNClient;
  secretsManager?: SecretsManagerClient;
  logger?: WebhookLogger;
  clock?: Clock;
}

const ENVIRONMENT_KEYS = ['RUNS_TABLE', 'LOCKS_TABLE', 'DELIVERIES_TABLE', 'STATE_MACHINE_ARN', 'WEBHOOK_SECRET_ARN', 'CONFIG'] as const;

function powertoolsLogger(): WebhookLogger {
  const logger = new Logger({ serviceName: 'tfgate-webhook' });
  return {
    info: (message, fields) => logger.info(message, fields ?? {}),
    warn: (message, fields) => logger.warn(message, fields ?? {}),
    error: (message, fields) => logger.error(message, fields ?? {}),
  };
}

/** Everything here is built once per Lambda instance and reused by every invocation it serves. */
export function createFunctionUrlHandler(options: WebhookLambdaOptions = {}): (event: FunctionUrlEvent) => Promise<FunctionUrlResult> {
  const env = requireEnv(ENVIRONMENT_KEYS, options.env);
  const config = parseConfig(configText(env.CONFIG), 'CONFIG');
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? powertoolsLogger();
  const dynamo = options.dynamo ?? DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
  const sfn = options.sfn ?? new SFNClient({});
  const secrets = new WebhookSecrets(options.secretsManager ?? new SecretsManagerClient({}), env.WEBHOOK_SECRET_ARN, clock);

  const runs = new DynamoRunStore(dynamo, env.RUNS_TABLE);
  const stores = { runs, deliveries: new DynamoDeliveryStore(dynamo, env.DELIVERIES_TABLE), sequences: new DynamoSequenceStore(dynamo, env.LOCKS_TABLE) };
  // Releasing a failed run's queue entries may hand a lock to the next waiter, which resumes it by task token.
  const locks = new EnvironmentLocks({ locks: new DynamoLockStore(dynamo, env.LOCKS_TABLE, clock), runs, callbacks: new SfnTaskCallbacks(sfn), clock });
  const starter = new SfnExecutionStarter(sfn, env.STATE_MACHINE_ARN);

  let built: { secrets: string[]; handler: HttpHandler } | undefined;
  const handlerFor = (accepted: string[]): HttpHandler => {
    const unchanged = built && built.secrets.length === accepted.length && built.secrets.every((secret, index) => secret === accepted[index]);
    if (!built || !unchanged) built = { secrets: accepted, handler: createWebhookHandler({ config, secrets: accepted, stores, locks, starter, clock, logger }) };
    return built.handler;
  };

  return async (event) => {
    let accepted: string[];
    try {
      accepted = await secrets.get();
    } catch (error) {
      logger.error('webhook secret unavailable', { error: error instanceof Error ? error.message : String(error) });
      return toFunctionUrlResult(json(500, { error: 'the webhook secret is unavailable; redeliver the event to try again' }));
    }
    return toFunctionUrlResult(await handlerFor(accepted)(toHttpRequest(event)));
  };
}

let instance: ((event: FunctionUrlEvent) => Promise<FunctionUrlResult>) | undefined;

export async function handler(event: FunctionUrlEvent): Promise<FunctionUrlResult> {
  instance ??= createFunctionUrlHandler();
  return instance(event);
}
