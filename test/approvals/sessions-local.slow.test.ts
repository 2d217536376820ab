import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seal } from '../../src/auth/session.js';
import { startFakeGitHub, type FakeGitHub } from '../github/fake-github.js';
import {
  nextApproval,
  pushChange,
  runForSha,
  sendPush,
  startTestStack,
  terraformFiles,
  until,
  waitForRun,
  type TestStack,
} from '../support/local-stack.js';

/**
 * Issue 20's sign-in holes against `tfgate local`'s real server: form posts with cookies, and headless Chromium
 * where a browser shows what a form post cannot (GitHub and email sign-ins of one person side by side, the sign-out
 * button, a restored cookie). Each of these failed on main.
 */

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

let github: FakeGitHub;
let stack: TestStack;
let browser: Browser;
const mails: Array<{ to: string; link: string }> = [];
/** While set, the mailer waits on it: the link request must be answered anyway. */
let holdMail: Promise<void> | undefined;
let mailStarted = 0;

beforeAll(async () => {
  github = await startFakeGitHub();
  github.users.set('alice', { emails: [{ email: 'alice@example.com', verified: true }] });
  github.users.set('bob', { emails: [{ email: 'bob@example.com', verified: true }] });
  stack = await startTestStack({
    config: [
      'repositories:',
      '  - name: acme/infrastructure',
      '    environments:',
      '      - name: apps',
      '        approval:',
      '          approvers: [mallory@corp.example, "@alice", "@bob", carol@example.com, dave@example.com]',
      'people:',
      '  - github: alice',
      '    emails: [alice@corp.example]',
      'github:',
      `  apiUrl: ${github.apiUrl}`,
      '',
    ].join('\n'),
    github: { credentials: { kind: 'token', token: 'ghp_tfgate_own_token' }, retry: { attempts: 1 } },
    signIn: {
      github: {
        clientId: github.oauthApp.clientId,
        clientSecret: github.oauthApp.clientSecret,
        clientType: 'oauth-app',
      },
      mail: {
        async sendSignInLink(to, link) {
          mailStarted += 1;
          await holdMail;
          mails.push({ to, link });
        },
      },
    },
  });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ARGS });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await stack?.cleanup();
  await github?.close();
});

const form = (fields: Record<string, string>, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  body: new URLSearchParams(fields).toString(),
  redirect: 'manual' as const,
});

async function askForLink(email: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}) {
  return fetch(`${stack.url}/auth/email`, form({ email, ...extra }, headers));
}

async function linkFor(email: string): Promise<string> {
  const mail = await until(`a sign-in mail to ${email}`, () => mails.filter((m) => m.to === email).at(-1));
  return decodeURIComponent(/token=(\S+)$/.exec(mail.link)![1]!);
}

async function confirm(token: string, headers: Record<string, string> = {}) {
  return fetch(`${stack.url}/auth/email/confirm`, form({ token }, headers));
}

async function emailSession(email: string): Promise<string> {
  const before = mails.length;
  expect((await askForLink(email)).status).toBe(200);
  await until('the mail', () => (mails.length > before ? true : undefined));
  const answer = await confirm(await linkFor(email));
  expect(answer.status).toBe(303);
  return answer.headers
    .getSetCookie()
    .find((c) => c.startsWith('tfgate_session='))!
    .split(';')[0]!;
}

async function pushBy(login: string, address: string, marker: string) {
  const requested = nextApproval(stack);
  const sha = await pushChange(stack, terraformFiles({ marker }), { message: marker, quiet: true });
  const sent = await sendPush(stack, sha, {
    pusher: login,
    pusherEmail: address,
    author: { email: address, username: login },
  });
  expect(sent.status).toBe(202);
  const run = await runForSha(stack, sha);
  const request = await requested;
  return { runId: run.id, url: request.url, id: request.approval.id };
}

async function approveWith(url: string, cookie: string) {
  const page = await fetch(url, { headers: { cookie, accept: 'application/json' } });
  const { formToken } = (await page.json()) as { formToken: string };
  return fetch(url, {
    ...form({ decision: 'approve', form_token: formToken }),
    headers: { ...form({}).headers, cookie },
  });
}

describe('people, not strings (tfgate local, form posts with cookies)', () => {
  it("Mallory's email-link self-approval is refused with the reason; Alice's bound address approves", async () => {
    const push = await pushBy('mallory', 'mallory@home.example', 'by-mallory');
    const mallory = await emailSession('mallory@corp.example');
    const page = await (await fetch(push.url, { headers: { cookie: mallory } })).text();
    expect(page).toContain('You signed in by email as mallory@corp.example, which no people: entry');
    const refused = await approveWith(push.url, mallory);
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('Bind your address to your GitHub login under people: in tfgate.yaml');
    expect((await stack.stores.approvals.get(push.id))?.status).toBe('pending');

    const alice = await emailSession('alice@corp.example');
    expect(await (await fetch(push.url, { headers: { cookie: alice } })).text()).toContain(
      '<span id="signed-in-as">@alice</span>',
    );
    const approved = await approveWith(push.url, alice);
    expect(approved.status).toBe(200);
    const finished = await waitForRun(stack, push.runId);
    expect(finished.stages[0]).toMatchObject({ status: 'applied', approval: { status: 'approved', by: '@alice' } });
  });
});

describe('sessions (tfgate local, form posts with cookies)', () => {
  it('link requests: answered before the mail, alike for every address, limited per address', async () => {
    holdMail = new Promise<void>(() => undefined);
    const startedBefore = mailStarted;
    const listed = await askForLink('carol@example.com');
    const unlisted = await askForLink('nobody@example.com');
    expect(listed.status).toBe(200);
    expect(await unlisted.text()).toBe(await listed.text());
    // Both answers are in while the mail to carol is still held.
    await until('the mail to start', () => (mailStarted > startedBefore ? true : undefined));
    expect(mails.filter((m) => m.to === 'carol@example.com')).toHaveLength(0);
    holdMail = undefined;
    for (let i = 0; i < 3; i++) expect((await askForLink('carol@example.com')).status).toBe(200);
    await until('three more mails to carol', () =>
      mails.filter((m) => m.to === 'carol@example.com').length >= 3 ? true : undefined,
    );
    // Five so far for carol (one still held); the sixth in the window is refused and sends nothing.
    expect((await askForLink('carol@example.com')).status).toBe(200);
    await until('the fifth request mailed', () =>
      mails.filter((m) => m.to === 'carol@example.com').length >= 4 ? true : undefined,
    );
    const sixth = await askForLink('carol@example.com');
    expect(sixth.status).toBe(429);
    expect(await sixth.text()).toContain('Too many sign-in links');
    const started = mailStarted;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mailStarted).toBe(started);
  });

  it('sign-out revokes the session: the old cookie is signed out at once', async () => {
    const dave = await emailSession('dave@example.com');
    expect((await fetch(`${stack.url}/runs`, { headers: { cookie: dave, accept: 'application/json' } })).status).toBe(
      200,
    );
    const out = await fetch(`${stack.url}/auth/sign-out`, {
      method: 'POST',
      headers: { cookie: dave, origin: stack.url },
      redirect: 'manual',
    });
    expect(out.status).toBe(303);
    expect((await fetch(`${stack.url}/runs`, { headers: { cookie: dave, accept: 'application/json' } })).status).toBe(
      401,
    );
  });

  it('bad next= values never answer 500 and a link carrying one stays unused; Origin: null is refused', async () => {
    for (const next of ['/runs/é', '/runs/\u2603', '//evil.example']) {
      const token = seal(stack.sessionKey, 'email-link', {
        email: 'dave@example.com',
        next,
        nonce: `local-${next.length}-${next.charCodeAt(next.length - 1)}`,
        exp: Math.floor(Date.now() / 1000) + 600,
      });
      const first = await confirm(token);
      expect(first.status, next).toBe(400);
      expect(first.headers.getSetCookie()).toEqual([]);
      expect((await confirm(token)).status, next).toBe(400);
    }
    const page = await fetch(`${stack.url}/auth/sign-in?next=%2Fruns%2F%C3%A9`);
    expect(await page.text()).toContain('name="next" value="/runs"');

    const nullOrigin = { origin: 'null' };
    expect((await askForLink('dave@example.com', {}, nullOrigin)).status).toBe(403);
    const before = mails.length;
    await askForLink('dave@example.com', { next: '/runs/é' });
    await until('the mail', () => (mails.length > before ? true : undefined));
    const token = await linkFor('dave@example.com');
    expect((await confirm(token, nullOrigin)).status).toBe(403);
    const used = await confirm(token, { origin: stack.url });
    expect(used.status).toBe(303);
    expect(used.headers.get('location')).toBe('/runs');
  });
});

describe('one person in a browser', () => {
  async function githubContext(login: string, path: string): Promise<BrowserContext> {
    const context = await browser.newContext();
    const page = await context.newPage();
    github.signedInAs = login;
    await page.goto(`${stack.url}${path}`);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in with GitHub' }).click()]);
    return context;
  }

  it('Alice by GitHub and by bound address is @alice both times, refused on her push; sign-out holds', async () => {
    const push = await pushBy('alice', 'alice@home.example', 'by-alice');
    const path = new URL(push.url).pathname;
    const byGitHub = await githubContext('alice', path);
    const githubPage = byGitHub.pages()[0]!;
    expect(await githubPage.locator('#signed-in-as').innerText()).toBe('@alice');
    expect(await githubPage.locator('.notice').innerText()).toContain('by your GitHub login');

    // By email, in another browser: the link is opened, the button pressed.
    const byEmail = await browser.newContext();
    const page = await byEmail.newPage();
    await page.goto(`${stack.url}${path}`);
    const before = mails.length;
    await page.locator('input[name="email"]').fill('alice@corp.example');
    await Promise.all([page.waitForNavigation(), page.locator('#email-sign-in').click()]);
    await until('the mail', () => (mails.length > before ? true : undefined));
    await page.goto(mails.at(-1)!.link);
    await Promise.all([page.waitForNavigation(), page.locator('#confirm-sign-in').click()]);
    expect(await page.locator('#signed-in-as').innerText()).toBe('@alice');
    expect(await page.locator('.notice').innerText()).toContain('your address is bound to @alice under people:');
    expect(await page.getByRole('button', { name: 'Approve and apply' }).count()).toBe(0);

    // Sign out with the button; the cookie, put back, is refused.
    const cookie = (await byEmail.cookies()).find((c) => c.name === 'tfgate_session')!;
    await page.goto(`${stack.url}/auth/sign-out`);
    await Promise.all([page.waitForNavigation(), page.locator('#sign-out').click()]);
    expect(await page.title()).toBe('Sign in to tfgate');
    await byEmail.addCookies([cookie]);
    await page.goto(`${stack.url}${path}`);
    expect(await page.title()).toBe('Sign in to tfgate');

    // Bob approves in his browser: the browser's own form post passes the origin check.
    const bob = await githubContext('bob', path);
    const bobPage = bob.pages()[0]!;
    await Promise.all([
      bobPage.waitForNavigation(),
      bobPage.getByRole('button', { name: 'Approve and apply' }).click(),
    ]);
    expect(await bobPage.locator('#decision-result').innerText()).toContain('Approved by @bob');
    expect((await waitForRun(stack, push.runId)).status).toBe('succeeded');
    for (const context of [byGitHub, byEmail, bob]) await context.close();
  });
});
