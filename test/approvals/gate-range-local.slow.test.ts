import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OAUTH_STATE_COOKIE } from '../../src/auth/session.js';
import { startFakeGitHub, type FakeGitHub } from '../github/fake-github.js';
import { runCli } from '../support/cli-process.js';
import {
  nextApproval,
  operatorHeaders,
  pushChange,
  runForSha,
  sendPush,
  startTestStack,
  statePath,
  terraformFiles,
  until,
  waitForRun,
  waitForStage,
  type TestStack,
} from '../support/local-stack.js';

/**
 * Issue 20's acceptance against `tfgate local`'s real pages (form posts with cookies, GitHub and email sign-ins):
 * Mallory's backdoor carried in by Carol's README push is still Mallory's change, on both runs and by both ways of
 * signing in; Bob applies it. Then re-runs: an old commit is refused unless asked for as a rollback, a rollback
 * waits for an approval before ops, and a re-run of the head is refused for whoever asked and approved by Bob.
 * With TFGATE_SCREENSHOTS=DIR the two-commit approval page is saved there (approval-range*.png) by headless Chromium.
 */

const SHOTS = process.env.TFGATE_SCREENSHOTS;

let github: FakeGitHub;
let stack: TestStack;
const mails: Array<{ to: string; link: string }> = [];

beforeAll(async () => {
  github = await startFakeGitHub();
  for (const login of ['bob', 'carol', 'dana', 'mallory'])
    github.users.set(login, { emails: [{ email: `${login}@example.com`, verified: true }] });
  stack = await startTestStack({
    config: [
      'repositories:',
      '  - name: acme/infrastructure',
      '    branch: main',
      '    environments:',
      '      - name: ops',
      '      - name: apps',
      '        approval:',
      '          approvers: ["@bob", "@carol", "@dana", "@mallory"]',
      '          timeout: 1h',
      'people:',
      '  - github: mallory',
      '    emails: [mallory@example.com, mallory@corp.example]',
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
          mails.push({ to, link });
        },
      },
    },
  });
}, 120_000);

afterAll(async () => {
  await stack?.cleanup();
  await github?.close();
});

const cookieOf = (response: Response, name: string) =>
  response.headers
    .getSetCookie()
    .find((c) => c.startsWith(`${name}=`))
    ?.split(';')[0];

/** Signs in through the OAuth web flow (the fake GitHub answers for `login`), following the redirects by hand. */
async function githubSession(login: string): Promise<string> {
  github.signedInAs = login;
  const begin = await fetch(`${stack.url}/auth/github?next=%2Fruns`, { redirect: 'manual' });
  expect(begin.status).toBe(302);
  const state = cookieOf(begin, OAUTH_STATE_COOKIE)!;
  const authorized = await fetch(begin.headers.get('location')!, { redirect: 'manual' });
  const back = await fetch(authorized.headers.get('location')!, { headers: { cookie: state }, redirect: 'manual' });
  expect(back.status, `GitHub sign-in of @${login}`).toBe(303);
  return cookieOf(back, 'tfgate_session')!;
}

/** Signs in by an emailed link: ask, read the mail, press the button. */
async function emailSession(email: string): Promise<string> {
  const before = mails.length;
  const asked = await fetch(`${stack.url}/auth/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ email, next: '/runs' }).toString(),
  });
  expect(asked.status).toBe(200);
  const mail = await until(`a sign-in mail to ${email}`, () => mails.slice(before).find((m) => m.to === email));
  const token = decodeURIComponent(/token=(\S+)$/.exec(mail.link)![1]!);
  const confirmed = await fetch(`${stack.url}/auth/email/confirm`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
    redirect: 'manual',
  });
  expect(confirmed.status).toBe(303);
  return cookieOf(confirmed, 'tfgate_session')!;
}

/** What the approval page shows this session, and the answer to posting its form. */
async function decide(url: string, cookie: string, decision: 'approve' | 'reject' = 'approve') {
  const html = await (await fetch(url, { headers: { cookie } })).text();
  const page = (await (await fetch(url, { headers: { cookie, accept: 'application/json' } })).json()) as {
    formToken: string;
  };
  const answer = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body: new URLSearchParams({ decision, form_token: page.formToken, reason: 'checked' }).toString(),
  });
  return { html, status: answer.status, body: await answer.text() };
}

/** A commit by `login` pushed to the bare repository, then announced by GitHub's signed push event. */
async function pushBy(login: string, files: Record<string, string>, message: string, before?: string) {
  const sha = await pushChange(stack, files, {
    message,
    quiet: true,
    author: { name: login, email: `${login}@example.com` },
  });
  const sent = await sendPush(stack, sha, {
    pusher: login,
    author: { email: `${login}@example.com`, username: login },
    message,
    ...(before ? { before } : {}),
  });
  expect(sent.status).toBe(202);
  return sha;
}

function rerunRoute(runId: string, cookie: string, body: object = {}) {
  return fetch(`${stack.url}/runs/${runId}/rerun`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie },
    body: JSON.stringify(body),
  });
}

const cli = (args: string[]) => runCli([...args, '--url', stack.url, '--data', stack.dataDir]);

const BASE = terraformFiles({ network: 'n' });
const BACKDOOR = terraformFiles({ network: 'n', backdoor: 'open' });
const WITH_README = { ...BACKDOOR, 'README.md': '# Infrastructure\n' };

describe('the change is a range, through the pages of tfgate local', () => {
  const runs: { base?: string; mallory?: string; carol?: string } = {};
  const shas: { base?: string; backdoor?: string; readme?: string } = {};

  it("Mallory is refused on her run and on Carol's, by GitHub and by email sign-in; Bob applies Carol's", {
    timeout: 600_000,
  }, async () => {
    const bob = await githubSession('bob');
    // A starting point apps has applied: the range of what follows is counted from it.
    const baseAsked = nextApproval(stack);
    shas.base = await pushBy('erin', BASE, 'Initial network');
    runs.base = (await runForSha(stack, shas.base)).id;
    expect((await decide((await baseAsked).url, bob)).status).toBe(200);
    expect((await waitForRun(stack, runs.base)).status).toBe('succeeded');

    const malloryByGitHub = await githubSession('mallory');
    const malloryByMail = await emailSession('mallory@corp.example');

    const malloryAsked = nextApproval(stack);
    shas.backdoor = await pushBy('mallory', BACKDOOR, 'Tune the network module', shas.base);
    runs.mallory = (await runForSha(stack, shas.backdoor)).id;
    const ownRun = (await malloryAsked).url;
    for (const [how, cookie] of [
      ['GitHub', malloryByGitHub],
      ['email', malloryByMail],
    ] as const) {
      const refused = await decide(ownRun, cookie);
      expect(refused.status, `Mallory by ${how} on her own run`).toBe(403);
      expect(refused.html).toContain('<span id="signed-in-as">@mallory</span>');
      expect(refused.html).not.toContain('Approve and apply');
    }

    // Carol's README change on top: apps is asked about both commits, and Mallory's run gives way.
    const carolAsked = nextApproval(stack);
    shas.readme = await pushBy('carol', WITH_README, 'README: typo', shas.backdoor);
    runs.carol = (await runForSha(stack, shas.readme)).id;
    const carolApproval = await carolAsked;
    expect(carolApproval.run.id).toBe(runs.carol);
    await until('Mallory’s run to give way', async () =>
      (await stack.runs.get(runs.mallory!))?.status === 'superseded' ? true : undefined,
    );
    const carolRun = carolApproval.url;
    for (const [how, cookie] of [
      ['GitHub', malloryByGitHub],
      ['email', malloryByMail],
    ] as const) {
      const refused = await decide(carolRun, cookie);
      expect(refused.status, `Mallory by ${how} on Carol's run`).toBe(403);
      expect(refused.body).toMatch(/pushed|wrote/);
    }
    expect((await stack.stores.approvals.get(carolApproval.approval.id))?.status).toBe('pending');

    // The page names both commits of the range, who wrote and pushed them, and who may not approve.
    const page = await (await fetch(carolRun, { headers: { cookie: bob } })).text();
    expect(page).toContain(`2 commits since apps last applied <code>${shas.base.slice(0, 12)}</code>`);
    for (const [sha, title, pusher] of [
      [shas.readme, 'README: typo', '@carol'],
      [shas.backdoor, 'Tune the network module', '@mallory'],
    ] as const) {
      expect(page).toMatch(
        new RegExp(
          `<code>${sha.slice(0, 12)}</code></td><td data-label="Title">${title}</td>` +
            `<td data-label="Author">[^<]*</td><td data-label="Pushed by">${pusher}</td>`,
        ),
      );
    }
    // ops ran Carol's commit with nothing to change (the backdoor was already there): it holds it all the same.
    expect(page).toMatch(new RegExp(`${shas.readme.slice(0, 12)}.*?ops at [^<]* \\(nothing to change\\)</td>`));
    expect(page).toMatch(/<li><strong>@mallory<\/strong>: [^<]*pushed/);
    expect(page).toContain('<li><strong>@carol</strong>');
    if (SHOTS) await screenshot(new URL(carolRun).pathname);

    const approved = await decide(carolRun, bob);
    expect(approved.status).toBe(200);
    const done = await waitForRun(stack, runs.carol);
    expect(done.status).toBe('succeeded');
    expect(done.stages.find((s) => s.environment === 'apps')).toMatchObject({
      status: 'applied',
      approval: { status: 'approved', by: '@bob' },
    });
    // What Bob approved is what apps holds now: the backdoor too (he saw it coming).
    expect(await readFile(statePath(stack, 'apps'), 'utf8')).toContain('open-apps');
  });

  it('an old commit re-runs only as a rollback, which waits before ops; a re-run of the head is refused for ' +
    'whoever asked and approved by someone else', { timeout: 600_000 }, async () => {
    if (!runs.carol || !runs.base || !runs.mallory) throw new Error('the first test did not get far enough');
    const before = (await stack.runs.list({ limit: 100 })).length;

    // Mallory's superseded run of the backdoor commit: older than what both environments applied.
    const plain = await cli(['rerun', runs.mallory, '--as', '@bob']);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toMatch(/is older than what (ops|apps) applied .*would roll (ops|apps) back/);
    expect(plain.stderr).toContain('Nothing started');
    expect((await stack.runs.list({ limit: 100 })).length).toBe(before);

    // Asked for as a rollback to the starting point, it waits for an approval before ops (which has no gate).
    const rollbackAsked = nextApproval(stack);
    const asked = await cli([
      'rerun',
      runs.base,
      '--as',
      '@bob',
      '--rollback',
      '--reason',
      'the backdoor must go',
      '--json',
    ]);
    expect(asked.stderr).toBe('');
    const rollback = JSON.parse(asked.stdout) as { runId: string; rollback: { reason: string } };
    expect(rollback.rollback.reason).toBe('the backdoor must go');
    const opsRequest = await rollbackAsked;
    expect(opsRequest.approval.environment).toBe('ops');
    await waitForStage(stack, rollback.runId, 'ops', 'awaiting_approval');
    const dana = await githubSession('dana');
    const rollbackPage = await decide(opsRequest.url, dana, 'reject');
    expect(rollbackPage.html).toContain('A rollback asked for by @bob: the backdoor must go.');
    expect(rollbackPage.html).toContain(shas.backdoor!.slice(0, 12));
    expect(rollbackPage.status).toBe(200);
    expect((await waitForRun(stack, rollback.runId)).status).toBe('rejected');

    // The head again, after someone removed the backdoor from apps' state by hand (a plan that creates everything
    // again stops before any approval, so only one resource goes): Dana asks, so she may not approve; Bob applies it.
    const appsState = statePath(stack, 'apps');
    const state = JSON.parse(await readFile(appsState, 'utf8')) as {
      serial: number;
      resources: Array<{ name: string }>;
    };
    await writeFile(
      appsState,
      JSON.stringify({
        ...state,
        serial: state.serial + 1,
        resources: state.resources.filter((resource) => resource.name !== 'backdoor'),
      }),
    );
    const headAsked = nextApproval(stack);
    const started = await rerunRoute(runs.carol, dana);
    expect(started.status).toBe(202);
    const rerunId = ((await started.json()) as { runId: string }).runId;
    const appsRequest = await headAsked;
    expect(appsRequest.approval).toMatchObject({ runId: rerunId, environment: 'apps' });
    const byDana = await decide(appsRequest.url, dana);
    expect(byDana.status).toBe(403);
    expect(byDana.html).toContain('asked for this re-run');
    const bob = await githubSession('bob');
    expect((await decide(appsRequest.url, bob)).status).toBe(200);
    const rerun = await waitForRun(stack, rerunId);
    expect(rerun.status).toBe('succeeded');
    expect(rerun.stages.find((s) => s.environment === 'apps')?.approval).toMatchObject({ by: '@bob' });
    expect(await readFile(appsState, 'utf8')).toContain('"backdoor"');
  });
});

/** The approval page at 390 and 1280 px, full length, into TFGATE_SCREENSHOTS; each fits its width. */
async function screenshot(route: string): Promise<void> {
  const { chromium } = await import('playwright-core');
  await mkdir(SHOTS!, { recursive: true });
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox'],
  });
  try {
    for (const width of [390, 1280]) {
      const context = await browser.newContext({
        viewport: { width, height: 900 },
        extraHTTPHeaders: operatorHeaders(stack),
      });
      const page = await context.newPage();
      await page.goto(`${stack.url}${route}`);
      expect(Number(await page.evaluate('document.documentElement.scrollWidth'))).toBeLessThanOrEqual(width);
      await page.screenshot({ path: path.join(SHOTS!, `approval-range-${width}.png`), fullPage: true });
      await context.close();
    }
    await copyFile(path.join(SHOTS!, 'approval-range-1280.png'), path.join(SHOTS!, 'approval-range.png'));
  } finally {
    await browser.close();
  }
}
