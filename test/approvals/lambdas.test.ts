import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { BatchGetBuildsCommand, CodeBuildClient, ListBuildsForProjectCommand } from '@aws-sdk/client-codebuild';
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
import { aCommit, FakeGitHub, sha } from '../support/history.js';
import { startDynalite, type TestDynamo } from '../support/dynalite.js';
import { slackButtons, startSlackReceiver, type SlackReceiver } from './receivers.js';
import { aPlanSummary, aRun, aStage } from '../support/builders.js';

/**
 * The two AWS entries end to end over dynalite, with Step Functions, SES and Secrets Manager mocked and
 * a local HTTP receiver as the Slack webhook: the notifier stores the token and sends one plain link;
 * people sign in through the approvals function with an emailed one-time link (SES); the approvals
 * function shows pages on any number of GETs and resumes the execution once, on a valid POST.
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

/** The commit the runs apply, on top of what apps last applied; dave pushed it, Carol wrote it. */
const HEAD = '5d41402abc4b2a76b9719d911017c592aaaaaaaa';
const APPLIED = sha('b');
const github = new FakeGitHub([
  aCommit(APPLIED, undefined, 'Earlier change', { email: 'erin@example.com' }),
  aCommit(HEAD, APPLIED, 'Scale the apps cluster', { name: 'Carol', email: 'carol@example.com' }),
]);

/** What the ledger holds before the approval is asked: apps applied the parent, dave pushed the head over it. */
async function seedChange(): Promise<void> {
  const at = now.toISOString();
  await dynamo.stores.ledger.recordApplied('acme/infrastructure', {
    environment: 'apps',
    sha: APPLIED,
    runId: 'run-earlier',
    sequence: 1,
    at,
  });
  await dynamo.stores.ledger.recordPush('acme/infrastructure', {
    head: HEAD,
    before: APPLIED,
    logins: ['dave'],
    emails: ['dave@example.com'],
    at,
  });
}

/** Runs the notifier Lambda as the state machine would, returns the approval id and what was sent. */
async function requestApproval(runId: string) {
  await dynamo.stores.runs.create(run(runId));
  stored.set(
    stageArtifactKey(runId, 'apps', 'plan.txt', 'plan'),
    Buffer.from('  # terraform_data.x will be created\nPlan: 1 to add, 0 to change, 0 to destroy.\n'),
  );
  await seedChange();
  const notifier = createNotifierLambda({
    env: env(),
    vcs: github,
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

describe('notifier Lambda', () => {
  it(
    'stores the token with the approval only, and sends Slack and one mail per approver with the ' + 'same plain link',
    async () => {
      const { approvalId, notifier, payload } = await requestApproval('run-notify');
      const record = await approvalRecord(approvalId);
      expect(record).toMatchObject({
        status: 'pending',
        taskToken: TOKEN,
        planSha256: PLAN_SHA,
        approvers: ['alice@example.com', 'bob@example.com', 'carol@example.com'],
      });

      expect(slack.messages).toHaveLength(1);
      const buttons = slackButtons(slack.messages[0]!);
      expect(buttons.map((b) => b.url)).toEqual([`https://abc123.lambda-url.us-east-1.on.aws/approvals/${approvalId}`]);
      expect(JSON.stringify(slack.messages)).not.toContain(TOKEN);
      expect(JSON.stringify(slack.messages)).not.toMatch(/alice@|bob@|\?as=/);

      const mails = ses.commandCalls(SendEmailCommand).map((call) => call.args[0].input);
      expect(mails.map((mail) => mail.Destination?.ToAddresses?.[0])).toEqual([
        'alice@example.com',
        'bob@example.com',
        'carol@example.com',
      ]);
      mails.forEach((mail) => {
        const body = JSON.stringify(mail);
        expect(body).toContain(buttons[0]!.url);
        expect(body).not.toContain('?as=');
        expect(body).not.toContain(TOKEN);
        expect(body).toContain('Plan: 1 to add');
      });

      // Secrets are read once per instance, not per invocation.
      await dynamo.stores.runs.create(run('run-notify-2'));
      await notifier({ ...payload, runId: 'run-notify-2' });
      expect(secrets.commandCalls(GetSecretValueCommand, { SecretId: SLACK_ARN })).toHaveLength(1);
    },
  );

  it('a failed Slack post is noted on the run and the approval still stands', async () => {
    slack.failWith.push(500, 500);
    const { approvalId } = await requestApproval('run-slack-down');
    expect((await approvalRecord(approvalId))?.status).toBe('pending');
    const notes = (await dynamo.stores.runs.get('run-slack-down'))?.notes ?? [];
    expect(notes.join('\n')).toMatch(/approval notification for apps failed: .*Slack webhook answered 500/);
    expect(notes.join('\n')).not.toContain('XXXXsecretXXXX');
  });
});

describe('approvals Lambda', () => {
  it('without a session no route shows run data: HTML is sent to sign-in, JSON gets 401', async () => {
    const { approvalId } = await requestApproval('run-anonymous');
    const handler = approvalsLambda();
    for (const path of [`approvals/${approvalId}`, 'runs', 'runs/run-anonymous', 'runs/run-anonymous/apps/log']) {
      const page = await handler(event('GET', `${APPROVALS_URL}${path}`));
      expect(page.statusCode, path).toBe(303);
      expect(page.headers.location, path).toBe(`/auth/sign-in?next=${encodeURIComponent(`/${path}`)}`);
      const api = await handler(event('GET', `${APPROVALS_URL}${path}`, { headers: { accept: 'application/json' } }));
      expect(api.statusCode, path).toBe(401);
      // Only the path that was asked for comes back (in the redirect); nothing else about any run.
      for (const body of [page.body.replace(encodeURIComponent(`/${path}`), ''), api.body]) {
        expect(body).not.toContain('run-anonymous');
        expect(body).not.toContain(approvalId);
        expect(body).not.toContain('Scale the apps cluster');
      }
    }
    const post = await handler(
      event('POST', `${APPROVALS_URL}approvals/${approvalId}`, { form: { decision: 'approve' } }),
    );
    expect(post.statusCode).toBe(401);
    // A forged session cookie is no session.
    const forged = await handler(
      event('GET', `${APPROVALS_URL}runs`, {
        headers: { accept: 'application/json' },
        session: 'tfgate_session=eyJzaWQiOiJ4In0.AAAA',
      }),
    );
    expect(forged.statusCode).toBe(401);
    expect((await handler(event('GET', `${APPROVALS_URL}healthz`))).statusCode).toBe(200);
    expect(sfn.calls()).toHaveLength(0);
  });

  it(
    'email sign-in: a listed address gets one link that works once; an unlisted one gets nothing ' +
      'and the same page',
    async () => {
      const handler = approvalsLambda();
      const listed = await handler(
        event('POST', `${APPROVALS_URL}auth/email`, { form: { email: 'Alice@Example.com' } }),
      );
      const unlisted = await handler(
        event('POST', `${APPROVALS_URL}auth/email`, { form: { email: 'mallory@example.com' } }),
      );
      await runQueuedInvocations(handler);
      expect(unlisted.statusCode).toBe(listed.statusCode);
      expect(unlisted.body).toBe(listed.body);
      expect(signInMails('mallory@example.com')).toHaveLength(0);
      const link = /https:\/\/\S+\/auth\/email\/confirm\?token=\S+/.exec(signInMails('alice@example.com').at(-1)!)![0];
      // The link carries no identity in clear and opening it (a mail scanner) signs nobody in.
      const opened = await handler(event('GET', link));
      expect(opened.statusCode).toBe(200);
      expect(opened.cookies).toBeUndefined();
      const token = /name="token" value="([^"]+)"/.exec(opened.body)![1]!;
      const first = await handler(event('POST', `${APPROVALS_URL}auth/email/confirm`, { form: { token } }));
      expect(first.statusCode).toBe(303);
      const again = await handler(event('POST', `${APPROVALS_URL}auth/email/confirm`, { form: { token } }));
      expect(again.statusCode).toBe(409);
      expect(again.cookies).toBeUndefined();
      // A second link, used after 15 minutes, has expired.
      await handler(event('POST', `${APPROVALS_URL}auth/email`, { form: { email: 'bob@example.com' } }));
      await runQueuedInvocations(handler);
      const late = /https:\/\/\S+\/auth\/email\/confirm\?token=(\S+)/.exec(signInMails('bob@example.com').at(-1)!)![1]!;
      now = new Date(now.getTime() + 15 * 60_000 + 1000);
      const expired = await handler(
        event('POST', `${APPROVALS_URL}auth/email/confirm`, { form: { token: decodeURIComponent(late) } }),
      );
      expect(expired.statusCode).toBe(400);
      expect(expired.body).toContain('expired');
    },
  );

  it(
    'GET and HEAD any number of times (link unfurlers, mail scanners) leave the approval pending ' +
      'and the execution waiting',
    async () => {
      const { approvalId } = await requestApproval('run-get');
      const link = slackButtons(slack.messages[0]!)[0]!.url;
      const handler = approvalsLambda();
      const session = await signIn(handler, 'alice@example.com');
      const agents = [
        'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)',
        'Mozilla/5.0 (compatible; Microsoft Office Protection)',
        'curl/8',
      ];
      for (let i = 0; i < 20; i++) {
        const method = i % 3 === 0 ? 'HEAD' : 'GET';
        const result = await handler(
          event(method, link, {
            session,
            headers: {
              'user-agent': agents[i % agents.length]!,
              ...(i % 4 === 0 ? { accept: 'application/json' } : {}),
            },
          }),
        );
        expect(result.statusCode).toBe(200);
        if (method === 'HEAD') expect(result.body).toBe('');
        expect(result.body).not.toContain(TOKEN);
      }
      expect((await approvalRecord(approvalId))?.status).toBe('pending');
      expect((await dynamo.stores.runs.get('run-get'))?.stages[1]?.status).toBe('awaiting_approval');
      expect(sfn.calls()).toHaveLength(0);
    },
  );

  it(
    'approve resumes the execution once with the approved plan sha256; approving again is 409 ' + 'saying by whom',
    async () => {
      const { approvalId } = await requestApproval('run-approve');
      const link = slackButtons(slack.messages[0]!)[0]!.url;
      const handler = approvalsLambda();
      const bob = await signIn(handler, 'bob@example.com');
      const alice = await signIn(handler, 'alice@example.com');
      const page = await handler(event('GET', link, { session: bob }));
      expect(page.body).toContain('<span id="signed-in-as">bob@example.com</span>');
      expect(page.headers['content-security-policy']).toContain("default-src 'none'");
      const approve = await handler(
        event('POST', link, { session: bob, form: { decision: 'approve', form_token: formTokenOf(page.body) } }),
      );
      expect(approve.statusCode).toBe(200);
      expect(approve.body).toContain('Approved by bob@example.com');
      const calls = sfn.commandCalls(SendTaskSuccessCommand);
      expect(calls).toHaveLength(1);
      expect(calls[0]!.args[0].input.taskToken).toBe(TOKEN);
      expect(JSON.parse(calls[0]!.args[0].input.output!)).toEqual({
        approvalId,
        approvedBy: 'bob@example.com',
        planSha256: PLAN_SHA,
      });
      expect(await approvalRecord(approvalId)).toMatchObject({ status: 'approved', decidedBy: 'bob@example.com' });

      const alicePage = await handler(event('GET', link, { session: alice }));
      expect(alicePage.body).toContain('This approval was already approved by bob@example.com');
      // Bob's field does not work in Alice's session: the field is bound to the session.
      const crossed = await handler(
        event('POST', link, { session: alice, form: { decision: 'approve', form_token: formTokenOf(page.body) } }),
      );
      // Alice's own fresh token is what a real second click would carry; both must be refused with 409.
      const aliceToken = JSON.parse(
        (await handler(event('GET', link, { session: alice, headers: { accept: 'application/json' } }))).body,
      ).formToken as string;
      const secondByAlice = await handler(
        event('POST', link, { session: alice, form: { decision: 'reject', form_token: aliceToken } }),
      );
      const replayedByBob = await handler(
        event('POST', link, { session: bob, form: { decision: 'approve', form_token: formTokenOf(page.body) } }),
      );
      for (const result of [secondByAlice, replayedByBob]) {
        expect(result.statusCode).toBe(409);
        expect(result.body).toContain('already approved by bob@example.com');
      }
      expect(crossed.statusCode).toBe(403);
      expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
      expect(sfn.commandCalls(SendTaskFailureCommand)).toHaveLength(0);
      // One session-key read for this approvals instance, however many requests.
      expect(secrets.commandCalls(GetSecretValueCommand, { SecretId: SESSION_ARN })).toHaveLength(1);
    },
  );

  it('refuses a forged, a stale, a cross-site or a missing anti-forgery field with 403 and says why', async () => {
    const { approvalId } = await requestApproval('run-csrf');
    const link = slackButtons(slack.messages[0]!)[0]!.url;
    const handler = approvalsLambda();
    const alice = await signIn(handler, 'alice@example.com');
    const bob = await signIn(handler, 'bob@example.com');
    const fresh = formTokenOf((await handler(event('GET', link, { session: alice }))).body);
    const [issued, mac] = fresh.split('.');
    const cases: Array<[string, Record<string, string>, Record<string, string>, RegExp]> = [
      ['missing', { decision: 'approve' }, {}, /missing or forged/],
      [
        'forged signature',
        { decision: 'approve', form_token: `${issued}.${mac!.slice(0, -2)}AA` },
        {},
        /missing or forged/,
      ],
      ['re-dated', { decision: 'approve', form_token: `${Number(issued) + 60}.${mac}` }, {}, /missing or forged/],
      [
        'another session’s field',
        { decision: 'approve', form_token: formTokenOf((await handler(event('GET', link, { session: bob }))).body) },
        {},
        /missing or forged/,
      ],
      [
        'posted from another site',
        { decision: 'approve', form_token: fresh },
        { 'sec-fetch-site': 'cross-site' },
        /another site/,
      ],
    ];
    for (const [name, form, headers, message] of cases) {
      const result = await handler(event('POST', link, { session: alice, form, headers }));
      expect(result.statusCode, name).toBe(403);
      expect(result.body, name).toMatch(message);
    }
    // An hour and a bit later the same field is stale (the approval itself is still open for 24 h).
    now = new Date(now.getTime() + 3601_000);
    const stale = await handler(
      event('POST', link, { session: alice, form: { decision: 'approve', form_token: fresh } }),
    );
    expect(stale.statusCode).toBe(403);
    expect(stale.body).toContain('This page is too old');
    // The fresh page works.
    const ok = await handler(
      event('POST', link, {
        session: alice,
        form: {
          decision: 'approve',
          form_token: formTokenOf((await handler(event('GET', link, { session: alice }))).body),
        },
      }),
    );
    expect(ok.statusCode).toBe(200);
    expect((await approvalRecord(approvalId))?.decidedBy).toBe('alice@example.com');
  });

  it(
    'someone not listed cannot sign in; the author cannot approve their own change; a run whose ' +
      'pusher is unknown refuses everyone',
    async () => {
      const { approvalId } = await requestApproval('run-who');
      const handler = approvalsLambda();
      const link = slackButtons(slack.messages[0]!)[0]!.url;
      // Mallory gets no sign-in link, so no session; the page sends her to sign in.
      await handler(event('POST', `${APPROVALS_URL}auth/email`, { form: { email: 'mallory@example.com' } }));
      await runQueuedInvocations(handler);
      expect(signInMails('mallory@example.com')).toHaveLength(0);
      const carol = await signIn(handler, 'carol@example.com');
      const page = await handler(event('GET', link, { session: carol }));
      expect(page.body).toMatch(
        /You pushed or wrote this change \(your address is bound to @carol under people:\); someone else has to/,
      );
      const token = JSON.parse(
        (await handler(event('GET', link, { session: carol, headers: { accept: 'application/json' } }))).body,
      ).formToken as string;
      const result = await handler(
        event('POST', link, { session: carol, form: { decision: 'approve', form_token: token } }),
      );
      expect(result.statusCode).toBe(403);
      expect((await approvalRecord(approvalId))?.status).toBe('pending');

      // A run that does not know who pushed it: self-approval is off, so nobody may approve on that basis.
      await dynamo.stores.runs.create({
        ...run('run-unknown'),
        people: { logins: [], emails: [], unknown: 'GitHub did not say who pushed 5d41402 to main' },
      });
      slack.messages.length = 0;
      const notifier = createNotifierLambda({
        env: env(),
        vcs: github,
        dynamo: dynamo.doc,
        ses: new SESv2Client({ region: 'us-east-1' }),
        secretsManager: new SecretsManagerClient({ region: 'us-east-1' }),
        artifacts,
        clock,
        log: () => undefined,
      });
      const { approvalId: unknownId } = await notifier({
        action: 'requestApproval',
        runId: 'run-unknown',
        environment: 'apps',
        repository: 'acme/infrastructure',
        taskToken: TOKEN,
        planSha256: PLAN_SHA,
        timeoutSeconds: 86400,
      });
      const alice = await signIn(handler, 'alice@example.com');
      const unknownPage = await handler(event('GET', `${APPROVALS_URL}approvals/${unknownId}`, { session: alice }));
      expect(unknownPage.body).toContain(
        'GitHub did not say who pushed 5d41402 to main; with self-approval off nobody may approve it on that basis.',
      );
      expect(unknownPage.body).not.toContain('form_token');
      expect(sfn.calls()).toHaveLength(0);
    },
  );

  it('a viewer may look at runs and the plan but not decide', async () => {
    const { approvalId } = await requestApproval('run-viewer');
    const handler = approvalsLambda();
    const vera = await signIn(handler, 'vera@example.com');
    const runs = await handler(
      event('GET', `${APPROVALS_URL}runs`, { session: vera, headers: { accept: 'application/json' } }),
    );
    expect(runs.statusCode).toBe(200);
    expect(runs.body).toContain('run-viewer');
    const page = await handler(event('GET', `${APPROVALS_URL}approvals/${approvalId}`, { session: vera }));
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('terraform_data.x will be created');
    expect(page.body).toContain('vera@example.com is not an approver for apps');
    const token = JSON.parse(
      (
        await handler(
          event('GET', `${APPROVALS_URL}approvals/${approvalId}`, {
            session: vera,
            headers: { accept: 'application/json' },
          }),
        )
      ).body,
    ).formToken as string;
    const decided = await handler(
      event('POST', `${APPROVALS_URL}approvals/${approvalId}`, {
        session: vera,
        form: { decision: 'approve', form_token: token },
      }),
    );
    expect(decided.statusCode).toBe(403);
    expect(sfn.calls()).toHaveLength(0);
  });

  it(
    "the run page shows a running build's CloudWatch log tail, escaped, and a link to the build in " +
      'the CodeBuild console',
    async () => {
      const codebuild = mockClient(CodeBuildClient);
      const cloudWatchLogs = mockClient(CloudWatchLogsClient);
      try {
        const prefix = 'tfgate-test';
        const building = run('run-live-log');
        building.stages[1] = {
          environment: 'apps',
          status: 'planning',
          transitions: [{ status: 'planning', at: now.toISOString() }],
        };
        await dynamo.stores.runs.create(building);
        const buildId = `${prefix}-apps-plan:0b6f7c1e-1111-4222-8333-944455556666`;
        const variables = (runId: string) => [
          { name: 'TFGATE_RUN_ID', value: runId, type: 'PLAINTEXT' as const },
          { name: 'TFGATE_ENVIRONMENT', value: 'apps', type: 'PLAINTEXT' as const },
          { name: 'TFGATE_MODE', value: 'plan', type: 'PLAINTEXT' as const },
        ];
        codebuild.on(ListBuildsForProjectCommand).resolves({ ids: [] });
        codebuild
          .on(ListBuildsForProjectCommand, { projectName: `${prefix}-apps-plan` })
          .resolves({ ids: ['other-build', buildId] });
        codebuild.on(BatchGetBuildsCommand).resolves({
          builds: [
            {
              id: 'other-build',
              environment: {
                type: 'LINUX_CONTAINER',
                image: 'x',
                computeType: 'BUILD_GENERAL1_SMALL',
                environmentVariables: variables('another-run'),
              },
              logs: { groupName: 'g', streamName: 'other' },
            },
            {
              id: buildId,
              arn: `arn:aws:codebuild:us-east-1:123456789012:build/${buildId}`,
              environment: {
                type: 'LINUX_CONTAINER',
                image: 'x',
                computeType: 'BUILD_GENERAL1_SMALL',
                environmentVariables: variables('run-live-log'),
              },
              logs: { groupName: '/aws/codebuild/apps-plan', streamName: '0b6f7c1e-1111-4222-8333-944455556666' },
            },
          ],
        });
        cloudWatchLogs.on(GetLogEventsCommand).resolves({
          events: [
            { message: 'terraform_data.x: Creating...\n' },
            { message: '\u001b[31m<script>alert(1)</script>\u001b[0m\n' },
          ],
        });
        const handler = createApprovalsLambda({
          env: { ...env(), BUILD_PROJECT_PREFIX: prefix },
          dynamo: dynamo.doc,
          sfn: new SFNClient({ region: 'us-east-1' }),
          secretsManager: new SecretsManagerClient({ region: 'us-east-1' }),
          codebuild: new CodeBuildClient({ region: 'us-east-1' }),
          cloudWatchLogs: new CloudWatchLogsClient({ region: 'us-east-1' }),
          artifacts,
          clock,
          log: () => undefined,
        });
        const vera = await signIn(handler, 'vera@example.com');
        const page = await handler(event('GET', `${APPROVALS_URL}runs/run-live-log`, { session: vera }));
        expect(page.statusCode).toBe(200);
        expect(page.body).toContain('terraform_data.x: Creating...');
        expect(page.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
        expect(page.body).not.toContain('<script>alert');
        expect(page.body).not.toContain('\u001b');
        expect(page.body).toContain('data-running="true"');
        const buildLog =
          'https://us-east-1.console.aws.amazon.com/codesuite/codebuild/123456789012/projects/' +
          `${prefix}-apps-plan/build/${encodeURIComponent(buildId)}/log?region=us-east-1`;
        expect(page.body).toContain(buildLog);
        const log = await handler(
          event('GET', `${APPROVALS_URL}runs/run-live-log/apps/log`, {
            session: vera,
            headers: { accept: 'application/json' },
          }),
        );
        expect(JSON.parse(log.body)).toMatchObject({
          running: true,
          mode: 'plan',
          lines: ['terraform_data.x: Creating...', '<script>alert(1)</script>'],
        });
        // Only the run's own build's stream is read, from its end; the build is found once per instance.
        expect(cloudWatchLogs.commandCalls(GetLogEventsCommand).map((call) => call.args[0].input)).toEqual([
          {
            logGroupName: '/aws/codebuild/apps-plan',
            logStreamName: '0b6f7c1e-1111-4222-8333-944455556666',
            startFromHead: false,
            limit: 200,
          },
          {
            logGroupName: '/aws/codebuild/apps-plan',
            logStreamName: '0b6f7c1e-1111-4222-8333-944455556666',
            startFromHead: false,
            limit: 200,
          },
        ]);
        expect(
          codebuild.commandCalls(ListBuildsForProjectCommand, { projectName: `${prefix}-apps-plan` }),
        ).toHaveLength(1);
        // No build found for ops (older than the builds CodeBuild lists): its section says so, the page still answers.
        expect(page.body).toMatch(/ops apply: <span class="log-state">no output found/);
      } finally {
        codebuild.restore();
        cloudWatchLogs.restore();
      }
    },
  );

  it('after its timeout the link says expired and a decision is 409, nothing resumed', async () => {
    const { approvalId } = await requestApproval('run-expired');
    const link = slackButtons(slack.messages[0]!)[0]!.url;
    const handler = approvalsLambda();
    now = new Date(now.getTime() + 86400_000 + 1000);
    // Sessions are short: sign in after the clock moved.
    const alice = await signIn(handler, 'alice@example.com');
    const page = await handler(event('GET', link, { session: alice }));
    expect(page.body).toContain('This approval expired at');
    const token = JSON.parse(
      (await handler(event('GET', link, { session: alice, headers: { accept: 'application/json' } }))).body,
    ).formToken as string;
    const result = await handler(
      event('POST', link, { session: alice, form: { decision: 'approve', form_token: token } }),
    );
    expect(result.statusCode).toBe(409);
    expect(result.body).toContain('<h1>Expired</h1>');
    expect(result.body).toContain('nothing will be applied to apps');
    expect((await approvalRecord(approvalId))?.status).toBe('pending');
    expect(sfn.calls()).toHaveLength(0);
  });

  it('reject resumes the execution with tfgate.Rejected and the reason', async () => {
    const { approvalId } = await requestApproval('run-reject');
    const link = slackButtons(slack.messages[0]!)[0]!.url;
    const handler = approvalsLambda();
    const alice = await signIn(handler, 'alice@example.com');
    const result = await handler(
      event('POST', link, {
        session: alice,
        form: {
          decision: 'reject',
          reason: 'wrong window',
          form_token: formTokenOf((await handler(event('GET', link, { session: alice }))).body),
        },
      }),
    );
    expect(result.statusCode).toBe(200);
    const failure = sfn.commandCalls(SendTaskFailureCommand)[0]!.args[0].input;
    expect(failure).toMatchObject({
      taskToken: TOKEN,
      error: 'tfgate.Rejected',
      cause: 'by alice@example.com: wrong window',
    });
    expect(await approvalRecord(approvalId)).toMatchObject({ status: 'rejected', reason: 'wrong window' });
  });

  it('answers 503 without the session key instead of letting anyone in', async () => {
    secrets.reset();
    secrets.on(GetSecretValueCommand).rejects(new Error('AccessDeniedException'));
    const result = await approvalsLambda()(event('GET', `${APPROVALS_URL}approvals/${'0'.repeat(32)}`));
    expect(result.statusCode).toBe(503);
  });
});
