import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendEmailCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createApprovalsLambda } from '../../lambdas/web/lambda.js';
import type { FunctionUrlEvent, FunctionUrlResult } from '../../src/adapters/aws/function-url.js';
import { seal } from '../../src/auth/session.js';
import { parseConfig } from '../../src/config/load.js';
import { encodeResolvedConfig } from '../../src/config/resolved.js';
import type { Clock, VcsClient } from '../../src/domain/ports.js';
import { anApproval, aPlanSummary, aRun, aStage } from '../support/builders.js';
import { useDynalite } from '../support/dynalite.js';

/**
 * The holes of issue 20's sign-in, through the AWS approvals function (function URL events, cookies, dynalite,
 * SES, Step Functions and Lambda mocked): an email sign-in that no binding ties to a login, bound sign-ins, sign-out,
 * link-request limits, answering before the lookup and the mail, `next=` values and `Origin: null`.
 */

const SESSION_KEY = 'session-key-from-secrets-manager';
const SESSION_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:tfgate-session-AbCdEf';
const URL_BASE = 'https://abc123.lambda-url.us-east-1.on.aws';
const SELF = 'tfgate-Default-ApprovalsFunction-AbCdEf';
const PLAN_SHA = 'c'.repeat(64);

function yaml(people: string): string {
  return `repositories:
  - name: acme/infrastructure
    environments:
      - name: apps
        approval:
          approvers: [mallory@corp.example, bob@example.com, "@alice", "@acme/platform"]
notifications:
  email: { from: tfgate@example.com }
${people}`;
}
const UNBOUND = yaml('');
const BOUND = yaml(`people:
  - github: mallory
    emails: [mallory@corp.example, mallory@home.example]
  - github: alice
    emails: [alice@example.com]
  - github: dave
    emails: [dave@example.com]
`);

const sfn = mockClient(SFNClient);
const ses = mockClient(SESv2Client);
const secrets = mockClient(SecretsManagerClient);
const lambdaService = mockClient(LambdaClient);
const dynamo = useDynalite();
let now = new Date('2026-05-04T10:00:00.000Z');
const clock: Clock = { now: () => now };
let delivered = 0;
const teamQuestions: string[] = [];

beforeEach(() => {
  for (const mock of [sfn, ses, secrets, lambdaService]) mock.reset();
  sfn.on(SendTaskSuccessCommand).resolves({});
  ses.on(SendEmailCommand).resolves({ MessageId: 'id' });
  secrets.on(GetSecretValueCommand, { SecretId: SESSION_ARN }).resolves({ SecretString: SESSION_KEY });
  lambdaService.on(InvokeCommand).resolves({ StatusCode: 202 });
  delivered = 0;
  teamQuestions.length = 0;
  now = new Date('2026-05-04T10:00:00.000Z');
});

type Handler = ReturnType<typeof createApprovalsLambda>;

function approvalsLambda(config = UNBOUND): Handler {
  // tfgate's own GitHub client: only team membership is asked here (dave is on @acme/platform).
  const vcs = {
    isTeamMember: async (org: string, team: string, login: string) => {
      teamQuestions.push(`${org}/${team}:${login}`);
      return `${org}/${team}` === 'acme/platform' && login === 'dave';
    },
  } as unknown as VcsClient;
  return createApprovalsLambda({
    env: {
      RUNS_TABLE: dynamo.tables.runs,
      APPROVALS_TABLE: dynamo.tables.approvals,
      DELIVERIES_TABLE: dynamo.tables.deliveries,
      ARTIFACTS_BUCKET: 'tfgate-artifacts-123',
      CONFIG: encodeResolvedConfig(parseConfig(config)),
      SESSION_SECRET_ARN: SESSION_ARN,
      SES_FROM: 'tfgate@example.com',
      AWS_LAMBDA_FUNCTION_NAME: SELF,
    },
    dynamo: dynamo.doc,
    sfn: new SFNClient({ region: 'us-east-1' }),
    ses: new SESv2Client({ region: 'us-east-1' }),
    secretsManager: new SecretsManagerClient({ region: 'us-east-1' }),
    lambda: new LambdaClient({ region: 'us-east-1' }),
    artifacts: { put: async () => undefined, get: async () => undefined },
    vcs,
    clock,
    log: () => undefined,
  });
}

function event(
  method: string,
  path: string,
  options: { form?: Record<string, string>; session?: string; headers?: Record<string, string>; ip?: string } = {},
): FunctionUrlEvent {
  const url = new URL(path, URL_BASE);
  return {
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers: {
      host: url.host,
      ...(options.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      ...options.headers,
    },
    ...(options.session ? { cookies: [options.session] } : {}),
    ...(options.form ? { body: new URLSearchParams(options.form).toString() } : {}),
    requestContext: { http: { method, sourceIp: options.ip ?? '192.0.2.10' } },
  };
}

/** What Lambda does with the function's asynchronous invocations of itself: runs each queued one, in order. */
async function runQueuedInvocations(handler: Handler): Promise<void> {
  const calls = lambdaService.commandCalls(InvokeCommand);
  for (; delivered < calls.length; delivered++) {
    const input = calls[delivered]!.args[0].input;
    expect(input).toMatchObject({ FunctionName: SELF, InvocationType: 'Event' });
    await handler(JSON.parse(Buffer.from(input.Payload as Uint8Array).toString('utf8')));
  }
}

function mailsTo(address: string): string[] {
  return ses
    .commandCalls(SendEmailCommand)
    .map((call) => call.args[0].input)
    .filter((input) => input.Destination?.ToAddresses?.[0] === address)
    .map((input) => input.Content!.Simple!.Body!.Text!.Data!);
}

async function askForLink(handler: Handler, email: string, extra: Record<string, string> = {}, ip?: string) {
  return handler(event('POST', '/auth/email', { form: { email, ...extra }, ...(ip ? { ip } : {}) }));
}

/** The confirm page's token from the newest mail to `email`. */
function tokenFromMail(email: string): string {
  const mail = mailsTo(email).at(-1);
  if (!mail) throw new Error(`no sign-in mail to ${email}`);
  return decodeURIComponent(/\/auth\/email\/confirm\?token=(\S+)/.exec(mail)![1]!);
}

async function confirm(handler: Handler, token: string, headers: Record<string, string> = {}) {
  return handler(event('POST', '/auth/email/confirm', { form: { token }, headers }));
}

function sessionOf(result: FunctionUrlResult): string {
  const cookie = result.cookies?.find((c) => c.startsWith('tfgate_session='));
  if (!cookie) throw new Error(`no session (${result.statusCode}): ${result.body.slice(0, 300)}`);
  return cookie.split(';')[0]!;
}

/** Signs in by an emailed link the way a person does. */
async function signIn(handler: Handler, email: string): Promise<string> {
  expect((await askForLink(handler, email)).statusCode).toBe(200);
  await runQueuedInvocations(handler);
  return sessionOf(await confirm(handler, tokenFromMail(email)));
}

/** Mallory pushed (GitHub login) and wrote the commit under her home address; she is an approver by work address. */
async function mallorysPush(id = 'e'.repeat(32)) {
  const at = now.toISOString();
  const people = { logins: ['mallory'], emails: ['mallory@home.example'] };
  await dynamo.stores.runs.create(
    aRun({
      id: 'run-mallory',
      createdAt: at,
      pusher: 'mallory',
      people,
      stages: [aStage('apps', { status: 'awaiting_approval', plan: aPlanSummary({ add: 1, sha256: PLAN_SHA }) })],
    }),
  );
  await dynamo.stores.approvals.create(
    anApproval({
      id,
      runId: 'run-mallory',
      planSha256: PLAN_SHA,
      createdAt: at,
      approvers: ['mallory@corp.example', 'bob@example.com', '@alice', '@acme/platform'],
      people,
    }),
  );
  return `/approvals/${id}`;
}

async function decide(handler: Handler, path: string, session: string) {
  const page = await handler(event('GET', path, { session, headers: { accept: 'application/json' } }));
  const { formToken } = JSON.parse(page.body) as { formToken: string };
  return handler(event('POST', path, { session, form: { decision: 'approve', form_token: formToken } }));
}

describe('people, not strings', () => {
  it("refuses Mallory's email-link approval of her own push, with the reason; nothing resumes", async () => {
    const handler = approvalsLambda(UNBOUND);
    const path = await mallorysPush();
    const mallory = await signIn(handler, 'mallory@corp.example');
    const page = await handler(event('GET', path, { session: mallory }));
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('You signed in by email as mallory@corp.example, which no people: entry');
    expect(page.body).toContain('Bind your address to your GitHub login under people: in tfgate.yaml, or sign in');
    expect(page.body).not.toContain('name="decision"');
    const posted = await decide(handler, path, mallory);
    expect(posted.statusCode).toBe(403);
    expect(posted.body).toContain('(@mallory, 1 commit address)');
    expect((await dynamo.stores.approvals.get(path.slice(11)))?.status).toBe('pending');
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
  });

  it('a bound address is the same person as the login: Mallory refused by it, Alice approves by it', async () => {
    const handler = approvalsLambda(BOUND);
    const path = await mallorysPush();
    const mallory = await signIn(handler, 'mallory@corp.example');
    const refused = await decide(handler, path, mallory);
    expect(refused.statusCode).toBe(403);
    expect(refused.body).toContain('your address is bound to @mallory under people:');
    // Alice is listed only as @alice: her bound address lets her sign in by email, as @alice.
    const alice = await signIn(handler, 'alice@example.com');
    const page = await handler(event('GET', path, { session: alice }));
    expect(page.body).toContain('<span id="signed-in-as">@alice</span>');
    const approved = await decide(handler, path, alice);
    expect(approved.statusCode).toBe(200);
    expect(approved.body).toContain('Approved by @alice');
    expect(await dynamo.stores.approvals.get(path.slice(11))).toMatchObject({
      status: 'approved',
      decidedBy: '@alice',
    });
    expect(JSON.parse(sfn.commandCalls(SendTaskSuccessCommand)[0]!.args[0].input.output!)).toMatchObject({
      approvedBy: '@alice',
    });
  });

  it('a bound address takes on its login for team membership too (asked after the answer)', async () => {
    const handler = approvalsLambda(BOUND);
    const asked = await askForLink(handler, 'dave@example.com');
    expect(asked.statusCode).toBe(200);
    expect(teamQuestions).toEqual([]);
    await runQueuedInvocations(handler);
    expect(teamQuestions).toEqual(['acme/platform:dave']);
    expect(mailsTo('dave@example.com')).toHaveLength(1);
  });
});

describe('sessions', () => {
  it('sign-out ends the session on the server: the old cookie is signed out at once, on any instance', async () => {
    const handler = approvalsLambda();
    const bob = await signIn(handler, 'bob@example.com');
    const runs = () => handler(event('GET', '/runs', { session: bob, headers: { accept: 'application/json' } }));
    expect((await runs()).statusCode).toBe(200);
    const out = await handler(event('POST', '/auth/sign-out', { session: bob, headers: { origin: URL_BASE } }));
    expect(out.statusCode).toBe(303);
    expect(out.cookies).toEqual(['tfgate_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure']);
    // The browser forgot the cookie; a copy of it (another tab, a stolen one) is what is tried now.
    expect((await runs()).statusCode).toBe(401);
    const anotherInstance = approvalsLambda();
    const page = await anotherInstance(event('GET', '/runs', { session: bob }));
    expect(page.statusCode).toBe(303);
    expect(page.headers.location).toBe('/auth/sign-in?next=%2Fruns');
    // Signing out twice is harmless; signing in again gives a new, working session.
    expect((await handler(event('POST', '/auth/sign-out', { session: bob }))).statusCode).toBe(303);
    const again = await signIn(handler, 'bob@example.com');
    expect(
      (await handler(event('GET', '/runs', { session: again, headers: { accept: 'application/json' } }))).statusCode,
    ).toBe(200);
  });

  it('the sixth link request for one address within 15 minutes is 429 and sends nothing', async () => {
    const handler = approvalsLambda();
    for (let i = 0; i < 5; i++) expect((await askForLink(handler, 'bob@example.com')).statusCode).toBe(200);
    const sixth = await askForLink(handler, 'Bob@Example.com', {}, '198.51.100.99');
    expect(sixth.statusCode).toBe(429);
    expect(Number(sixth.headers['retry-after'])).toBeGreaterThan(0);
    expect(sixth.body).toContain('Too many sign-in links');
    // An unlisted address is limited the same way (the limit says nothing about who is listed).
    for (let i = 0; i < 5; i++) await askForLink(handler, 'nobody@example.com');
    expect((await askForLink(handler, 'nobody@example.com')).statusCode).toBe(429);
    expect(lambdaService.commandCalls(InvokeCommand)).toHaveLength(10);
    await runQueuedInvocations(handler);
    expect(mailsTo('bob@example.com')).toHaveLength(5);
    // The next window opens again.
    now = new Date(now.getTime() + 15 * 60_000);
    expect((await askForLink(handler, 'bob@example.com')).statusCode).toBe(200);
  });

  it('the 31st link request from one client (its source IP, not a header) within 15 minutes is 429', async () => {
    const handler = approvalsLambda();
    const from = '203.0.113.7';
    for (let i = 0; i < 30; i++) {
      const answer = await handler(
        event('POST', '/auth/email', {
          form: { email: `person${i}@example.com` },
          ip: from,
          headers: { 'x-forwarded-for': `10.0.0.${i}` },
        }),
      );
      expect(answer.statusCode).toBe(200);
    }
    const refused = await handler(
      event('POST', '/auth/email', {
        form: { email: 'bob@example.com' },
        ip: from,
        headers: { 'x-forwarded-for': '10.9.9.9' },
      }),
    );
    expect(refused.statusCode).toBe(429);
    expect(lambdaService.commandCalls(InvokeCommand)).toHaveLength(30);
    await runQueuedInvocations(handler);
    expect(mailsTo('bob@example.com')).toHaveLength(0);
    expect((await askForLink(handler, 'bob@example.com', {}, '198.51.100.1')).statusCode).toBe(200);
  });

  it('listed and unlisted addresses get the same answer, sent before the lookup or the mail', async () => {
    const handler = approvalsLambda(BOUND);
    const listed = await askForLink(handler, 'bob@example.com');
    const unlisted = await askForLink(handler, 'mallory@example.com');
    const team = await askForLink(handler, 'dave@example.com');
    for (const answer of [unlisted, team]) {
      expect(answer.statusCode).toBe(listed.statusCode);
      expect(answer.body).toBe(listed.body);
      expect(answer.headers).toEqual(listed.headers);
    }
    // Answered: no mail sent, no team asked, one hand-off each (listed or not).
    expect(ses.commandCalls(SendEmailCommand)).toHaveLength(0);
    expect(teamQuestions).toEqual([]);
    expect(lambdaService.commandCalls(InvokeCommand)).toHaveLength(3);
    await runQueuedInvocations(handler);
    expect(mailsTo('bob@example.com')).toHaveLength(1);
    expect(mailsTo('dave@example.com')).toHaveLength(1);
    expect(mailsTo('mallory@example.com')).toHaveLength(0);
    // An event that is not the function's own job is dropped: nothing is mailed for it.
    await handler({ tfgateSignInLink: { email: 'bob@example.com', link: 'https://evil.example/steal' } } as never);
    expect(mailsTo('bob@example.com')).toHaveLength(1);
  });

  it('next= outside Latin-1, absolute or //host: never elsewhere, never 500, never a spent link', async () => {
    const handler = approvalsLambda();
    // Asked for with a bad next: the link leads to /runs.
    for (const next of ['/runs/é', '/runs/\u2603', '//evil.example/x', 'https://evil.example/', '/\\evil', '/a\tb']) {
      expect((await askForLink(handler, 'bob@example.com', { next })).statusCode).toBe(200);
      await runQueuedInvocations(handler);
      const confirmed = await confirm(handler, tokenFromMail('bob@example.com'));
      expect(confirmed.statusCode, next).toBe(303);
      expect(confirmed.headers.location, next).toBe('/runs');
      now = new Date(now.getTime() + 15 * 60_000);
    }
    const page = await handler(event('GET', '/auth/sign-in?next=%2F%2Fevil.example'));
    expect(page.body).toContain('name="next" value="/runs"');
    // A link that carries a bad next (made before this rule): refused before it is used up, and refused again.
    for (const next of ['/runs/é', '/runs/\u2603', '//evil.example']) {
      const nonce = `n${next.length}${next.charCodeAt(next.length - 1)}`;
      const token = seal(SESSION_KEY, 'email-link', {
        email: 'bob@example.com',
        next,
        nonce,
        exp: Math.floor(now.getTime() / 1000) + 600,
      });
      for (const attempt of [1, 2]) {
        const answer = await confirm(handler, token);
        expect(answer.statusCode, `${next} #${attempt}`).toBe(400);
        expect(answer.cookies, next).toBeUndefined();
        expect(answer.body).toContain('not on this site, so it was not used');
      }
      expect(await dynamo.stores.deliveries.get(`sign-in-link:${nonce}`)).toBeUndefined();
      expect((await handler(event('GET', `/auth/email/confirm?token=${encodeURIComponent(token)}`))).statusCode).toBe(
        400,
      );
    }
  });

  it('a POST with Origin: null and no Sec-Fetch-Site is cross-site and refused on every form', async () => {
    const handler = approvalsLambda();
    const path = await mallorysPush();
    const bob = await signIn(handler, 'bob@example.com');
    const nullOrigin = { origin: 'null' };
    expect((await askForLink(handler, 'bob@example.com', {}, undefined)).statusCode).toBe(200);
    await runQueuedInvocations(handler);
    const token = tokenFromMail('bob@example.com');
    const before = lambdaService.commandCalls(InvokeCommand).length;
    const ask = await handler(
      event('POST', '/auth/email', { form: { email: 'bob@example.com' }, headers: nullOrigin }),
    );
    expect(ask.statusCode).toBe(403);
    expect(lambdaService.commandCalls(InvokeCommand)).toHaveLength(before);
    expect((await confirm(handler, token, nullOrigin)).statusCode).toBe(403);
    const page = await handler(event('GET', path, { session: bob, headers: { accept: 'application/json' } }));
    const { formToken } = JSON.parse(page.body) as { formToken: string };
    const decided = await handler(
      event('POST', path, { session: bob, form: { decision: 'approve', form_token: formToken }, headers: nullOrigin }),
    );
    expect(decided.statusCode).toBe(403);
    expect((await dynamo.stores.approvals.get(path.slice(11)))?.status).toBe('pending');
    expect((await handler(event('POST', '/auth/sign-out', { session: bob, headers: nullOrigin }))).statusCode).toBe(
      403,
    );
    // The link was not spent by the refused confirm; the browser's own post (its origin) still works.
    const own = await confirm(handler, token, { origin: URL_BASE });
    expect(own.statusCode).toBe(303);
    expect(
      (await handler(event('GET', '/runs', { session: bob, headers: { accept: 'application/json' } }))).statusCode,
    ).toBe(200);
  });
});
