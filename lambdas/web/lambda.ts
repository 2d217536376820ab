import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { bindPeople, describePerson, everyoneListed, type TeamDirectory } from '../../src/auth/person.js';
import { createSignIn, type GitHubSignInSettings, type SignIn, type SignInLinkJob } from '../../src/auth/sign-in.js';
import { EMAIL } from '../../src/config/patterns.js';
import { DynamoSignInStore } from '../../src/adapters/dynamo/sign-in-store.js';
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
import {
  DynamoApprovalStore,
  DynamoDeliveryStore,
  DynamoLockStore,
  DynamoSequenceStore,
} from '../../src/adapters/dynamo/index.js';
import { html, json, type HttpHandler, type HttpRequest } from '../../src/http.js';
import { EnvironmentLocks } from '../../src/domain/locks.js';
import { SfnExecutionStarter } from '../../src/adapters/aws/sfn.js';
import { approversMayRerun, createRerunHandler, isRerunRequest } from '../../src/application/rerun.js';
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
  /** Hands sign-in links to this same function, asynchronously (tests: a mock). */
  lambda?: LambdaClient;
  artifacts?: ArtifactStore;
  clock?: Clock;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Tests: where GitHub's OAuth endpoints and API are fetched. */
  fetch?: typeof fetch;
  /**
   * Tests: tfgate's GitHub client (team membership, commit statuses) instead of one on
   * GITHUB_MINTER_FUNCTION's tokens.
   */
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
  // Publicly reachable: GitHub through installation tokens the token function mints, never the GitHub secret.
  'GITHUB_MINTER_FUNCTION',
  'BUILD_PROJECT_PREFIX',
  // Re-runs (POST /runs/{id}/rerun): the lock queues and sequences, and the state machine they start.
  'LOCKS_TABLE',
  'STATE_MACHINE_ARN',
  // Set by the Lambda runtime: sign-in links are handed to this function's own asynchronous invocation.
  'AWS_LAMBDA_FUNCTION_NAME',
] as const;

/**
 * The event this function sends itself (InvocationType Event) for each sign-in link request: the lookup of the
 * address and the mail happen there, after the person who asked already has the answer. Only an IAM principal
 * allowed lambda:InvokeFunction (this function's own role) can send it; a function URL request never looks like it.
 */
export interface SignInLinkEvent {
  tfgateSignInLink: SignInLinkJob;
}

function isSignInLinkEvent(event: FunctionUrlEvent | SignInLinkEvent): event is SignInLinkEvent {
  return typeof event === 'object' && event !== null && 'tfgateSignInLink' in event && !('requestContext' in event);
}

/** The job as this function wrote it: an address and a link to this function's own confirm page. */
function signInLinkJob(value: unknown): SignInLinkJob | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { email, link } = value as Record<string, unknown>;
  if (typeof email !== 'string' || !EMAIL.test(email) || email.length > 320) return undefined;
  if (
    typeof link !== 'string' ||
    link.length > 8192 ||
    !/^https:\/\/[^/\s]+\/auth\/email\/confirm\?token=\S+$/.test(link)
  )
    return undefined;
  return { email, link };
}

// Kept importable from here; the parser lives with the other secret shapes (tfgate doctor reads them too).
export { parseSignInSecret };

/** A function URL request gets its answer; a sign-in link event (from this function itself) gets delivered. */
export interface ApprovalsLambda {
  (event: FunctionUrlEvent): Promise<FunctionUrlResult>;
  (event: SignInLinkEvent): Promise<undefined>;
}

export function createApprovalsLambda(options: ApprovalsLambdaOptions = {}): ApprovalsLambda {
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
  const people = bindPeople(config.people);
  const deps = {
    runs,
    approvals: new DynamoApprovalStore(aws.dynamo, env.APPROVALS_TABLE),
    artifacts: aws.artifacts,
    callbacks,
    teams,
    people,
    clock,
    log,
    ...(buildLogs ? { buildLogs } : {}),
  };
  const deliveries = new DynamoDeliveryStore(aws.dynamo, env.DELIVERIES_TABLE);
  const signInRecords = new DynamoSignInStore(aws.dynamo, env.DELIVERIES_TABLE);
  const mail = sesFrom ? mailSignInLinks(new SesEmailSender(options.ses ?? new SESv2Client({})), sesFrom) : undefined;
  const selfName = aws.optional('AWS_LAMBDA_FUNCTION_NAME');
  if (mail && !selfName)
    throw new Error(
      'AWS_LAMBDA_FUNCTION_NAME is not set: the Lambda runtime sets it, and email sign-in hands each link to this ' +
        "function's own asynchronous invocation",
    );
  let lambdaClient: LambdaClient | undefined;
  // Answers the link request without waiting on the lookup or the mail: Lambda queues the event and returns at once
  // (the same for every address), and the work runs in its own invocation, which no frozen instance can lose.
  const sendLinkLater = async (job: SignInLinkJob): Promise<void> => {
    // Loaded on the first link request only: most invocations never need the Lambda client.
    const { InvokeCommand, LambdaClient } = await import('@aws-sdk/client-lambda');
    lambdaClient ??= options.lambda ?? new LambdaClient({});
    const event: SignInLinkEvent = { tfgateSignInLink: job };
    await lambdaClient.send(
      new InvokeCommand({
        FunctionName: selfName,
        InvocationType: 'Event',
        Payload: Buffer.from(JSON.stringify(event)),
      }),
    );
  };
  let built: { key: string; github: string; handler: HttpHandler; signIn: SignIn } | undefined;

  const entry = async (event: FunctionUrlEvent | SignInLinkEvent): Promise<FunctionUrlResult | undefined> => {
    if (isSignInLinkEvent(event)) {
      const job = signInLinkJob(event.tfgateSignInLink);
      if (!job) {
        log('sign-in link event refused', { why: 'not a sign-in link job' });
        return undefined;
      }
      if (!built) {
        // The session key is needed only to build the sign-in; the job carries its link already sealed.
        try {
          await ensureBuilt(await sessionKey.get(), await githubClient?.get());
        } catch (error) {
          log('sign-in link not sent', { why: 'secrets unavailable', error: (error as Error).message });
          return undefined;
        }
      }
      await built!.signIn.deliverLink(job);
      return undefined;
    }
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
    ensureBuilt(key, github);
    try {
      return toFunctionUrlResult(await built!.handler(request), request.method);
    } finally {
      if (!(await runs.drain(FEEDBACK_DRAIN_MS))) log('GitHub feedback still in flight at the answer');
    }
  };
  return entry as ApprovalsLambda;

  /** POST /runs/{id}/rerun, as `tfgate local` serves it: the same use case over DynamoDB and Step Functions. */
  function rerunHandler(): HttpHandler {
    const locksTable = aws.optional('LOCKS_TABLE');
    const stateMachineArn = aws.optional('STATE_MACHINE_ARN');
    if (!locksTable || !stateMachineArn)
      return async (request) =>
        isRerunRequest(request)
          ? json(503, { error: 'this deployment cannot start re-runs (LOCKS_TABLE or STATE_MACHINE_ARN is missing)' })
          : json(404, { error: 'not found' });
    const locks = new EnvironmentLocks({
      locks: new DynamoLockStore(aws.dynamo, locksTable, clock),
      runs,
      callbacks,
      clock,
    });
    const change = aws.change();
    return createRerunHandler({
      intake: {
        config,
        runs,
        deliveries,
        sequences: new DynamoSequenceStore(aws.dynamo, locksTable),
        locks,
        starter: new SfnExecutionStarter(aws.sfn, stateMachineArn),
        clock,
        logger: { info: log, warn: log, error: log },
        change,
      },
      identify: async (request) => (request.identity ? describePerson(request.identity) : undefined),
      rerunner: approversMayRerun(teams),
      rollbacks: { change, heads: aws.vcs },
    });
  }

  function ensureBuilt(key: string, github: Omit<GitHubSignInSettings, 'apiUrl' | 'clientType'> | undefined): void {
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
        sessions: signInRecords,
        counters: signInRecords,
        people,
        ...(mail ? { sendLinkLater } : {}),
        clock,
        log,
        ...(options.fetch ? { fetch: options.fetch } : {}),
      });
      const pages = createApprovalsHandler({ ...deps, sessionKey: key });
      const rerun = rerunHandler();
      built = {
        key,
        github: githubId,
        signIn,
        handler: signIn.protect((request) => (isRerunRequest(request) ? rerun(request) : pages(request))),
      };
    }
  }
}

let instance: ApprovalsLambda | undefined;

export async function handler(event: FunctionUrlEvent | SignInLinkEvent): Promise<FunctionUrlResult | undefined> {
  instance ??= createApprovalsLambda();
  return isSignInLinkEvent(event) ? instance(event) : instance(event);
}
