import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { everyoneListed } from '../../src/auth/person.js';
import {
  toFunctionUrlResult,
  toHttpRequest,
  type FunctionUrlEvent,
  type FunctionUrlResult,
} from '../../src/adapters/aws/function-url.js';
import { configFromEnv } from '../../src/adapters/aws/lambda-env.js';
import { powertoolsLog } from '../../src/adapters/aws/log.js';
import { systemClock, type Clock } from '../../src/domain/ports.js';
import { documentClientFor } from '../../src/adapters/dynamo/index.js';
import { optionalEnv, requireEnv } from '../../src/env.js';
import type { HttpRequest } from '../../src/http.js';
import { DynamoSetupClaims } from './claims.js';
import { createGitHubSetupHandler } from './handler.js';
import { SecretsManagerCredentialStore } from './secrets.js';

/**
 * The AWS entry of the setup function URL (/setup, /setup/callback). Its role may write the three
 * secrets GitHub's answer fills and nothing else; the web function keeps no write access to secrets.
 */

export interface GitHubSetupLambdaOptions {
  env?: NodeJS.ProcessEnv;
  dynamo?: DynamoDBDocumentClient;
  secretsManager?: SecretsManagerClient;
  clock?: Clock;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Tests: where GitHub's conversion endpoint is fetched. */
  fetch?: typeof fetch;
}

const REQUIRED = [
  'CONFIG',
  'DELIVERIES_TABLE',
  'SETUP_SECRET_ARN',
  'GITHUB_SECRET_ARN',
  'WEBHOOK_SECRET_ARN',
  'SIGNIN_SECRET_ARN',
  'WEBHOOK_URL',
  'APPROVALS_URL',
] as const;

export function createGitHubSetupLambda(
  options: GitHubSetupLambdaOptions = {},
): (event: FunctionUrlEvent) => Promise<FunctionUrlResult> {
  const env = requireEnv(REQUIRED, options.env);
  const config = configFromEnv(env.CONFIG);
  const secretsManager = options.secretsManager ?? new SecretsManagerClient({});
  const dynamo = options.dynamo ?? documentClientFor(new DynamoDBClient({}));
  const handler = createGitHubSetupHandler({
    // Read on every request, not cached: a new token put into the secret opens a new link at once.
    setupToken: async () =>
      (await secretsManager.send(new GetSecretValueCommand({ SecretId: env.SETUP_SECRET_ARN }))).SecretString?.trim() ||
      undefined,
    claims: new DynamoSetupClaims(dynamo, env.DELIVERIES_TABLE),
    credentials: new SecretsManagerCredentialStore(secretsManager, {
      github: env.GITHUB_SECRET_ARN,
      webhook: env.WEBHOOK_SECRET_ARN,
      signIn: env.SIGNIN_SECRET_ARN,
    }),
    apiUrl: config.github.apiUrl,
    appName: optionalEnv('APP_NAME', options.env) ?? 'tfgate',
    webhookBaseUrl: env.WEBHOOK_URL,
    approvalsBaseUrl: env.APPROVALS_URL,
    // The function URL's own host: AWS routes a request here only for that name.
    publicUrl: (request: HttpRequest) => `https://${request.headers.host ?? 'invalid.invalid'}`,
    listedPeople: everyoneListed(config),
    clock: options.clock ?? systemClock,
    log: options.log ?? powertoolsLog('tfgate-github-setup'),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  return async (event) => {
    const request = toHttpRequest(event);
    return toFunctionUrlResult(await handler(request), request.method);
  };
}

let instance: ((event: FunctionUrlEvent) => Promise<FunctionUrlResult>) | undefined;

export async function handler(event: FunctionUrlEvent): Promise<FunctionUrlResult> {
  instance ??= createGitHubSetupLambda();
  return instance(event);
}
