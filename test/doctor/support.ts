/**
 * The doctor's test account: every AWS client mocked (aws-sdk-client-mock) into a healthy deployment
 * that tests then break one thing at a time, and a local stand-in on port 0 for GitHub's API (checking
 * the App's JWT with the App's public key) and the webhook function URL (tfgate's real webhook handler).
 */
import { createPublicKey, generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudFormationClient, DescribeStacksCommand, type Output } from '@aws-sdk/client-cloudformation';
import { BatchGetProjectsCommand, CodeBuildClient, type Project } from '@aws-sdk/client-codebuild';
import { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  GetAWSDefaultServiceQuotaCommand,
  GetServiceQuotaCommand,
  ServiceQuotasClient,
} from '@aws-sdk/client-service-quotas';
import { GetAccountCommand, GetEmailIdentityCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { ListSubscriptionsByTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { createWebhookHandler } from '../../lambdas/webhook/handler.js';
import { parseConfig } from '../../src/config/load.js';
import type { DoctorContext } from '../../src/doctor/context.js';
import type { DoctorFacts } from '../../src/doctor/facts.js';
import type { HttpHandler } from '../../src/http.js';
import {
  MemoryDeliveryStore,
  MemoryRunStore,
  MemorySequenceStore,
  RecordingStarter,
} from '../support/memory-stores.js';

export const REGION = 'eu-west-1';
export const ACCOUNT = '123456789012';
export const STACK = 'Tfgate';
export const STACK_ID = `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/${STACK}/0a1b2c3d-1111-2222-3333-4444`;
export const TOPIC_ARN = `arn:aws:sns:${REGION}:${ACCOUNT}:Tfgate-AlarmsAlarmTopic0123ABCD-abcdEFGH1234`;
export const BUCKET = 'tfgate-storageartifacts-0123abcd';
export const APP_ID = '424242';
/** Values a secret holds in these tests; none may ever appear in the doctor's output. */
export const SECRET_VALUES = {
  webhook: 'whsec-doctor-7c1f0e5b9a',
  clientSecret: 'client-secret-d0c7o5',
  token: 'github_pat_d0ct0r5ecr3t',
  slack: 'https://hooks.slack.com/services/T000/B000/d0ct0rSl4ck',
};

export const keys = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});

export const mocks = {
  sts: mockClient(STSClient),
  cloudFormation: mockClient(CloudFormationClient),
  secretsManager: mockClient(SecretsManagerClient),
  sesv2: mockClient(SESv2Client),
  sns: mockClient(SNSClient),
  serviceQuotas: mockClient(ServiceQuotasClient),
  codeBuild: mockClient(CodeBuildClient),
  s3: mockClient(S3Client),
};

export function resetMocks(): void {
  for (const mock of Object.values(mocks)) mock.reset();
}

/** Every call any mocked client received, in order per client. */
export function allCalls(): Array<{ command: string; input: Record<string, unknown> }> {
  return Object.values(mocks).flatMap((mock) =>
    mock.calls().map((call) => {
      const command = call.args[0] as unknown as { constructor: { name: string }; input: Record<string, unknown> };
      return { command: command.constructor.name, input: command.input };
    }),
  );
}

export function awsError(name: string, message = name): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: 400 } });
}

// ------------------------------------------------------------------------------------------ stand-in

export interface GitHubStandIn {
  appId: string;
  /** The key GitHub holds for the App: a JWT signed with any other key is refused. */
  publicKey: KeyObject;
  slug: string;
  installedOn: Set<string>;
  token: string;
  readable: Set<string>;
  delayMs: number;
}

export interface StandIn {
  url: string;
  apiUrl: string;
  github: GitHubStandIn;
  webhook: HttpHandler;
  requests: Array<{ method: string; path: string; headers: IncomingMessage['headers'] }>;
  close(): Promise<void>;
}

export const WEBHOOK_CONFIG = parseConfig(`repositories:
  - name: acme/infrastructure
    environments:
      - name: ops
`);

/** tfgate's webhook handler with stores a ping must never touch (the test reads them afterwards). */
export function realWebhook(secret: string) {
  const stores = {
    runs: new MemoryRunStore(),
    deliveries: new MemoryDeliveryStore(),
    sequences: new MemorySequenceStore(),
  };
  const starter = new RecordingStarter();
  const handler = createWebhookHandler({
    config: WEBHOOK_CONFIG,
    secrets: [secret],
    stores,
    locks: {
      enqueue: async () => {
        throw new Error('a ping must not queue anything');
      },
      releaseAll: async () => {
        throw new Error('a ping must not release anything');
      },
    },
    starter,
  });
  return { handler, stores, starter };
}

function verifiedJwt(header: string | undefined, github: GitHubStandIn): boolean {
  const token = header?.replace(/^Bearer /, '') ?? '';
  const [head, payload, signature] = token.split('.');
  if (!head || !payload || !signature) return false;
  const ok = verify(
    'RSA-SHA256',
    Buffer.from(`${head}.${payload}`),
    github.publicKey,
    Buffer.from(signature, 'base64url'),
  );
  if (!ok) return false;
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
    iss?: unknown;
    exp: number;
    iat: number;
  };
  // GitHub: iss is the App's id, and a JWT lives at most ten minutes.
  return String(claims.iss) === github.appId && claims.exp - claims.iat <= 600;
}

export async function startStandIn(): Promise<StandIn> {
  const github: GitHubStandIn = {
    appId: APP_ID,
    publicKey: createPublicKey(keys.publicKey),
    slug: 'tfgate-doctor-test',
    installedOn: new Set(['acme/infrastructure', 'acme/platform']),
    token: SECRET_VALUES.token,
    readable: new Set(['acme/infrastructure', 'acme/platform']),
    delayMs: 0,
  };
  const requests: StandIn['requests'] = [];
  let base = '';
  const standIn: StandIn = {
    url: '',
    apiUrl: '',
    github,
    webhook: realWebhook(SECRET_VALUES.webhook).handler,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = (req.url ?? '/').split('?')[0]!;
    requests.push({ method: req.method ?? 'GET', path, headers: req.headers });
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (path === '/webhook') {
      const answer = await standIn.webhook({
        method: req.method ?? 'GET',
        path,
        query: {},
        headers: Object.fromEntries(
          Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v]),
        ),
        body: Buffer.concat(chunks),
      });
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
      return;
    }
    if (github.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, github.delayMs));
    const auth = req.headers.authorization;
    if (path === '/api/app') {
      if (!verifiedJwt(auth, github)) return send(401, { message: 'A JSON web token could not be decoded' });
      return send(200, { id: Number(github.appId), slug: github.slug, html_url: `${base}/apps/${github.slug}` });
    }
    const installation = /^\/api\/repos\/([^/]+\/[^/]+)\/installation$/.exec(path);
    if (installation) {
      if (!verifiedJwt(auth, github)) return send(401, { message: 'Bad credentials' });
      return github.installedOn.has(installation[1]!) ? send(200, { id: 1 }) : send(404, { message: 'Not Found' });
    }
    const repository = /^\/api\/repos\/([^/]+\/[^/]+)$/.exec(path);
    if (repository) {
      if (auth !== `Bearer ${github.token}`) return send(401, { message: 'Bad credentials' });
      return github.readable.has(repository[1]!) ? send(200, { full_name: repository[1] }) : send(404, {});
    }
    send(404, { message: 'Not Found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  base = `http://127.0.0.1:${port}`;
  standIn.url = base;
  standIn.apiUrl = `${base}/api`;
  return standIn;
}

// ------------------------------------------------------------------------------------------ context

export interface TestContext extends DoctorContext {
  progressLines: string[];
  clock: { now: number };
}

export function testContext(overrides: Partial<DoctorContext> = {}): TestContext {
  const config = { region: REGION, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } };
  const progressLines: string[] = [];
  const clock = { now: Date.parse('2026-12-07T12:00:00Z') };
  return {
    region: REGION,
    clients: {
      sts: new STSClient(config),
      cloudFormation: new CloudFormationClient(config),
      secretsManager: new SecretsManagerClient(config),
      sesv2: new SESv2Client(config),
      sns: new SNSClient(config),
      serviceQuotas: new ServiceQuotasClient(config),
      codeBuild: new CodeBuildClient(config),
      s3: new S3Client(config),
    },
    fetch: globalThis.fetch,
    httpTimeoutMs: 5_000,
    now: () => new Date(clock.now),
    // Time passes only as the doctor waits: a minute per poll.
    sleep: async () => {
      clock.now += 60_000;
    },
    progress: (line) => progressLines.push(line),
    progressLines,
    clock,
    ...overrides,
  };
}

// ------------------------------------------------------------------------------------------ account

export function factsFor(standIn: StandIn, overrides: Partial<DoctorFacts> = {}): DoctorFacts {
  return {
    version: 1,
    projectPrefix: 'tfgate',
    environments: ['ops', 'apps'],
    repositories: ['acme/infrastructure', 'acme/platform'],
    githubApiUrl: standIn.apiUrl,
    mailFrom: 'tfgate@example.com',
    githubSignIn: true,
    slack: true,
    planCompute: 'lambda',
    ...overrides,
  };
}

export const SECRET_NAMES = {
  webhook: 'WebhookSecret3C59A8E4-AbCdEfGhIjKl',
  github: 'GithubSecret1F2E3D4C-AbCdEfGhIjKl',
  signIn: 'SignInSecret9A8B7C6D-AbCdEfGhIjKl',
  slack: 'tfgate/slack-webhook',
};

export function outputsFor(standIn: StandIn, facts: DoctorFacts, prefix = '', hash = ''): Output[] {
  const values: Record<string, string> = {
    WebhookUrl: `${standIn.url}/webhook`,
    ApprovalsUrl: 'https://approvals.lambda-url.eu-west-1.on.aws/',
    AlarmTopicArn: TOPIC_ARN,
    StateMachineArn: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:tfgate-pipeline`,
    ArtifactsBucketName: BUCKET,
    WebhookSecretName: SECRET_NAMES.webhook,
    GithubSetupUrl: 'https://setup.lambda-url.eu-west-1.on.aws/',
    GithubSetupSecretName: 'SetupToken0A1B2C3D-AbCdEfGhIjKl',
    GithubSetupLinkCommand: 'echo "https://setup.lambda-url.eu-west-1.on.aws/setup?token=$(aws …)"',
    GithubSecretName: SECRET_NAMES.github,
    SignInSecretName: SECRET_NAMES.signIn,
    ...(facts.slack ? { SlackSecretName: SECRET_NAMES.slack } : {}),
    DoctorFacts: JSON.stringify(facts),
    BuildRoleArnOpsPlan: `arn:aws:iam::${ACCOUNT}:role/ops-plan`,
  };
  return Object.entries(values).map(([key, value]) => ({
    OutputKey: `${prefix}${key}${key === 'BuildRoleArnOpsPlan' ? '' : hash}`,
    OutputValue: value,
  }));
}

export function projectsFor(facts: DoctorFacts): Project[] {
  return facts.environments.flatMap((environment) =>
    (['plan', 'apply', 'pr-plan'] as const).map((kind) => {
      const lambda = kind !== 'apply' && facts.planCompute === 'lambda';
      return {
        name: `${facts.projectPrefix}-${environment}-${kind}`,
        environment: {
          type: lambda ? 'ARM_LAMBDA_CONTAINER' : 'ARM_CONTAINER',
          computeType: lambda ? 'BUILD_LAMBDA_2GB' : 'BUILD_GENERAL1_SMALL',
          image: 'aws/codebuild/amazonlinux-aarch64-standard:3.0',
          environmentVariables: [
            { name: 'TFGATE_BUILD_KIND', value: kind, type: 'PLAINTEXT' },
            { name: 'TFGATE_ARTIFACTS', value: `s3://${BUCKET}/artifacts`, type: 'PLAINTEXT' },
          ],
        },
      } as Project;
    }),
  );
}

/** A deployment where every check holds; tests break one thing each. */
export function healthyAccount(standIn: StandIn, facts: DoctorFacts = factsFor(standIn)): DoctorFacts {
  mocks.sts.on(GetCallerIdentityCommand).resolves({
    Account: ACCOUNT,
    Arn: `arn:aws:iam::${ACCOUNT}:user/operator`,
    UserId: 'AIDATEST',
  });
  mocks.cloudFormation.on(DescribeStacksCommand).resolves({
    Stacks: [
      {
        StackName: STACK,
        StackId: STACK_ID,
        StackStatus: 'UPDATE_COMPLETE',
        CreationTime: new Date(),
        Outputs: outputsFor(standIn, facts),
      },
    ],
  });
  const secretsById: Record<string, string> = {
    [SECRET_NAMES.webhook]: SECRET_VALUES.webhook,
    [SECRET_NAMES.github]: JSON.stringify({ appId: APP_ID, privateKey: keys.privateKey }),
    [SECRET_NAMES.signIn]: JSON.stringify({ clientId: 'Iv23liD0ct0r', clientSecret: SECRET_VALUES.clientSecret }),
    [SECRET_NAMES.slack]: JSON.stringify({ webhookUrl: SECRET_VALUES.slack }),
  };
  mocks.secretsManager.on(GetSecretValueCommand).callsFake((input: { SecretId: string }) => {
    const value = secretsById[input.SecretId];
    if (value === undefined)
      throw awsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return { Name: input.SecretId, SecretString: value };
  });
  mocks.sesv2
    .on(GetEmailIdentityCommand)
    .resolves({ IdentityType: 'EMAIL_ADDRESS', VerifiedForSendingStatus: true, VerificationStatus: 'SUCCESS' });
  mocks.sesv2.on(GetAccountCommand).resolves({ ProductionAccessEnabled: true, SendingEnabled: true });
  mocks.sns.on(ListSubscriptionsByTopicCommand).resolves({
    Subscriptions: [
      {
        SubscriptionArn: `${TOPIC_ARN}:5f1d8c1e-0000-1111-2222-333344445555`,
        Protocol: 'email',
        Endpoint: 'oncall@example.com',
        TopicArn: TOPIC_ARN,
      },
    ],
  });
  mocks.serviceQuotas
    .on(GetServiceQuotaCommand)
    .callsFake((input: { QuotaCode: string }) => ({ Quota: { QuotaCode: input.QuotaCode, Value: 20 } }));
  mocks.serviceQuotas.on(GetAWSDefaultServiceQuotaCommand).rejects(awsError('NoSuchResourceException'));
  mocks.codeBuild.on(BatchGetProjectsCommand).resolves({ projects: projectsFor(facts), projectsNotFound: [] });
  return facts;
}
