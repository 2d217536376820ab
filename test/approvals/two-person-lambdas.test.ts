import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { SendEmailCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { DeleteCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FunctionUrlEvent } from '../../src/adapters/aws/function-url.js';
import { parseConfig } from '../../src/config/load.js';
import { encodeResolvedConfig } from '../../src/config/resolved.js';
import { stageArtifactKey } from '../../src/domain/plan-summary.js';
import type { ArtifactStore, Clock } from '../../src/domain/ports.js';
import type { Run } from '../../src/domain/run.js';
import { createApprovalsLambda } from '../../lambdas/web/lambda.js';
import { createNotifierLambda } from '../../lambdas/approval-request/lambda.js';
import { startDynalite, type TestDynamo } from '../support/dynalite.js';
import { startSlackReceiver, type SlackReceiver } from './receivers.js';
import { aPlanSummary, aRun, aStage } from '../support/builders.js';

/**
 * The two-person rule through the two AWS entries over dynalite (the DynamoDB adapters' conditional writes),
 * Step Functions, SES and Secrets Manager mocked: two people signed in by emailed links; one approval leaves
 * the execution waiting and the pages say 1 of 2; the same person again counts once; the second resumes the
 * execution once, with the saved plan's sha256.
 */

const TOKEN = 'AAAAKgAAAAIAAAAAAAAAAcanary-task-token-4c8f1e';
const SESSION_KEY = 'session-key-from-secrets-manager';
const SESSION_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:tfgate-session-AbCdEf';
const SLACK_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:tfgate-slack-AbCdEf';
const APPROVALS_URL = 'https://abc123.lambda-url.us-east-1.on.aws/';
const PLAN_SHA = 'a'.repeat(64);
const CONFIG = `repositories:
  - name: acme/infrastructure
    environments:
      - name: ops
      - name: apps
        approval:
          approvers: [alice@example.com, Bob@Example.com, carol@example.com]
          required: 2
          timeout: 24h
access:
  viewers: [vera@example.com]
people:
  - github: dave
    emails: [dave@example.com]
  - github: carol
    emails: [carol@example.com]
notifications:
  email: { from: tfgate@example.com }
`;

const sfn = mockClient(SFNClient);
const ses = mockClient(SESv2Client);
const secrets = mockClient(SecretsManagerClient);
const lambdaService = mockClient(LambdaClient);
const SELF = 'tfgate-Default-ApprovalsFunction-AbCdEf';

let dynamo: TestDynamo;
let slack: SlackReceiver;
let now = new Date('2026-03-01T12:00:00.000Z');
const clock: Clock = { now: () => now };
const stored = new Map<string, Buffer>();
const artifacts: ArtifactStore = {
  put: async (key, body) => void stored.set(key, Buffer.from(body)),
  get: async (key) => stored.get(key),
};

function env(): NodeJS.ProcessEnv {
  return {
    RUNS_TABLE: dynamo.tables.runs,
    APPROVALS_TABLE: dynamo.tables.approvals,
    LOCKS_TABLE: dynamo.tables.locks,
    DELIVERIES_TABLE: dynamo.tables.deliveries,
    ARTIFACTS_BUCKET: 'tfgate-artifacts-123',
    // What the CDK stack passes: the file resolved at synth.
    CONFIG: encodeResolvedConfig(parseConfig(CONFIG)),
    APPROVALS_URL,
    SESSION_SECRET_ARN: SESSION_ARN,
    SLACK_SECRET_ARN: SLACK_ARN,
    SES_FROM: 'tfgate@example.com',
    STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:123456789012:stateMachine:tfgate',
    AWS_LAMBDA_FUNCTION_NAME: SELF,
  };
}

let delivered = 0;
/**
 * What Lambda does with the function's asynchronous invocations of itself: runs each one not yet run (the lookup of
 * the address and the sign-in mail), in order.
 */
async function runQueuedInvocations(handler: ReturnType<typeof approvalsLambda>): Promise<void> {
  const calls = lambdaService.commandCalls(InvokeCommand);
  for (; delivered < calls.length; delivered++) {
    const input = calls[delivered]!.args[0].input;
    expect(input).toMatchObject({ FunctionName: SELF, InvocationType: 'Event' });
    await handler(JSON.parse(Buffer.from(input.Payload as Uint8Array).toString('utf8')));
  }
}

function run(id: string): Run {
  const at = now.toISOString();
  return aRun({
    id,
    sha: '5d41402abc4b2a76b9719d911017c592aaaaaaaa',
    createdAt: at,
    pusher: 'dave',
    author: { name: 'Carol', email: 'carol@example.com' },
    people: { logins: ['dave'], emails: ['dave@example.com', 'carol@example.com'] },
    message: 'Scale the apps cluster\n\ndetails',
    sequence: 7,
    stages: [
      aStage('ops', { status: 'applied', transitions: [{ status: 'applied', at }] }),
      aStage('apps', {
        status: 'planned',
        plan: aPlanSummary({
          add: 1,
          sha256: PLAN_SHA,
          addresses: { create: ['terraform_data.x'], update: [], delete: [], replace: [] },
        }),
        transitions: [{ status: 'planned', at }],
      }),
    ],
  });
}

function event(
  method: string,
  url: string,
  options: { headers?: Record<string, string>; form?: Record<string, string>; session?: string } = {},
): FunctionUrlEvent {
  const parsed = new URL(url);
  return {
    rawPath: parsed.pathname,
    rawQueryString: parsed.search.slice(1),
    headers: {
      host: parsed.host,
      ...(options.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      ...options.headers,
    },
    ...(options.session ? { cookies: [options.session] } : {}),
    ...(options.form
      ? { body: Buffer.from(new URLSearchParams(options.form).toString()).toString('base64'), isBase64Encoded: true }
      : {}),
    requestContext: { http: { method } },
  };
}

function formTokenOf(body: string): string {
  const token = /name="form_token" value="([^"]+)"/.exec(body)?.[1];
  if (!token) throw new Error(`no form on the page:\n${body.slice(0, 2000)}`);
  return token;
}

async function approvalRecord(id: string) {
  return dynamo.stores.approvals.get(id);
}

beforeAll(async () => {
  dynamo = await startDynalite();
  slack = await startSlackReceiver();
});

afterAll(async () => {
  await slack.close();
  await dynamo.close();
});

/** Every test starts at the same clock time: counters of link requests from earlier tests must not count. */
async function forgetLinkRequestCounts(): Promise<void> {
  const { Items = [] } = await dynamo.doc.send(new ScanCommand({ TableName: dynamo.tables.deliveries }));
  for (const item of Items)
    if (String(item.id).startsWith('sign-in-rate:'))
      await dynamo.doc.send(new DeleteCommand({ TableName: dynamo.tables.deliveries, Key: { id: item.id } }));
}

beforeEach(async () => {
  await forgetLinkRequestCounts();
  sfn.reset();
  ses.reset();
  secrets.reset();
  lambdaService.reset();
  lambdaService.on(InvokeCommand).resolves({ StatusCode: 202 });
  delivered = 0;
  sfn.on(SendTaskSuccessCommand).resolves({});
  sfn.on(SendTaskFailureCommand).resolves({});
  ses.on(SendEmailCommand).resolves({ MessageId: 'id' });
  secrets.on(GetSecretValueCommand, { SecretId: SESSION_ARN }).resolves({ SecretString: `${SESSION_KEY}\n` });
  secrets
    .on(GetSecretValueCommand, { SecretId: SLACK_ARN })
    .resolves({ SecretString: JSON.stringify({ webhookUrl: slack.url }) });
  slack.messages.length = 0;
  now = new Date('2026-03-01T12:00:00.000Z');
});

/** Runs the notifier Lambda as the state machine would, returns the approval id and what was sent. */
async function requestApproval(runId: string) {
  await dynamo.stores.runs.create(run(runId));
  stored.set(
    stageArtifactKey(runId, 'apps', 'plan.txt', 'plan'),
    Buffer.from('  # terraform_data.x will be created\nPlan: 1 to add, 0 to change, 0 to destroy.\n'),
  );
  const notifier = createNotifierLambda({
    env: env(),
    dynamo: dynamo.doc,
    ses: new SESv2Client({ region: 'us-east-1' }),
    secretsManager: new SecretsManagerClient({ region: 'us-east-1' }),
    artifacts,
    clock,
    log: () => undefined,
  });
  const payload = {
    action: 'requestApproval',
    runId,
    mode: 'deploy',
    repository: 'acme/infrastructure',
    sequence: 7,
    environment: 'apps',
    taskToken: TOKEN,
    planSha256: PLAN_SHA,
    timeoutSeconds: 86400,
  };
  const { approvalId } = await notifier(payload);
  return { approvalId, notifier, payload };
}

/** The sign-in mails SES was asked to send to `to`, newest last. */
function signInMails(to: string): string[] {
  return ses
    .commandCalls(SendEmailCommand)
    .map((call) => call.args[0].input)
    .filter(
      (input) =>
        input.Destination?.ToAddresses?.[0] === to &&
        input.Content?.Simple?.Subject?.Data === '[tfgate] Your sign-in link',
    )
    .map((input) => input.Content!.Simple!.Body!.Text!.Data!);
}

/**
 * Signs in the way a person does: ask for a link, open it from the mail, press "Sign in". Returns the session cookie.
 */
async function signIn(handler: ReturnType<typeof approvalsLambda>, email: string): Promise<string> {
  const before = signInMails(email).length;
  const asked = await handler(event('POST', `${APPROVALS_URL}auth/email`, { form: { email } }));
  expect(asked.statusCode).toBe(200);
  await runQueuedInvocations(handler);
  const mails = signInMails(email);
  expect(mails).toHaveLength(before + 1);
  const link = /https:\/\/\S+\/auth\/email\/confirm\?token=\S+/.exec(mails.at(-1)!)![0];
  const page = await handler(event('GET', link));
  const token = /name="token" value="([^"]+)"/.exec(page.body)![1]!;
  const confirmed = await handler(event('POST', `${APPROVALS_URL}auth/email/confirm`, { form: { token } }));
  expect(confirmed.statusCode).toBe(303);
  const cookie = confirmed.cookies?.find((c) => c.startsWith('tfgate_session='));
  expect(cookie).toMatch(/HttpOnly; SameSite=Lax; Secure/);
  return cookie!.split(';')[0]!;
}

function approvalsLambda() {
  return createApprovalsLambda({
    env: env(),
    dynamo: dynamo.doc,
    sfn: new SFNClient({ region: 'us-east-1' }),
    secretsManager: new SecretsManagerClient({ region: 'us-east-1' }),
    lambda: new LambdaClient({ region: 'us-east-1' }),
    artifacts,
    clock,
    log: () => undefined,
  });
}

describe('approval.required: 2 through the AWS functions', () => {
  it('1 of 2 keeps the execution waiting; the same person twice counts once; a second person resumes it', async () => {
    const { approvalId } = await requestApproval('run-two-person');
    expect(await approvalRecord(approvalId)).toMatchObject({ required: 2, approvals: [] });
    const handler = approvalsLambda();
    const alice = await signIn(handler, 'alice@example.com');
    const bob = await signIn(handler, 'bob@example.com');
    const link = `${APPROVALS_URL}approvals/${approvalId}`;

    async function approve(session: string) {
      const page = await handler(event('GET', link, { session }));
      return handler(
        event('POST', link, { session, form: { decision: 'approve', form_token: formTokenOf(page.body) } }),
      );
    }

    const first = await approve(alice);
    expect(first.statusCode).toBe(200);
    expect(first.body).toContain('Approved: 1 of 2');
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
    const runJson = JSON.parse(
      (
        await handler(
          event('GET', `${APPROVALS_URL}runs/run-two-person`, {
            session: bob,
            headers: { accept: 'application/json' },
          }),
        )
      ).body,
    );
    expect(runJson.status).toBe('awaiting_approval');
    expect(runJson.stages[1]).toMatchObject({
      environment: 'apps',
      status: 'awaiting_approval',
      approval: {
        id: approvalId,
        status: 'pending',
        required: 2,
        approvals: [{ by: 'alice@example.com', at: now.toISOString() }],
      },
    });
    const pageForBob = await handler(event('GET', link, { session: bob }));
    expect(pageForBob.body).toContain('<span id="approval-count">1 of 2</span>');
    expect(pageForBob.body).toContain('alice@example.com');

    const twice = await approve(alice);
    expect(twice.statusCode).toBe(200);
    expect(twice.body).toContain('Already approved by you');
    expect((await approvalRecord(approvalId))?.approvals).toHaveLength(1);

    now = new Date(now.getTime() + 60_000);
    const second = await approve(bob);
    expect(second.statusCode).toBe(200);
    expect(second.body).toContain('Approved by alice@example.com and bob@example.com');
    const resumed = sfn.commandCalls(SendTaskSuccessCommand);
    expect(resumed).toHaveLength(1);
    expect(resumed[0]!.args[0].input.taskToken).toBe(TOKEN);
    expect(JSON.parse(resumed[0]!.args[0].input.output!)).toEqual({
      approvalId,
      approvedBy: 'alice@example.com and bob@example.com',
      planSha256: PLAN_SHA,
    });
    const record = await approvalRecord(approvalId);
    expect(record).toMatchObject({ status: 'approved', decidedBy: 'bob@example.com' });
    expect(record?.approvals?.map((grant) => grant.by)).toEqual(['alice@example.com', 'bob@example.com']);
    const applied = (await dynamo.stores.runs.get('run-two-person'))!.stages[1]!;
    expect(applied).toMatchObject({ status: 'applying', approval: { status: 'approved', required: 2 } });
    expect(applied.approval?.approvals).toHaveLength(2);
  });
});
