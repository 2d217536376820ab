import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendEmailCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FunctionUrlEvent } from '../../lambdas/core/aws/function-url.js';
import { parseConfig } from '../../lambdas/core/config/load.js';
import { encodeResolvedConfig } from '../../lambdas/core/config/resolved.js';
import { signApprover } from '../../lambdas/core/domain/approval-links.js';
import { stageArtifactKey } from '../../lambdas/core/domain/plan-summary.js';
import type { ArtifactStore, Clock } from '../../lambdas/core/domain/ports.js';
import type { Run } from '../../lambdas/core/domain/run.js';
import { createApprovalsLambda } from '../../lambdas/approvals/lambda.js';
import { createNotifierLambda } from '../../lambdas/notifier/lambda.js';
import { startDynalite, type TestDynamo } from '../support/dynalite.js';
import { slackButtons, startSlackReceiver, type SlackReceiver } from './receivers.js';

/**
 * The two AWS entries end to end over dynalite, with Step Functions, SES and Secrets Manager mocked and
 * a local HTTP receiver as the Slack webhook: the notifier stores the token and sends links; the
 * approvals function shows pages on any number of GETs and resumes the execution once, on a valid POST.
 */

const TOKEN = 'AAAAKgAAAAIAAAAAAAAAAcanary-task-token-4c8f1e';
const LINK_KEY = 'link-key-from-secrets-manager';
const LINK_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:tfgate-link-AbCdEf';
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
notifications:
  email: { from: tfgate@example.com }
`;

const sfn = mockClient(SFNClient);
const ses = mockClient(SESv2Client);
const secrets = mockClient(SecretsManagerClient);

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
    ARTIFACTS_BUCKET: 'tfgate-artifacts-123',
    // What the CDK stack passes: the file resolved at synth.
    CONFIG: encodeResolvedConfig(parseConfig(CONFIG)),
    APPROVALS_URL,
    LINK_SECRET_ARN: LINK_ARN,
    SLACK_SECRET_ARN: SLACK_ARN,
    SES_FROM: 'tfgate@example.com',
    STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:123456789012:stateMachine:tfgate',
  };
}

function run(id: string): Run {
  const at = now.toISOString();
  return {
    id,
    repository: 'acme/infrastructure',
    sha: '5d41402abc4b2a76b9719d911017c592aaaaaaaa',
    ref: 'refs/heads/main',
    trigger: 'push',
    mode: 'deploy',
    status: 'running',
    createdAt: at,
    updatedAt: at,
    pusher: 'dave@example.com',
    author: { name: 'Carol', email: 'carol@example.com' },
    message: 'Scale the apps cluster\n\ndetails',
    sequence: 7,
    executionName: `exec-${id}`,
    stages: [
      { environment: 'ops', status: 'applied', transitions: [{ status: 'applied', at }] },
      {
        environment: 'apps',
        status: 'planned',
        plan: { add: 1, change: 0, destroy: 0, replace: 0, hasChanges: true, sha256: PLAN_SHA, addresses: { create: ['terraform_data.x'], update: [], delete: [], replace: [] } },
        transitions: [{ status: 'planned', at }],
      },
    ],
  };
}

function event(method: string, url: string, options: { headers?: Record<string, string>; form?: Record<string, string> } = {}): FunctionUrlEvent {
  const parsed = new URL(url);
  return {
    rawPath: parsed.pathname,
    rawQueryString: parsed.search.slice(1),
    headers: { host: parsed.host, ...(options.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}), ...options.headers },
    ...(options.form ? { body: Buffer.from(new URLSearchParams(options.form).toString()).toString('base64'), isBase64Encoded: true } : {}),
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

beforeEach(() => {
  sfn.reset();
  ses.reset();
  secrets.reset();
  sfn.on(SendTaskSuccessCommand).resolves({});
  sfn.on(SendTaskFailureCommand).resolves({});
  ses.on(SendEmailCommand).resolves({ MessageId: 'id' });
  secrets.on(GetSecretValueCommand, { SecretId: LINK_ARN }).resolves({ SecretString: `${LINK_KEY}\n` });
  secrets.on(GetSecretValueCommand, { SecretId: SLACK_ARN }).resolves({ SecretString: JSON.stringify({ webhookUrl: slack.url }) });
  slack.messages.length = 0;
  now = new Date('2026-03-01T12:00:00.000Z');
});

/** Runs the notifier Lambda as the state machine would, returns the approval id and what was sent. */
async function requestApproval(runId: string) {
  await dynamo.stores.runs.create(run(runId));
  stored.set(stageArtifactKey(runId, 'apps', 'plan.txt', 'plan'), Buffer.from('  # terraform_data.x will be created\nPlan: 1 to add, 0 to change, 0 to destroy.\n'));
  const notifier = createNotifierLambda({ env: env(), dynamo: dynamo.doc, ses: new SESv2Client({ region: 'us-east-1' }), secretsManager: new SecretsManagerClient({ region: 'us-east-1' }), artifacts, clock, log: () => undefined });
  const payload = { action: 'requestApproval', runId, mode: 'deploy', repository: 'acme/infrastructure', sequence: 7, environment: 'apps', taskToken: TOKEN, planSha256: PLAN_SHA, timeoutSeconds: 86400 };
  const { approvalId } = await notifier(payload);
  return { approvalId, notifier, payload };
}

function approvalsLambda() {
  return createApprovalsLambda({ env: env(), dynamo: dynamo.doc, sfn: new SFNClient({ region: 'us-east-1' }), secretsManager: new SecretsManagerClient({ region: 'us-east-1' }), artifacts, clock, log: () => undefined });
}

describe('notifier Lambda', () => {
  it('stores the token with the approval only, and sends Slack and one mail per approver with their own link', async () => {
    const { approvalId, notifier, payload } = await requestApproval('run-notify');
    const record = await approvalRecord(approvalId);
    expect(record).toMatchObject({ status: 'pending', taskToken: TOKEN, planSha256: PLAN_SHA, approvers: ['alice@example.com', 'bob@example.com', 'carol@example.com'] });

    expect(slack.messages).toHaveLength(1);
    const buttons = slackButtons(slack.messages[0]!);
    expect(buttons.map((b) => b.label)).toEqual([
      'Approve as alice@example.com', 'Reject as alice@example.com',
      'Approve as bob@example.com', 'Reject as bob@example.com',
      'Approve as carol@example.com', 'Reject as carol@example.com',
    ]);
    for (const button of buttons) expect(button.url).toMatch(new RegExp(`^https://abc123\\.lambda-url\\.us-east-1\\.on\\.aws/approvals/${approvalId}\\?as=[A-Za-z0-9_%.-]+$`));
    expect(JSON.stringify(slack.messages)).not.toContain(TOKEN);

    const mails = ses.commandCalls(SendEmailCommand).map((call) => call.args[0].input);
    expect(mails.map((mail) => mail.Destination?.ToAddresses?.[0])).toEqual(['alice@example.com', 'bob@example.com', 'carol@example.com']);
    mails.forEach((mail, index) => {
      const body = JSON.stringify(mail);
      expect(body).toContain(buttons[index * 2]!.url);
      expect(body).not.toContain(TOKEN);
      expect(body).toContain('Plan: 1 to add');
    });

    // Secrets are read once per instance, not per invocation.
    await dynamo.stores.runs.create(run('run-notify-2'));
    await notifier({ ...payload, runId: 'run-notify-2' });
    expect(secrets.commandCalls(GetSecretValueCommand, { SecretId: LINK_ARN })).toHaveLength(1);
    expect(secrets.commandCalls(GetSecretValueCommand, { SecretId: SLACK_ARN })).toHaveLength(1);
  });

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
  it('GET and HEAD any number of times (link unfurlers, mail scanners) leave the approval pending and the execution waiting', async () => {
    const { approvalId } = await requestApproval('run-get');
    const link = slackButtons(slack.messages[0]!)[0]!.url;
    const handler = approvalsLambda();
    const agents = ['Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)', 'Mozilla/5.0 (compatible; Microsoft Office Protection)', 'curl/8'];
    for (let i = 0; i < 20; i++) {
      const method = i % 3 === 0 ? 'HEAD' : 'GET';
      const result = await handler(event(method, link, { headers: { 'user-agent': agents[i % agents.length]!, ...(i % 4 === 0 ? { accept: 'application/json' } : {}) } }));
      expect(result.statusCode).toBe(200);
      if (method === 'HEAD') expect(result.body).toBe('');
      expect(result.body).not.toContain(TOKEN);
    }
    expect((await approvalRecord(approvalId))?.status).toBe('pending');
    expect((await dynamo.stores.runs.get('run-get'))?.stages[1]?.status).toBe('awaiting_approval');
    expect(sfn.calls()).toHaveLength(0);
  });

  it('approve resumes the execution once with the approved plan sha256; approving again is 409 saying by whom', async () => {
    const { approvalId } = await requestApproval('run-approve');
    const [alice, , bob] = slackButtons(slack.messages[0]!).map((b) => b.url);
    const handler = approvalsLambda();
    const page = await handler(event('GET', bob!));
    expect(page.body).toContain('You are</th><td>bob@example.com');
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    const approve = await handler(event('POST', bob!, { form: { decision: 'approve', form_token: formTokenOf(page.body) } }));
    expect(approve.statusCode).toBe(200);
    expect(approve.body).toContain('Approved by bob@example.com');
    const calls = sfn.commandCalls(SendTaskSuccessCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input.taskToken).toBe(TOKEN);
    expect(JSON.parse(calls[0]!.args[0].input.output!)).toEqual({ approvalId, approvedBy: 'bob@example.com', planSha256: PLAN_SHA });
    expect(await approvalRecord(approvalId)).toMatchObject({ status: 'approved', decidedBy: 'bob@example.com' });

    const alicePage = await handler(event('GET', alice!));
    expect(alicePage.body).toContain('This approval was already approved by bob@example.com');
    // Bob's field does not work on Alice's link: the field is bound to the approver.
    const crossed = await handler(event('POST', alice!, { form: { decision: 'approve', form_token: formTokenOf(page.body) } }));
    // Alice's own fresh token is what a real second click would carry; both must be refused with 409.
    const aliceToken = JSON.parse((await handler(event('GET', alice!, { headers: { accept: 'application/json' } }))).body).formToken as string;
    const secondByAlice = await handler(event('POST', alice!, { form: { decision: 'reject', form_token: aliceToken } }));
    const secondByBob = await handler(event('POST', bob!, { form: { decision: 'approve', form_token: formTokenOf(page.body) } }));
    for (const result of [secondByAlice, secondByBob]) {
      expect(result.statusCode).toBe(409);
      expect(result.body).toContain('already approved by bob@example.com');
    }
    expect(crossed.statusCode).toBe(403);
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
    expect(sfn.commandCalls(SendTaskFailureCommand)).toHaveLength(0);
    // One link-key read for the notifier instance and one for this approvals instance, however many requests.
    expect(secrets.commandCalls(GetSecretValueCommand, { SecretId: LINK_ARN })).toHaveLength(2);
  });

  it('refuses a forged, a stale, a cross-site or a missing anti-forgery field with 403 and says why', async () => {
    const { approvalId } = await requestApproval('run-csrf');
    const alice = slackButtons(slack.messages[0]!)[0]!.url;
    const handler = approvalsLambda();
    const fresh = formTokenOf((await handler(event('GET', alice))).body);
    const [issued, mac] = fresh.split('.');
    const cases: Array<[string, Record<string, string>, Record<string, string>, RegExp]> = [
      ['missing', { decision: 'approve' }, {}, /missing or forged/],
      ['forged signature', { decision: 'approve', form_token: `${issued}.${mac!.slice(0, -2)}AA` }, {}, /missing or forged/],
      ['re-dated', { decision: 'approve', form_token: `${Number(issued) + 60}.${mac}` }, {}, /missing or forged/],
      ['another approver’s field', { decision: 'approve', form_token: formTokenOf((await handler(event('GET', slackButtons(slack.messages[0]!)[2]!.url))).body) }, {}, /missing or forged/],
      ['posted from another site', { decision: 'approve', form_token: fresh }, { 'sec-fetch-site': 'cross-site' }, /another site/],
    ];
    for (const [name, form, headers, message] of cases) {
      const result = await handler(event('POST', alice, { form, headers }));
      expect(result.statusCode, name).toBe(403);
      expect(result.body, name).toMatch(message);
    }
    // An hour and a bit later the same field is stale (the approval itself is still open for 24 h).
    now = new Date(now.getTime() + 3601_000);
    const stale = await handler(event('POST', alice, { form: { decision: 'approve', form_token: fresh } }));
    expect(stale.statusCode).toBe(403);
    expect(stale.body).toContain('This page is too old');
    // The fresh page of the same link works.
    const ok = await handler(event('POST', alice, { form: { decision: 'approve', form_token: formTokenOf((await handler(event('GET', alice))).body) } }));
    expect(ok.statusCode).toBe(200);
    expect((await approvalRecord(approvalId))?.decidedBy).toBe('alice@example.com');
  });

  it('an approver outside the list gets 403, the author cannot approve their own change, an unsigned link decides nothing', async () => {
    const { approvalId } = await requestApproval('run-who');
    const handler = approvalsLambda();
    const base = `${APPROVALS_URL.replace(/\/$/, '')}/approvals/${approvalId}`;
    const mallory = `${base}?as=${encodeURIComponent(signApprover(LINK_KEY, approvalId, 'mallory@example.com'))}`;
    const carol = slackButtons(slack.messages[0]!)[4]!.url;
    const checks: Array<[string, string, RegExp]> = [
      ['outside the list', mallory, /mallory@example.com is not an approver for apps/],
      ['the author', carol, /You pushed or wrote this change; someone else has to approve it/],
      ['unsigned', base, /does not identify an approver/],
    ];
    for (const [name, url, message] of checks) {
      const page = await handler(event('GET', url));
      expect(page.body, name).toMatch(message);
      const token = JSON.parse((await handler(event('GET', url, { headers: { accept: 'application/json' } }))).body).formToken as string;
      const result = await handler(event('POST', url, { form: { decision: 'approve', form_token: token } }));
      expect(result.statusCode, name).toBe(403);
      expect(result.body, name).toMatch(message);
    }
    expect((await approvalRecord(approvalId))?.status).toBe('pending');
    expect(sfn.calls()).toHaveLength(0);
  });

  it('after its timeout the link says expired and a decision is 409, nothing resumed', async () => {
    const { approvalId } = await requestApproval('run-expired');
    const alice = slackButtons(slack.messages[0]!)[0]!.url;
    const handler = approvalsLambda();
    now = new Date(now.getTime() + 86400_000 + 1000);
    const page = await handler(event('GET', alice));
    expect(page.body).toContain('This approval expired at');
    const token = JSON.parse((await handler(event('GET', alice, { headers: { accept: 'application/json' } }))).body).formToken as string;
    const result = await handler(event('POST', alice, { form: { decision: 'approve', form_token: token } }));
    expect(result.statusCode).toBe(409);
    expect(result.body).toContain('<h1>Expired</h1>');
    expect(result.body).toContain('nothing will be applied to apps');
    expect((await approvalRecord(approvalId))?.status).toBe('pending');
    expect(sfn.calls()).toHaveLength(0);
  });

  it('reject resumes the execution with tfgate.Rejected and the reason', async () => {
    const { approvalId } = await requestApproval('run-reject');
    const alice = slackButtons(slack.messages[0]!)[1]!.url;
    const handler = approvalsLambda();
    const result = await handler(event('POST', alice, { form: { decision: 'reject', reason: 'wrong window', form_token: formTokenOf((await handler(event('GET', alice))).body) } }));
    expect(result.statusCode).toBe(200);
    const failure = sfn.commandCalls(SendTaskFailureCommand)[0]!.args[0].input;
    expect(failure).toMatchObject({ taskToken: TOKEN, error: 'tfgate.Rejected', cause: 'by alice@example.com: wrong window' });
    expect(await approvalRecord(approvalId)).toMatchObject({ status: 'rejected', reason: 'wrong window' });
  });

  it('answers 503 without the link key instead of treating every link as unsigned', async () => {
    secrets.reset();
    secrets.on(GetSecretValueCommand).rejects(new Error('AccessDeniedException'));
    const result = await approvalsLambda()(event('GET', `${APPROVALS_URL}approvals/${'0'.repeat(32)}`));
    expect(result.statusCode).toBe(503);
  });
});
