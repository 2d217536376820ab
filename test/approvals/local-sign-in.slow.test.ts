import { stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/domain/ports.js';
import {
  decideThroughPage,
  nextApproval,
  operatorHeaders,
  pushChange,
  runForSha,
  startTestStack,
  terraformFiles,
  until,
  waitForRun,
  type TestStack,
} from '../support/local-stack.js';
import { startSmtpReceiver, type SmtpReceiver } from './receivers.js';

/**
 * `tfgate local`'s sign-in pieces against the real server: emailed one-time links through the SMTP
 * receiver, the `/local/*` routes (local credential, JSON, same origin), the Host check against DNS
 * rebinding, and a reconciler run whose author is an approver.
 */

let stack: TestStack | undefined;
let smtp: SmtpReceiver | undefined;

afterEach(async () => {
  await stack?.cleanup();
  await smtp?.close();
  stack = smtp = undefined;
});

function config(extra = ''): string {
  return [
    'repositories:',
    '  - name: acme/infrastructure',
    '    environments:',
    '      - name: apps',
    '        approval:',
    '          approvers: [alice@example.com, bob@example.com]',
    extra,
  ].join('\n');
}

/** A raw request, so the Host header is whatever the caller says (fetch will not send a foreign one). */
function raw(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('email sign-in links through SMTP', () => {
  it(
    'a listed address gets one link that works once and expires; an unlisted one gets nothing and ' + 'the same page',
    async () => {
      smtp = await startSmtpReceiver();
      let offsetMs = 0;
      const clock: Clock = { now: () => new Date(Date.now() + offsetMs) };
      stack = await startTestStack({
        config: config(
          `notifications:\n  email: { from: tfgate@example.com, smtp: { host: ${smtp.host}, port: ${smtp.port} } }\n`,
        ),
        clock,
      });
      const ask = (email: string) =>
        fetch(`${stack!.url}/auth/email`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ email, next: '/runs' }).toString(),
        });

      const listed = await ask('Alice@Example.com');
      const unlisted = await ask('mallory@example.com');
      expect(unlisted.status).toBe(listed.status);
      expect(await unlisted.text()).toBe(await listed.text());
      // The link is sent before the page answers, so with both answers in, every mail there will be is here.
      await until('the sign-in mail', () => (smtp!.mails.length >= 1 ? true : undefined));
      expect(smtp.mails.map((mail) => mail.to)).toEqual([['alice@example.com']]);
      const link = /http:\/\/\S+\/auth\/email\/confirm\?token=[A-Za-z0-9._%-]+/.exec(smtp.mails[0]!.decoded)![0];

      // Opening the link (a mail scanner) signs nobody in; the button on the page does, once.
      const opened = await fetch(link);
      expect(opened.headers.getSetCookie()).toEqual([]);
      const token = /name="token" value="([^"]+)"/.exec(await opened.text())![1]!;
      const confirm = () =>
        fetch(`${stack!.url}/auth/email/confirm`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token }).toString(),
          redirect: 'manual',
        });
      const first = await confirm();
      expect(first.status).toBe(303);
      const cookie = first.headers.getSetCookie().find((c) => c.startsWith('tfgate_session='))!;
      // Plain HTTP on loopback: HttpOnly and SameSite=Lax, without Secure (the browser would drop it).
      expect(cookie).toMatch(/; HttpOnly; SameSite=Lax$/);
      const runs = await fetch(`${stack.url}/runs`, {
        headers: { accept: 'application/json', cookie: cookie.split(';')[0]! },
      });
      expect(runs.status).toBe(200);
      const second = await confirm();
      expect(second.status).toBe(409);
      expect(second.headers.getSetCookie()).toEqual([]);
      // Signing out clears the cookie.
      const out = await fetch(`${stack.url}/auth/sign-out`, {
        method: 'POST',
        headers: { cookie: cookie.split(';')[0]! },
        redirect: 'manual',
      });
      expect(out.status).toBe(303);
      expect(out.headers.getSetCookie()).toEqual(['tfgate_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax']);

      // A new link, 15 minutes and a second later, has expired.
      await ask('bob@example.com');
      await until('the second mail', () => (smtp!.mails.length >= 2 ? true : undefined));
      const late = /token=([A-Za-z0-9._%-]+)/.exec(smtp.mails[1]!.decoded)![1]!;
      offsetMs = 15 * 60_000 + 1000;
      const expired = await fetch(`${stack.url}/auth/email/confirm`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: decodeURIComponent(late) }).toString(),
        redirect: 'manual',
      });
      expect(expired.status).toBe(400);
      expect(await expired.text()).toContain('has expired');
    },
  );
});

describe('the local routes and the Host check', () => {
  it(
    '/local/unlock needs the local credential, a JSON body and the same origin; a foreign Host is ' +
      'refused on every route',
    async () => {
      stack = await startTestStack({ config: config() });
      const unlock = `${stack.url}/local/unlock`;
      const body = JSON.stringify({ repository: 'acme/infrastructure', environment: 'apps', reason: 'test' });
      const operator = operatorHeaders(stack);
      const host = new URL(stack.url).host;

      const cases: Array<[string, Record<string, string>, string, number]> = [
        ['no credential', { 'content-type': 'application/json', host }, body, 401],
        [
          'a wrong credential',
          { 'content-type': 'application/json', authorization: 'Bearer not-the-credential', host },
          body,
          401,
        ],
        [
          'a form body (what a cross-site form can send)',
          { ...operator, 'content-type': 'application/x-www-form-urlencoded', host },
          'repository=acme/infrastructure',
          415,
        ],
        [
          'posted from another site',
          {
            ...operator,
            'content-type': 'application/json',
            'sec-fetch-site': 'cross-site',
            origin: 'http://evil.test',
            host,
          },
          body,
          403,
        ],
        [
          'another origin on this host',
          { ...operator, 'content-type': 'application/json', origin: 'http://127.0.0.1:1', host },
          body,
          403,
        ],
        [
          'a foreign Host (DNS rebinding)',
          { ...operator, 'content-type': 'application/json', host: `evil.test:${new URL(stack.url).port}` },
          body,
          421,
        ],
      ];
      for (const [name, headers, payload, status] of cases) {
        const answer = await raw(unlock, { method: 'POST', headers, body: payload });
        expect(answer.status, name).toBe(status);
      }
      // The credential and the session key are the owner's alone: <data>/secrets is 0700, its files 0600.
      expect((await stat(path.join(stack.dataDir, 'secrets'))).mode & 0o777).toBe(0o700);
      for (const name of ['local-credential', 'session-key'])
        expect((await stat(path.join(stack.dataDir, 'secrets', name))).mode & 0o777, name).toBe(0o600);

      const ok = await raw(unlock, {
        method: 'POST',
        headers: { ...operator, 'content-type': 'application/json', host },
        body,
      });
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.body)).toMatchObject({ released: false });

      // Every route answers only to the configured host or loopback names.
      for (const route of ['/healthz', '/webhook', '/runs', '/auth/sign-in']) {
        expect((await raw(`${stack.url}${route}`, { headers: { host: 'rebound.example.com' } })).status, route).toBe(
          421,
        );
        expect(
          (await raw(`${stack.url}${route}`, { headers: { host: `localhost:${new URL(stack.url).port}` } })).status,
          route,
        ).not.toBe(421);
      }
    },
  );
});

describe('a cross-site page in a browser', () => {
  it('cannot reach /local/unlock: a form post has no credential, a JSON fetch is stopped by the browser', async () => {
    stack = await startTestStack({ config: config() });
    const unlock = `${stack.url}/local/unlock`;
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    try {
      const context = await browser.newContext();
      await context.route('http://elsewhere.test/**', (route) =>
        route.fulfill({
          contentType: 'text/html',
          body: `<form id="f" method="post" enctype="text/plain" action="${unlock}">
<input name='{"repository":"acme/infrastructure","environment":"apps","x":"' value='"}'>
</form>
<script>
fetch(${JSON.stringify(unlock)}, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: '{"repository":"acme/infrastructure","environment":"apps"}',
  credentials: 'include',
})
  .catch((e) => console.log('fetch refused: ' + e.message))
  .finally(() => document.getElementById('f').submit());
</script>`,
        }),
      );
      const page = await context.newPage();
      const logs: string[] = [];
      page.on('console', (message) => logs.push(message.text()));
      const [posted] = await Promise.all([
        page.waitForResponse((response) => response.url() === unlock && response.request().method() === 'POST'),
        page.goto('http://elsewhere.test/'),
      ]);
      expect([401, 403, 415]).toContain(posted.status());
      expect(logs.join('\n')).toContain('fetch refused');
      expect(stack.lines.join('\n')).not.toMatch(/forced_release|freed the/);
    } finally {
      await browser.close();
    }
  });
});

describe('a reconciler run', () => {
  it('resolves its author from the local repository before the run exists, and that approver is refused', async () => {
    // No grace for a head's own push delivery: this commit's delivery is known never to come.
    stack = await startTestStack({ config: config(), headGraceSeconds: 0 });
    // A first run, so the reconciler has a deploy run to compare the head with.
    const firstRequest = nextApproval(stack);
    const firstSha = await pushChange(stack, terraformFiles({ marker: 'first' }));
    const first = await runForSha(stack, firstSha);
    expect(
      (await decideThroughPage((await firstRequest).url, 'reject', 'not this one', 'bob@example.com')).status,
    ).toBe(200);
    await waitForRun(stack, first.id);

    // Alice writes a commit that lands without a webhook (the hook is skipped): only the reconciler finds it.
    const remote = stack.remotes[0]!;
    const { commitAndPush } = await import('../../src/local-mode/git-repos.js');
    const sha = await commitAndPush(remote.remote, {
      files: terraformFiles({ marker: 'by-alice' }),
      message: 'Alice changes apps',
      branch: 'main',
      quiet: true,
      author: { name: 'Alice', email: 'Alice@Example.com' },
    });
    const requested = nextApproval(stack);
    const report = await stack.reconciler.reconcile();
    expect(report.repositories).toEqual([expect.objectContaining({ action: 'started', sha })]);
    const run = await runForSha(stack, sha);
    expect(run.trigger).toBe('reconcile');
    expect(run.people?.emails).toContain('alice@example.com');
    const request = await requested;

    const byAlice = await decideThroughPage(request.url, 'approve', undefined, 'alice@example.com').catch(
      (error: Error) => ({ status: 0, body: error.message }),
    );
    expect(byAlice.body).toContain(
      'You pushed or wrote this change (by one of your verified addresses); someone else has to approve it.',
    );
    expect((await stack.stores.approvals.get(request.approval.id))?.status).toBe('pending');
    const byBob = await decideThroughPage(request.url, 'approve', undefined, 'bob@example.com');
    expect(byBob.status).toBe(200);
    expect((await waitForRun(stack, run.id)).status).toBe('succeeded');
  });
});
