import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeGitHub, type FakeGitHub } from '../github/fake-github.js';
import {
  nextApproval,
  pushChange,
  runForSha,
  sendPush,
  startTestStack,
  terraformFiles,
  waitForRun,
  type TestStack,
} from '../support/local-stack.js';

/**
 * People signing in as they would, in headless Chromium, against a local stand-in for GitHub (the
 * OAuth web flow under the stand-in's root, the API under /api/v3 as on GitHub Enterprise Server):
 * the approver approves, the pusher is refused (by GitHub login, though the commit carries another of
 * their addresses), someone not listed cannot get in, a team member is accepted, forged, replayed and
 * cross-site decisions are refused, and without a session no route says anything about a run.
 */

const CHROMIUM = '/usr/bin/chromium';
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
let profile: string;

beforeAll(async () => {
  github = await startFakeGitHub();
  github.users.set('alice', { emails: [{ email: 'alice@example.com', verified: true }] });
  // Bob pushes; GitHub knows his noreply address as his, so his commit's author resolves to @bob.
  github.users.set('bob', {
    emails: [
      { email: 'bob@example.com', verified: true },
      { email: '1234+bob@users.noreply.github.com', verified: true },
    ],
  });
  github.users.set('dave', { emails: [{ email: 'dave@example.com', verified: true }] });
  github.users.set('mallory', {
    emails: [
      { email: 'mallory@example.com', verified: true },
      { email: 'alice@example.com', verified: false },
    ],
  });
  github.teams.set('acme/platform', ['dave']);
  stack = await startTestStack({
    config: [
      'repositories:',
      '  - name: acme/infrastructure',
      '    environments:',
      '      - name: apps',
      '        approval:',
      '          approvers: ["@alice", "@bob", "@acme/platform"]',
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
    },
  });
  profile = await mkdtemp(path.join(os.tmpdir(), 'tfgate-chromium-'));
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await stack?.cleanup();
  await github?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

/** A fresh browser (its own cookies) signed in to the fake GitHub as `login`, then to tfgate at `path`. */
async function signedInBrowser(
  login: string,
  start: string,
): Promise<{ context: BrowserContext; page: Page; status: number }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  github.signedInAs = login;
  const opened = await page.goto(`${stack.url}${start}`);
  expect(opened?.status()).toBe(200);
  expect(await page.title()).toBe('Sign in to tfgate');
  const [answer] = await Promise.all([
    page.waitForNavigation(),
    page.getByRole('button', { name: 'Sign in with GitHub' }).click(),
  ]);
  return { context, page, status: answer?.status() ?? 0 };
}

async function pushByBob(marker: string): Promise<{ runId: string; approvalUrl: string; approvalId: string }> {
  const requested = nextApproval(stack);
  const sha = await pushChange(stack, terraformFiles({ marker }), {
    message: `Set the marker to ${marker}`,
    quiet: true,
  });
  const sent = await sendPush(stack, sha, {
    pusher: 'bob',
    author: { email: '1234+bob@users.noreply.github.com', username: 'bob' },
    message: `Set the marker to ${marker}`,
  });
  expect(sent.status).toBe(202);
  const run = await runForSha(stack, sha);
  const request = await requested;
  return { runId: run.id, approvalUrl: request.url, approvalId: request.approval.id };
}

describe('GitHub sign-in in a browser', () => {
  it('without a session no route shows run data; someone not listed cannot sign in', async () => {
    const { runId, approvalId } = await pushByBob('anonymous');
    for (const route of ['/runs', `/runs/${runId}`, `/approvals/${approvalId}`]) {
      const html = await fetch(`${stack.url}${route}`, { redirect: 'manual' });
      expect(html.status, route).toBe(303);
      const api = await fetch(`${stack.url}${route}`, { headers: { accept: 'application/json' } });
      expect(api.status, route).toBe(401);
      const bodies = `${(await html.text()).replace(encodeURIComponent(route), '')}${await api.text()}`;
      for (const secret of [runId, approvalId, 'marker', 'acme/infrastructure'])
        expect(bodies, route).not.toContain(secret);
    }
    // The browser follows the redirect to the sign-in page, which shows nothing about the run either.
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${stack.url}/runs/${runId}`);
    expect(await page.title()).toBe('Sign in to tfgate');
    // Only the path that was asked for is kept (to return there after signing in).
    const signInPage = (await page.content())
      .replaceAll(encodeURIComponent(`/runs/${runId}`), '')
      .replaceAll(`/runs/${runId}`, '');
    for (const secret of [runId.slice(0, 8), 'marker', 'acme/infrastructure']) expect(signInPage).not.toContain(secret);

    // Mallory signs in at GitHub (with an unverified claim to Alice's address): tfgate refuses her.
    const mallory = await signedInBrowser('mallory', `/approvals/${approvalId}`);
    expect(mallory.status).toBe(403);
    expect(await mallory.page.locator('#sign-in-message').innerText()).toBe(
      '@mallory is not an approver or viewer in tfgate.yaml.',
    );
    expect((await mallory.context.cookies()).map((c) => c.name)).not.toContain('tfgate_session');
    const after = await mallory.page.goto(`${stack.url}/runs`);
    expect(await after?.text()).not.toContain(runId);
    await mallory.context.close();
    await context.close();
  });

  it(
    'the pusher is refused by login (the commit carries another of his addresses); a team member ' +
      'is accepted; forged, replayed and cross-site posts are refused; an approver approves',
    async () => {
      const { runId, approvalUrl, approvalId } = await pushByBob('signed-in');
      const path = new URL(approvalUrl).pathname;

      // Bob pushed (and wrote the commit under his noreply address): he sees the plan, not the buttons.
      const bob = await signedInBrowser('bob', path);
      expect(bob.status).toBe(200);
      expect(await bob.page.title()).toBe('Approve apps for acme/infrastructure');
      expect(await bob.page.locator('#signed-in-as').innerText()).toBe('@bob');
      expect(await bob.page.locator('.notice').innerText()).toBe(
        'You pushed or wrote this change (by your GitHub login); someone else has to approve it.',
      );
      expect(await bob.page.getByRole('button', { name: 'Approve and apply' }).count()).toBe(0);
      // Posting anyway, with a field from his own session, is refused too.
      const bobToken = (
        (await (await bob.page.request.get(approvalUrl, { headers: { accept: 'application/json' } })).json()) as {
          formToken: string;
        }
      ).formToken;
      const forcedByBob = await bob.page.request.post(approvalUrl, {
        form: { decision: 'approve', form_token: bobToken },
      });
      expect(forcedByBob.status()).toBe(403);

      // Dave is on the list through the @acme/platform team (asked of GitHub now): he may decide.
      const dave = await signedInBrowser('dave', path);
      expect(dave.status).toBe(200);
      expect(await dave.page.locator('#signed-in-as').innerText()).toBe('@dave');
      expect(await dave.page.getByRole('button', { name: 'Approve and apply' }).count()).toBe(1);
      const daveToken = await dave.page.locator('input[name="form_token"]').getAttribute('value');

      // Forged: Dave's session with a field whose signature was altered.
      const [issued, mac] = daveToken!.split('.');
      const forged = await dave.page.request.post(approvalUrl, {
        form: { decision: 'approve', form_token: `${issued}.${mac!.slice(0, -3)}AAA` },
      });
      expect(forged.status()).toBe(403);
      // Replayed into another session: Bob's browser posting Dave's field.
      const replayed = await bob.page.request.post(approvalUrl, {
        form: { decision: 'approve', form_token: daveToken! },
      });
      expect(replayed.status()).toBe(403);
      // Cross-site: a page elsewhere auto-submits the form with a valid field into Dave's browser.
      await dave.context.route('http://elsewhere.test/**', (route) =>
        route.fulfill({
          contentType: 'text/html',
          body:
            `<form id="f" method="post" action="${approvalUrl}"><input name="decision" value="approve"><input ` +
            `name="form_token" value="${daveToken}"></form><script>document.getElementById('f').submit()</script>`,
        }),
      );
      const attacker = await dave.context.newPage();
      const [crossSite] = await Promise.all([
        attacker.waitForResponse((response) => response.url() === approvalUrl),
        attacker.goto('http://elsewhere.test/'),
      ]);
      expect([401, 403]).toContain(crossSite.status());
      expect((await stack.stores.approvals.get(approvalId))?.status).toBe('pending');

      // Alice approves in her own browser; the run applies.
      const alice = await signedInBrowser('alice', path);
      expect(await alice.page.locator('#signed-in-as').innerText()).toBe('@alice');
      await Promise.all([
        alice.page.waitForNavigation(),
        alice.page.getByRole('button', { name: 'Approve and apply' }).click(),
      ]);
      expect(await alice.page.locator('#decision-result').innerText()).toBe(
        'Approved by @alice. The saved plan is being applied to apps.',
      );
      const cookie = (await alice.context.cookies()).find((c) => c.name === 'tfgate_session')!;
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', secure: false });
      const finished = await waitForRun(stack, runId);
      expect(finished.status).toBe('succeeded');
      expect(finished.stages[0]).toMatchObject({ status: 'applied', approval: { status: 'approved', by: '@alice' } });

      // Replayed after the decision: Dave's valid field, his own session, is a 409 and changes nothing.
      const late = await dave.page.request.post(approvalUrl, { form: { decision: 'reject', form_token: daveToken! } });
      expect(late.status()).toBe(409);
      expect(stack.lines.join('\n')).toMatch(/decision refused .*"who":"@bob"/);
      for (const context of [bob.context, dave.context, alice.context]) await context.close();
    },
  );
});
