/**
 * `tfgate doctor`'s checks, each passing and failing, against aws-sdk-client-mock (every request held
 * against AWS's documented constraints after each test) and a local stand-in for GitHub and the webhook
 * function URL (tfgate's own webhook handler). The canary has its own file.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { BatchGetProjectsCommand } from '@aws-sdk/client-codebuild';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { GetAWSDefaultServiceQuotaCommand, GetServiceQuotaCommand } from '@aws-sdk/client-service-quotas';
import { GetAccountCommand, GetEmailIdentityCommand } from '@aws-sdk/client-sesv2';
import { ListSubscriptionsByTopicCommand } from '@aws-sdk/client-sns';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DoctorUsageError } from '../../src/doctor/context.js';
import type { DoctorFacts } from '../../src/doctor/facts.js';
import { type CheckResult, exitCodeOf, renderChecklist } from '../../src/doctor/result.js';
import { type DoctorReport, runDoctor } from '../../src/doctor/run.js';
import { assertDocumentedRequests } from './aws-constraints.js';
import {
  ACCOUNT,
  allCalls,
  awsError,
  factsFor,
  healthyAccount,
  keys,
  mocks,
  outputsFor,
  projectsFor,
  realWebhook,
  resetMocks,
  SECRET_NAMES,
  SECRET_VALUES,
  STACK,
  STACK_ID,
  type StandIn,
  startStandIn,
  TOPIC_ARN,
  testContext,
} from './support.js';

let standIn: StandIn;
let facts: DoctorFacts;

beforeAll(async () => {
  standIn = await startStandIn();
});
afterAll(async () => {
  await standIn.close();
});
beforeEach(() => {
  resetMocks();
  standIn.webhook = realWebhook(SECRET_VALUES.webhook).handler;
  standIn.github.installedOn = new Set(['acme/infrastructure', 'acme/platform']);
  standIn.github.readable = new Set(['acme/infrastructure', 'acme/platform']);
  standIn.github.delayMs = 0;
  standIn.requests.length = 0;
  facts = healthyAccount(standIn);
});
afterEach(() => {
  const lambdaProjects = new Set(
    projectsFor(facts)
      .filter((p) => p.environment?.type === 'ARM_LAMBDA_CONTAINER')
      .map((p) => p.name!),
  );
  assertDocumentedRequests(allCalls(), { lambdaProjects });
});

async function doctor(options: { construct?: string } = {}, ctx = testContext()): Promise<DoctorReport> {
  return runDoctor(ctx, { stackName: STACK, ...options });
}

function check(report: DoctorReport, id: string): CheckResult {
  const found = report.results.find((result) => result.id === id);
  if (!found) throw new Error(`no ${id} in ${report.results.map((r) => r.id).join(', ')}`);
  return found;
}

function secret(id: string, value: string | Error): void {
  mocks.secretsManager.on(GetSecretValueCommand, { SecretId: id }).callsFake(() => {
    if (value instanceof Error) throw value;
    return { Name: id, SecretString: value };
  });
}

function deployWith(nextFacts: DoctorFacts, overrides: Record<string, unknown> = {}): void {
  facts = nextFacts;
  mocks.cloudFormation.on(DescribeStacksCommand).resolves({
    Stacks: [
      {
        StackName: STACK,
        StackId: STACK_ID,
        StackStatus: 'CREATE_COMPLETE',
        CreationTime: new Date(),
        Outputs: outputsFor(standIn, nextFacts),
        ...overrides,
      },
    ],
  });
  mocks.codeBuild.on(BatchGetProjectsCommand).resolves({ projects: projectsFor(nextFacts), projectsNotFound: [] });
}

describe('a healthy deployment', () => {
  it('passes every check, exit 0, and asks only what each check needs', async () => {
    const report = await doctor();
    expect(report.account).toBe(ACCOUNT);
    const statuses = Object.fromEntries(report.results.map((r) => [r.id, r.status]));
    expect(statuses).toEqual({
      stack: 'pass',
      'secret.github': 'pass',
      'secret.webhook': 'pass',
      'secret.sign-in': 'pass',
      'secret.slack': 'pass',
      github: 'pass',
      'webhook.unsigned': 'pass',
      'webhook.signed': 'pass',
      'ses.identity': 'pass',
      'ses.sandbox': 'pass',
      'alarms.subscription': 'pass',
      'codebuild.projects': 'pass',
      'quota.ARM_LAMBDA_CONTAINER.BUILD_LAMBDA_2GB': 'pass',
      'quota.ARM_CONTAINER.BUILD_GENERAL1_SMALL': 'pass',
      'codebuild.lambda-compute': 'pass',
    });
    expect(exitCodeOf(report.results)).toBe(0);
    expect(check(report, 'github').detail).toBe('reachable; installed on 2 of 2 repositories');
    expect(
      mocks.serviceQuotas
        .commandCalls(GetServiceQuotaCommand)
        .map((c) => c.args[0].input.QuotaCode)
        .sort(),
    ).toEqual(['L-5ED1D25B', 'L-DE99852F']);
    // GitHub was asked at the deployed github.apiUrl, with the App's JWT.
    expect(
      standIn.requests.some((r) => r.path === '/api/app' && r.headers.authorization?.startsWith('Bearer ey')),
    ).toBe(true);
  });

  it('prints a checklist line per check, and no secret value anywhere, text or JSON', async () => {
    const report = await doctor();
    const text = renderChecklist(report.results, 'tfgate doctor');
    expect(text.split('\n').filter((line) => line.startsWith('✓'))).toHaveLength(report.results.length);
    expect(text).toMatch(/all checks hold\n$/);
    const everything = `${text}${JSON.stringify(report)}`;
    for (const value of [...Object.values(SECRET_VALUES), keys.privateKey.split('\n')[1]!]) {
      expect(everything).not.toContain(value);
    }
  });
});

describe('credentials and the stack', () => {
  it('no usable credentials is a usage error (exit 2), before anything else is asked', async () => {
    mocks.sts
      .on(GetCallerIdentityCommand)
      .rejects(awsError('ExpiredToken', 'The security token included in the request is expired'));
    await expect(doctor()).rejects.toThrow(DoctorUsageError);
    await expect(doctor()).rejects.toThrow(/ExpiredToken.*aws sso login/);
    expect(mocks.cloudFormation.calls()).toHaveLength(0);
  });

  it('a stack that does not exist fails, with the deploy command, and nothing else is checked', async () => {
    mocks.cloudFormation
      .on(DescribeStacksCommand)
      .rejects(awsError('ValidationError', `Stack with id ${STACK} does not exist`));
    const report = await doctor();
    expect(check(report, 'stack')).toMatchObject({ status: 'fail', detail: 'not found' });
    expect(check(report, 'stack').fix!.join('\n')).toMatch(/npx cdk deploy[\s\S]*--stack NAME --region REGION/);
    expect(check(report, 'dependent').status).toBe('skip');
    expect(exitCodeOf(report.results)).toBe(1);
    expect(mocks.secretsManager.calls()).toHaveLength(0);
  });

  it('a first deploy that rolled back fails with the way out', async () => {
    deployWith(facts, { StackStatus: 'ROLLBACK_COMPLETE' });
    const stack = check(await doctor(), 'stack');
    expect(stack.status).toBe('fail');
    expect(stack.fix!.join('\n')).toMatch(/npx cdk destroy, then npx cdk deploy/);
    expect(stack.fix![0]).toContain(encodeURIComponent(STACK_ID));
  });

  it('an update in progress fails (wait), one that rolled back warns (the previous version runs)', async () => {
    deployWith(facts, { StackStatus: 'UPDATE_IN_PROGRESS' });
    expect(check(await doctor(), 'stack').status).toBe('fail');
    deployWith(facts, { StackStatus: 'UPDATE_ROLLBACK_COMPLETE' });
    const report = await doctor();
    expect(check(report, 'stack').status).toBe('warn');
    expect(exitCodeOf(report.results)).toBe(0);
  });

  it('a missing output (an older tfgate) fails naming it', async () => {
    deployWith(facts, { Outputs: outputsFor(standIn, facts).filter((o) => o.OutputKey !== 'DoctorFacts') });
    expect(check(await doctor(), 'stack')).toMatchObject({
      status: 'fail',
      detail: 'CREATE_COMPLETE, outputs missing: DoctorFacts',
    });
  });

  it('facts that are not what this tfgate writes fail instead of steering the checks', async () => {
    const outputs = outputsFor(standIn, facts).map((o) =>
      o.OutputKey === 'DoctorFacts' ? { ...o, OutputValue: JSON.stringify({ ...facts, projectPrefix: '../evil' }) } : o,
    );
    deployWith(facts, { Outputs: outputs });
    expect(check(await doctor(), 'stack').detail).toMatch(/not what this tfgate writes \(projectPrefix\)/);
  });

  it("finds a construct's outputs in a user's app (id in front, hash behind), and asks which of two", async () => {
    deployWith(facts, { Outputs: outputsFor(standIn, facts, 'Gate', '1A2B3C4D') });
    expect(check(await doctor(), 'stack').status).toBe('pass');
    deployWith(facts, {
      Outputs: [...outputsFor(standIn, facts, 'Gate', '1A2B3C4D'), ...outputsFor(standIn, facts, 'Second', '9F8E7D6C')],
    });
    await expect(doctor()).rejects.toThrow(/holds 2 tfgate constructs \(Gate, Second\): name one with --construct/);
    expect(check(await doctor({ construct: 'Second' }), 'stack').status).toBe('pass');
    expect(check(await doctor({ construct: 'Third' }), 'stack').detail).toMatch(/no tfgate construct with id "Third"/);
  });

  it('a stack with no tfgate outputs fails', async () => {
    deployWith(facts, { Outputs: [{ OutputKey: 'Something', OutputValue: 'x' }] });
    expect(check(await doctor(), 'stack').detail).toMatch(/no tfgate outputs/);
  });
});

describe('secrets', () => {
  it('an empty GitHub secret (the placeholder) fails with the setup link command; GitHub is not asked', async () => {
    secret(SECRET_NAMES.github, '{}');
    const report = await doctor();
    expect(check(report, 'secret.github')).toMatchObject({ status: 'fail' });
    expect(check(report, 'secret.github').fix!.join('\n')).toContain('GitHub setup link');
    expect(check(report, 'github')).toMatchObject({
      status: 'fail',
      detail: 'not checked: the GitHub secret is not usable',
    });
  });

  it('a malformed secret fails with what is wrong and never its content', async () => {
    secret(SECRET_NAMES.github, `{"appId": "${APP}", "privateKey": "not-a-key-${SECRET_VALUES.token}"}`);
    secret(SECRET_NAMES.signIn, `{"clientId": ${SECRET_VALUES.clientSecret}`);
    secret(SECRET_NAMES.slack, `{"webhookUrl": "${SECRET_VALUES.slack}"`);
    const report = await doctor();
    expect(check(report, 'secret.github').detail).toMatch(/privateKey is not a PEM private key/);
    expect(check(report, 'secret.sign-in').detail).toMatch(/the sign-in secret is not valid JSON/);
    expect(check(report, 'secret.slack').detail).toMatch(/the Slack secret is not valid JSON/);
    const everything = JSON.stringify(report);
    for (const value of Object.values(SECRET_VALUES)) expect(everything).not.toContain(value);
  });

  it('a secret with no value, scheduled for deletion, or unreadable fails with its own fix', async () => {
    secret(
      SECRET_NAMES.webhook,
      awsError(
        'ResourceNotFoundException',
        "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT",
      ),
    );
    secret(
      SECRET_NAMES.slack,
      awsError(
        'InvalidRequestException',
        "You can't perform this operation on the secret because it was marked for deletion.",
      ),
    );
    secret(
      SECRET_NAMES.signIn,
      awsError('AccessDeniedException', 'User is not authorized to perform: secretsmanager:GetSecretValue'),
    );
    const report = await doctor();
    expect(check(report, 'secret.webhook')).toMatchObject({
      status: 'fail',
      detail: `${SECRET_NAMES.webhook}: no value stored`,
    });
    expect(check(report, 'secret.webhook').fix![0]).toMatch(
      /^aws secretsmanager put-secret-value --region eu-west-1 --secret-id /,
    );
    expect(check(report, 'secret.slack').fix![0]).toBe(
      `aws secretsmanager restore-secret --secret-id ${SECRET_NAMES.slack} --region eu-west-1`,
    );
    expect(check(report, 'secret.sign-in').fix![0]).toMatch(/need secretsmanager:GetSecretValue/);
    // Without the webhook secret the signed ping is not tried; the unsigned one still is.
    expect(check(report, 'webhook.signed').status).toBe('fail');
    expect(check(report, 'webhook.unsigned').status).toBe('pass');
  });

  it('an empty sign-in secret fails only when someone signs in with GitHub', async () => {
    secret(SECRET_NAMES.signIn, '{}');
    expect(check(await doctor(), 'secret.sign-in').status).toBe('fail');
    deployWith(factsFor(standIn, { githubSignIn: false }));
    expect(check(await doctor(), 'secret.sign-in')).toMatchObject({
      status: 'pass',
      detail: expect.stringMatching(/not needed/),
    });
  });

  it('no Slack: no Slack secret is asked for', async () => {
    deployWith(factsFor(standIn, { slack: false }));
    const report = await doctor();
    expect(report.results.some((r) => r.id === 'secret.slack')).toBe(false);
    expect(mocks.secretsManager.commandCalls(GetSecretValueCommand, { SecretId: SECRET_NAMES.slack })).toHaveLength(0);
  });
});

const APP = '424242';

/** A port nothing listens on (one the system just handed out and took back). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('GitHub', () => {
  it('an App not installed on a configured repository fails with the install link', async () => {
    standIn.github.installedOn.delete('acme/platform');
    const github = check(await doctor(), 'github');
    expect(github).toMatchObject({ status: 'fail', detail: 'not installed on acme/platform' });
    expect(github.fix).toEqual([
      `install it on those repositories: ${standIn.url}/apps/tfgate-doctor-test/installations/new`,
    ]);
  });

  it('a private key GitHub does not hold for the App fails (401)', async () => {
    const other = (await import('node:crypto')).generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    secret(SECRET_NAMES.github, JSON.stringify({ appId: APP, privateKey: other.privateKey }));
    expect(check(await doctor(), 'github')).toMatchObject({
      status: 'fail',
      detail: 'GitHub refused a token signed with the stored key (401)',
    });
  });

  it('GitHub unreachable, or too slow, fails within the time limit', async () => {
    const closed = await closedPort();
    deployWith(factsFor(standIn, { githubApiUrl: `http://127.0.0.1:${closed}/api` }));
    expect(check(await doctor(), 'github').detail).toBe(`could not reach http://127.0.0.1:${closed}/api: ECONNREFUSED`);
    deployWith(factsFor(standIn));
    standIn.github.delayMs = 1_500;
    const slow = await doctor({}, testContext({ httpTimeoutMs: 300 }));
    expect(check(slow, 'github').detail).toMatch(/did not answer within 300 ms/);
  });

  it('a token: passes reading every repository, fails when refused or a repository is out of reach', async () => {
    secret(SECRET_NAMES.github, JSON.stringify({ token: SECRET_VALUES.token }));
    expect(check(await doctor(), 'github')).toMatchObject({
      status: 'pass',
      detail: 'reachable; reads all 2 repositories',
    });
    standIn.github.readable.delete('acme/platform');
    expect(check(await doctor(), 'github').detail).toBe('the token cannot read acme/platform (404)');
    secret(SECRET_NAMES.github, JSON.stringify({ token: 'github_pat_revoked' }));
    expect(check(await doctor(), 'github').detail).toMatch(/refused the stored token \(401\)/);
  });
});

describe('webhook', () => {
  it('the real handler: unsigned 401, signed 200, and neither ping left a delivery or a run', async () => {
    const real = realWebhook(SECRET_VALUES.webhook);
    standIn.webhook = real.handler;
    const report = await doctor();
    expect(check(report, 'webhook.unsigned').detail).toMatch(/answered 401$/);
    expect(check(report, 'webhook.signed').detail).toBe('answered 200 (pong)');
    const pings = standIn.requests.filter((r) => r.path === '/webhook');
    expect(pings.map((r) => r.headers['x-github-event'])).toEqual(['ping', 'ping']);
    for (const ping of pings)
      expect(await real.stores.deliveries.get(String(ping.headers['x-github-delivery']))).toBeUndefined();
    expect(real.starter.started.size).toBe(0);
  });

  it('a function holding another secret refuses the signed ping: fails', async () => {
    standIn.webhook = realWebhook('some-other-secret').handler;
    const report = await doctor();
    expect(check(report, 'webhook.unsigned').status).toBe('pass');
    expect(check(report, 'webhook.signed')).toMatchObject({
      status: 'fail',
      detail: 'refused (401): the function does not hold the secret that is stored',
    });
  });

  it('an endpoint that accepts unsigned deliveries fails loudly', async () => {
    standIn.webhook = async () => ({ status: 202, headers: {}, body: '{"runId":"x"}' });
    expect(check(await doctor(), 'webhook.unsigned').detail).toMatch(/ACCEPTED a delivery without a signature/);
  });

  it('a function URL that refuses callers (403) fails with the auth hint', async () => {
    standIn.webhook = async () => ({ status: 403, headers: {}, body: '{"Message":"Forbidden"}' });
    const unsigned = check(await doctor(), 'webhook.unsigned');
    expect(unsigned.detail).toMatch(/answered 403, not 401/);
    expect(unsigned.fix![0]).toMatch(/auth type must be NONE/);
  });
});

describe('SES', () => {
  it('not checked where mail is not used', async () => {
    const { mailFrom: _unused, ...withoutMail } = factsFor(standIn);
    deployWith(withoutMail as DoctorFacts);
    const report = await doctor();
    expect(check(report, 'ses.identity').status).toBe('skip');
    expect(mocks.sesv2.calls()).toHaveLength(0);
  });

  it("the domain's identity counts when the address has none", async () => {
    mocks.sesv2
      .on(GetEmailIdentityCommand, { EmailIdentity: 'tfgate@example.com' })
      .rejects(awsError('NotFoundException'));
    const identity = check(await doctor(), 'ses.identity');
    expect(identity).toMatchObject({ status: 'pass', detail: 'example.com verified for sending' });
  });

  it('an unverified identity fails; none at all fails with the create command; the sandbox warns', async () => {
    mocks.sesv2
      .on(GetEmailIdentityCommand)
      .resolves({ VerifiedForSendingStatus: false, VerificationStatus: 'PENDING' });
    mocks.sesv2.on(GetAccountCommand).resolves({ ProductionAccessEnabled: false, SendingEnabled: true });
    let report = await doctor();
    expect(check(report, 'ses.identity').detail).toBe('tfgate@example.com is not verified (PENDING)');
    expect(check(report, 'ses.sandbox').status).toBe('warn');
    mocks.sesv2.on(GetEmailIdentityCommand).rejects(awsError('NotFoundException'));
    report = await doctor();
    expect(check(report, 'ses.identity').fix![0]).toMatch(
      /^aws sesv2 create-email-identity --email-identity tfgate@example.com --region eu-west-1/,
    );
  });
});

describe('alarm subscriptions', () => {
  it('a confirmed subscription on a later page counts', async () => {
    mocks.sns
      .on(ListSubscriptionsByTopicCommand)
      .resolvesOnce({
        Subscriptions: [{ SubscriptionArn: 'PendingConfirmation', Endpoint: 'a@example.com', Protocol: 'email' }],
        NextToken: 'page-2',
      })
      .resolvesOnce({ Subscriptions: [{ SubscriptionArn: `${TOPIC_ARN}:abc`, Protocol: 'https' }] });
    expect(check(await doctor(), 'alarms.subscription')).toMatchObject({
      status: 'pass',
      detail: '1 confirmed (https)',
    });
    expect(mocks.sns.commandCalls(ListSubscriptionsByTopicCommand).map((c) => c.args[0].input.NextToken)).toEqual([
      undefined,
      'page-2',
    ]);
  });

  it('only pending, or none: fails with how to subscribe', async () => {
    mocks.sns.on(ListSubscriptionsByTopicCommand).resolves({
      Subscriptions: [{ SubscriptionArn: 'PendingConfirmation', Endpoint: 'oncall@example.com', Protocol: 'email' }],
    });
    let alarms = check(await doctor(), 'alarms.subscription');
    expect(alarms.detail).toBe('1 waiting for confirmation (oncall@example.com): alarms reach nobody yet');
    mocks.sns.on(ListSubscriptionsByTopicCommand).resolves({ Subscriptions: [] });
    alarms = check(await doctor(), 'alarms.subscription');
    expect(alarms.detail).toBe('no subscription: alarms reach nobody');
    expect(alarms.fix![0]).toContain(`aws sns subscribe --region eu-west-1 --topic-arn ${TOPIC_ARN} --protocol email`);
  });
});

describe('CodeBuild projects, quotas and Lambda compute', () => {
  it('a quota of 0 fails and 1 warns, each with the increase command and console link', async () => {
    mocks.serviceQuotas.on(GetServiceQuotaCommand, { QuotaCode: 'L-DE99852F' }).resolves({ Quota: { Value: 0 } });
    mocks.serviceQuotas.on(GetServiceQuotaCommand, { QuotaCode: 'L-5ED1D25B' }).resolves({ Quota: { Value: 1 } });
    const report = await doctor();
    const lambda = check(report, 'quota.ARM_LAMBDA_CONTAINER.BUILD_LAMBDA_2GB');
    expect(lambda).toMatchObject({
      status: 'fail',
      title: 'CodeBuild ARM Lambda/2GB concurrent builds (plan, pr-plan)',
    });
    expect(lambda.fix).toEqual([
      'aws service-quotas request-service-quota-increase --region eu-west-1 --service-code codebuild --quota-code ' +
        'L-DE99852F --desired-value 10',
      'https://eu-west-1.console.aws.amazon.com/servicequotas/home/services/codebuild/quotas/L-DE99852F',
    ]);
    expect(check(report, 'quota.ARM_CONTAINER.BUILD_GENERAL1_SMALL').status).toBe('warn');
    expect(exitCodeOf(report.results)).toBe(1);
  });

  it('no applied value: the default counts, and says so', async () => {
    mocks.serviceQuotas
      .on(GetServiceQuotaCommand, { QuotaCode: 'L-5ED1D25B' })
      .rejects(awsError('NoSuchResourceException'));
    mocks.serviceQuotas
      .on(GetAWSDefaultServiceQuotaCommand, { QuotaCode: 'L-5ED1D25B' })
      .resolves({ Quota: { Value: 300 } });
    expect(check(await doctor(), 'quota.ARM_CONTAINER.BUILD_GENERAL1_SMALL').detail).toBe(
      '300 (the default; no applied value)',
    );
  });

  it('Lambda compute not offered in the region fails, naming planCompute: ec2', async () => {
    mocks.serviceQuotas
      .on(GetServiceQuotaCommand, { QuotaCode: 'L-DE99852F' })
      .rejects(awsError('NoSuchResourceException'));
    const report = await doctor();
    expect(check(report, 'codebuild.lambda-compute')).toMatchObject({
      status: 'fail',
      detail: 'not offered in this region',
    });
    expect(check(report, 'codebuild.lambda-compute').fix![0]).toMatch(/planCompute: ec2/);
  });

  it('plans on EC2: no Lambda quota asked, Lambda compute not used', async () => {
    deployWith(factsFor(standIn, { planCompute: 'ec2' }));
    const report = await doctor();
    expect(check(report, 'codebuild.lambda-compute')).toMatchObject({ status: 'skip' });
    expect(report.results.filter((r) => r.id.startsWith('quota.')).map((r) => r.id)).toEqual([
      'quota.ARM_CONTAINER.BUILD_GENERAL1_SMALL',
    ]);
  });

  it('projects missing from the account fail naming them', async () => {
    mocks.codeBuild.on(BatchGetProjectsCommand).resolves({
      projects: projectsFor(facts).filter((p) => p.name !== 'tfgate-apps-apply'),
      projectsNotFound: ['tfgate-apps-apply'],
    });
    expect(check(await doctor(), 'codebuild.projects')).toMatchObject({
      status: 'fail',
      detail: 'missing: tfgate-apps-apply',
    });
  });

  it('a refused quota lookup fails that line with the permission it needs, the rest go on', async () => {
    mocks.serviceQuotas.on(GetServiceQuotaCommand).rejects(awsError('AccessDeniedException', 'not authorized'));
    const report = await doctor();
    expect(check(report, 'quota.ARM_CONTAINER.BUILD_GENERAL1_SMALL').fix![0]).toMatch(/servicequotas:GetServiceQuota/);
    expect(check(report, 'alarms.subscription').status).toBe('pass');
  });
});
