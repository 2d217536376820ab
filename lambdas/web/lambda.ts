import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { everyoneListed, type TeamDirectory } from '../../src/auth/person.js';
import { createSignIn, type GitHubSignInSettings, type SignIn } from '../../src/auth/sign-in.js';
import { AwsComposition } from '../../src/composition/aws.js';
import { CodeBuildLogs } from '../../src/adapters/aws/codebuild-logs.js';
import { S3ArtifactStore } from '../../src/adapters/aws/s3-artifact-store.js';
import {
  toFunctionUrlResult,
  toHttpRequest,
  type FunctionUrlEvent,
  type FunctionUrlResult,
} from '../../src/adapters/aws/function-url.js';
import { CachedSecret } from '../../src/adapters/aws/lambda-env.js';
import { parseSignInSecret } from '../../src/adapters/aws/secret-values.js';
import { SesEmailSender } from '../../src/adapters/aws/ses-notifier.js';
import type { ArtifactStore, Clock, VcsClient } from '../../src/domain/ports.js';
import { DynamoApprovalStore, DynamoDeliveryStore } from '../../src/adapters/dynamo/index.js';
import { html, type HttpHandler, type HttpRequest } from '../../src/http.js';
import { mailSignInLinks } from '../../src/adapters/notify/sign-in-mail.js';
import { createApprovalsHandler } from './handler.js';
import { decisionPage } from '../../src/web/pages.js';

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
  /** Tests: tfgate's GitHub client (team membership, commit statuses) instead of GITHUB_SECRET_ARN's. */
  vcs?: VcsClient;
}

// A decision's commit status is sent before the page answers: Lambda freezes the instance after it.
const FEEDBACK_DRAIN_MS = 3_000;

// The function reads and decides approvals only; locks change through the state machine's own tasks.
const REQUIRED = [
  'RUNS_TABLE',
  'APPROVALS_TABLE',
  'DELIVERIES_TABLE',
  'ARTIFACTS_BUCKET',
  'SESSION_SECRET_ARN',
  'CONFIG',
] as const;
// Read when given (absent: that feature is off); the composition reads no other key.
const OPTIONAL_ENVIRONMENT_KEYS = [
  'SIGNIN_SECRET_ARN',
  'SES_FROM',
  'GITHUB_SECRET_ARN',
  'BUILD_PROJECT_PREFIX',
] as const;

// Kept importable from here; the parser lives with the other secret shapes (tfgate doctor reads them too).
export { parseSignInSecret };

export function createApprovalsLambda(
  options: ApprovalsLambdaOptions = {},
): (event: FunctionUrlEvent) => Promise<FunctionUrlResult> {
  const aws = new AwsComposition(REQUIRED, OPTIONAL_ENVIRONMENT_KEYS, 'tfgate-approvals', {
    ...options,
    artifactStore: (location) => new S3ArtifactStore(options.s3 ?? new S3Client({}), location),
  });
  const { env, config, clock, log } = aws;
  const sessionKey = new CachedSecret(aws.secretsManager, env.SESSION_SECRET_ARN, clock, 'session key', (text) =>
    text.trim(),
  );
  const signInSecretArn = aws.optional('SIGNIN_SECRET_ARN');
  const githubClient = signInSecretArn
    ? new CachedSecret(aws.secretsManager, signInSecretArn, clock, 'GitHub sign-in', parseSignInSecret)
    : undefined;
  const sesFrom = aws.optional('SES_FROM') ?? config.notifications.email?.from;
  // tfgate's own GitHub credentials answer team membership at decision time.
  const teams = aws.vcs as VcsClient & TeamDirectory;
  // Decisions are recorded through the same feedback as every writer of runs ("rejected", "applying").
  const { runs, callbacks } = aws.tracking();
  // The run page's build output: the CodeBuild projects' names and their CloudWatch logs (read only).
  const buildProjectPrefix = aws.optional('BUILD_PROJECT_PREFIX');
  const buildLogs = buildProjectPrefix
    ? {
        logs: new CodeBuildLogs(
          options.codebuild ?? new CodeBuildClient({}),
          options.cloudWatchLogs ?? new CloudWatchLogsClient({}),
        ),
        projectPrefix: buildProjectPrefix,
      }
    : undefined;
  const deps = {
    runs,
    approvals: new DynamoApprovalStore(aws.dynamo, env.APPROVALS_TABLE),
    artifacts: aws.artifacts,
    callbacks,
    teams,
    clock,
    log,
    ...(buildLogs ? { buildLogs } : {}),
  };
  const deliveries = new DynamoDeliveryStore(aws.dynamo, env.DELIVERIES_TABLE);
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
      return toFunctionUrlResult(
        html(503, decisionPage('bad', 'Unavailable', 'tfgate cannot check sign-ins right now. Try again in a minute.')),
        request.method,
      );
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
      built = {
        key,
        github: githubId,
        signIn,
        handler: signIn.protect(createApprovalsHandler({ ...deps, sessionKey: key })),
      };
    }
    try {
      return toFunctionUrlResult(await built.handler(request), request.method);
    } finally {
      if (!(await runs.drain(FEEDBACK_DRAIN_MS))) log('GitHub feedback still in flight at the answer');
    }
  };
}

let instance: ((event: FunctionUrlEvent) => Promise<FunctionUrlResult>) | undefined;

export async function handler(event: FunctionUrlEvent): Promise<FunctionUrlResult> {
  instance ??= createApprovalsLambda();
  return instance(event);
}
