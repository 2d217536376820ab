import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { everyoneListed } from '../core/auth/person.js';
import { createSignIn, type GitHubSignInSettings, type SignIn } from '../core/auth/sign-in.js';
import { toFunctionUrlResult, toHttpRequest, type FunctionUrlEvent, type FunctionUrlResult } from '../core/aws/function-url.js';
import { CodeBuildLogs } from '../core/aws/codebuild-logs.js';
import { artifactLocation, CachedSecret, configFromEnv } from '../core/aws/lambda-env.js';
import { S3ArtifactStore } from '../core/aws/s3-artifact-store.js';
import { SesEmailSender } from '../core/aws/ses-notifier.js';
import { SfnTaskCallbacks } from '../core/aws/sfn.js';
import { systemClock, type ArtifactStore, type Clock } from '../core/domain/ports.js';
import { documentClientFor, DynamoApprovalStore, DynamoDeliveryStore, DynamoRunStore } from '../core/dynamo/index.js';
import { optionalEnv, requireEnv } from '../core/env.js';
import { DeferredVcsClient } from '../core/github/deferred.js';
import { lazyVcsFromSecret } from '../core/github/secret.js';
import { html, type HttpHandler, type HttpRequest } from '../core/http.js';
import { mailSignInLinks } from '../core/notify/sign-in-mail.js';
import { createApprovalsHandler } from './handler.js';
import { decisionPage } from './pages.js';
import { powertoolsLog } from '../core/aws/log.js';

/**
 * The AWS entry of the approvals function URL: sign-in, approval pages and decisions, run pages,
 * /healthz. Every route but /healthz is behind the same sign-in gate as `tfgate local`. A decision
 * resumes the waiting execution with SendTaskSuccess / SendTaskFailure.
 */

export interface ApprovalsLambdaOptions {
  env?: NodeJS.ProcessEnv;
  dynamo?: DynamoDBDocumentClient;
  s3?: S3Client;
  sfn?: SFNClient;
  ses?: SESv2Client;
  secretsManager?: SecretsManagerClient;
  codebuild?: CodeBuildClient;
  cloudWatchLogs?: CloudWatchLogsClient;
  artifacts?: ArtifactStore;
  clock?: Clock;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Tests: where GitHub's OAuth endpoints and API are fetched. */
  fetch?: typeof fetch;
}

// The function reads and decides approvals only; locks change through the state machine's own tasks.
const REQUIRED = ['RUNS_TABLE', 'APPROVALS_TABLE', 'DELIVERIES_TABLE', 'ARTIFACTS_BUCKET', 'SESSION_SECRET_ARN', 'CONFIG'] as const;

/** The sign-in secret: `{"clientId": "…", "clientSecret": "…"}`; empty (the placeholder): GitHub sign-in is off. */
export function parseSignInSecret(secretString: string): { clientId: string; clientSecret: string } | undefined {
  const text = secretString.trim();
  if (text === '' || text === '{}') return undefined;
  const value = JSON.parse(text) as { clientId?: unknown; clientSecret?: unknown };
  if (typeof value.clientId !== 'string' || typeof value.clientSecret !== 'string' || !value.clientId || !value.clientSecret) {
    throw new Error('the sign-in secret needs "clientId" and "clientSecret" strings');
  }
  return { clientId: value.clientId, clientSecret: value.clientSecret };
}

export function createApprovalsLambda(options: ApprovalsLambdaOptions = {}): (event: FunctionUrlEvent) => Promise<FunctionUrlResult> {
  const env = requireEnv(REQUIRED, options.env);
  const config = configFromEnv(env.CONFIG);
  const clock = options.clock ?? systemClock;
  const log = options.log ?? powertoolsLog('tfgate-approvals');
  const dynamo = options.dynamo ?? documentClientFor(new DynamoDBClient({}));
  const secretsManager = options.secretsManager ?? new SecretsManagerClient({});
  const sessionKey = new CachedSecret(secretsManager, env.SESSION_SECRET_ARN, clock, 'session key', (text) => text.trim());
  const signInSecretArn = optionalEnv('SIGNIN_SECRET_ARN', options.env);
  const githubClient = signInSecretArn ? new CachedSecret(secretsManager, signInSecretArn, clock, 'GitHub sign-in', parseSignInSecret) : undefined;
  const sesFrom = optionalEnv('SES_FROM', options.env) ?? config.notifications.email?.from;
  // tfgate's own GitHub credentials answer team membership at decision time.
  const teams = new DeferredVcsClient(lazyVcsFromSecret({ apiUrl: config.github.apiUrl, secretId: optionalEnv('GITHUB_SECRET_ARN', options.env), secretsManager: () => secretsManager, log }));
  // The run page's build output: the CodeBuild projects' names and their CloudWatch logs (read only).
  const buildProjectPrefix = optionalEnv('BUILD_PROJECT_PREFIX', options.env);
  const buildLogs = buildProjectPrefix
    ? {
        logs: new CodeBuildLogs(options.codebuild ?? new CodeBuildClient({}), options.cloudWatchLogs ?? new CloudWatchLogsClient({})),
        projectPrefix: buildProjectPrefix,
      }
    : undefined;
  const deps = {
    runs: new DynamoRunStore(dynamo, env.RUNS_TABLE),
    approvals: new DynamoApprovalStore(dynamo, env.APPROVALS_TABLE),
    artifacts: options.artifacts ?? new S3ArtifactStore(options.s3 ?? new S3Client({}), artifactLocation(env.ARTIFACTS_BUCKET)),
    callbacks: new SfnTaskCallbacks(options.sfn ?? new SFNClient({})),
    teams,
    clock,
    log,
    ...(buildLogs ? { buildLogs } : {}),
  };
  const deliveries = new DynamoDeliveryStore(dynamo, env.DELIVERIES_TABLE);
  const mail = sesFrom ? mailSignInLinks(new SesEmailSender(options.ses ?? new SESv2Client({})), sesFrom) : undefined;
  let built: { key: string; github: string; handler: HttpHandler; signIn: SignIn } | undefined;

  return async (event) => {
    const request = toHttpRequest(event);
    let key: string;
    let github: Omit<GitHubSignInSettings, 'apiUrl' | 'clientType'> | undefined;
    try {
      key = await sessionKey.get();
      github = await githubClient?.get();
    } catch (error) {
      log('sign-in secrets unavailable', { error: error instanceof Error ? error.message : String(error) });
      return toFunctionUrlResult(html(503, decisionPage('bad', 'Unavailable', 'tfgate cannot check sign-ins right now. Try again in a minute.')), request.method);
    }
    const githubId = github?.clientId ?? '';
    if (!built || built.key !== key || built.github !== githubId) {
      const signIn = createSignIn({
        sessionKey: key,
        // The function URL's own host: AWS routes a request here only for that name.
        publicUrl: (r: HttpRequest) => `https://${r.headers.host ?? 'invalid.invalid'}`,
        listed: () => everyoneListed(config),
        ...(github ? { github: { apiUrl: config.github.apiUrl, clientType: 'github-app' as const, ...github } } : {}),
        teams,
        ...(mail ? { mail } : {}),
        oneTime: deliveries,
        clock,
        log,
        ...(options.fetch ? { fetch: options.fetch } : {}),
      });
      built = { key, github: githubId, signIn, handler: signIn.protect(createApprovalsHandler({ ...deps, sessionKey: key })) };
    }
    return toFunctionUrlResult(await built.handler(request), request.method);
  };
}

let instance: ((event: FunctionUrlEvent) => Promise<FunctionUrlResult>) | undefined;

export async function handler(event: FunctionUrlEvent): Promise<FunctionUrlResult> {
  instance ??= createApprovalsLambda();
  return instance(event);
}
