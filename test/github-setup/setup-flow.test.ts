import { generateKeyPairSync } from 'node:crypto';
import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseSignInSecret } from '../../lambdas/web/lambda.js';
import type { FunctionUrlEvent, FunctionUrlResult } from '../../src/adapters/aws/function-url.js';
import { parseConfig } from '../../src/config/load.js';
import { encodeResolvedConfig } from '../../src/config/resolved.js';
import type { Clock } from '../../src/domain/ports.js';
import { parseGitHubSecret } from '../../src/adapters/github/credentials.js';
import { createGitHubSetupLambda } from '../../lambdas/github-setup/lambda.js';
import { parseWebhookSecrets } from '../../lambdas/webhook/lambda.js';
import { startDynalite, type TestDynamo } from '../support/dynalite.js';
import { startFakeManifestGitHub, type ConvertedApp, type FakeManifestGitHub } from './fake-manifest-github.js';

/**
 * The one-click GitHub connection through the AWS setup function: setup link → manifest form →
 * GitHub's conversion (a local stand-in, laid out as GitHub Enterprise Server) → the three secrets
 * stored in the shapes their readers parse → the link used up. Secrets Manager is mocked; the one-time
 * claim is a real conditional write in dynalite.
 */

const ARN = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:tfgate-${name}-AbCdEf`;
const SETUP_ARN = ARN('setup');
const GITHUB_ARN = ARN('github');
const WEBHOOK_ARN = ARN('webhook');
const SIGNIN_ARN = ARN('signin');
const WEBHOOK_URL = 'https://hook123.lambda-url.eu-west-1.on.aws/';
const APPROVALS_URL = 'https://web456.lambda-url.eu-west-1.on.aws/';
const SETUP_URL = 'https://setup789.lambda-url.eu-west-1.on.aws';

const secrets = mockClient(SecretsManagerClient);
const PEM = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .privateKey.export({ type: 'pkcs1', format: 'pem' })
  .toString();
let github: FakeManifestGitHub;
let dynamo: TestDynamo;
let token: string;
let tokenCounter = 0;
let now = new Date('2026-11-29T12:00:00Z');
const clock: Clock = { now: () => now };
const logs: string[] = [];

beforeAll(async () => {
  github = await startFakeManifestGitHub();
  dynamo = await startDynalite();
});

afterAll(async () => {
  await github.close();
  await dynamo.close();
});

beforeEach(() => {
  secrets.reset();
  // Each test gets its own setup token, so each has its own one-time claim.
  token = `setupToken${String(++tokenCounter).padStart(4, '0')}abcdefghijklmnopqrstuvwxyz0123456789`;
  secrets.on(GetSecretValueCommand, { SecretId: SETUP_ARN }).callsFake(() => ({ SecretString: token }));
  secrets.on(PutSecretValueCommand).resolves({});
  now = new Date('2026-11-29T12:00:00Z');
  logs.length = 0;
  github.calls.length = 0;
});

function setupLambda(approvers = '["@alice", "@acme/platform", "carol@example.com"]') {
  const config = parseConfig(
    `repositories:\n  - name: acme/infrastructure\n    environments:\n      - name: apps\n        approval: { ` +
      `approvers: ${approvers} }\ngithub:\n  apiUrl: ${github.apiUrl}\n`,
  );
  return createGitHubSetupLambda({
    env: {
      CONFIG: encodeResolvedConfig(config),
      DELIVERIES_TABLE: dynamo.tables.deliveries,
      SETUP_SECRET_ARN: SETUP_ARN,
      GITHUB_SECRET_ARN: GITHUB_ARN,
      WEBHOOK_SECRET_ARN: WEBHOOK_ARN,
      SIGNIN_SECRET_ARN: SIGNIN_ARN,
      WEBHOOK_URL,
      APPROVALS_URL,
      APP_NAME: 'tfgate-TfgateProd',
    },
    dynamo: dynamo.doc,
    secretsManager: new SecretsManagerClient({ region: 'eu-west-1' }),
    clock,
    log: (message) => logs.push(message),
  });
}

function event(url: string, cookies: string[] = []): FunctionUrlEvent {
  const parsed = new URL(url);
  return {
    rawPath: parsed.pathname,
    rawQueryString: parsed.search.slice(1),
    headers: { host: parsed.host, accept: 'text/html' },
    cookies,
    requestContext: { http: { method: 'GET' } },
  };
}

function unescapeHtml(value: string): string {
  return value
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** What the browser takes from the form page: where the form posts, the manifest, and the state cookie. */
function readForm(page: FunctionUrlResult): { action: URL; manifest: Record<string, unknown>; cookie: string } {
  const action = /<form method="post" action="([^"]+)" id="manifest-form">/.exec(page.body)?.[1];
  const manifest = /name="manifest" id="manifest" value="([^"]+)"/.exec(page.body)?.[1];
  const cookie = page.cookies?.find((c) => c.startsWith('tfgate_setup='));
  expect(action, 'form action').toBeDefined();
  expect(manifest, 'manifest field').toBeDefined();
  expect(cookie, 'state cookie').toBeDefined();
  return {
    action: new URL(unescapeHtml(action!)),
    manifest: JSON.parse(unescapeHtml(manifest!)) as Record<string, unknown>,
    cookie: cookie!.split(';')[0]!,
  };
}

function createdApp(code: string, slug = 'tfgate-tfgateprod'): ConvertedApp {
  const app: ConvertedApp = {
    id: 424242,
    slug,
    name: 'tfgate-TfgateProd',
    html_url: `${github.webUrl}/apps/${slug}`,
    pem: PEM,
    webhook_secret: `whsec-${code}-from-github`,
    client_id: `Iv23li${code}`,
    client_secret: `client-secret-${code}`,
  };
  github.codes.set(code, app);
  return app;
}

const putCalls = () => secrets.commandCalls(PutSecretValueCommand).map((call) => call.args[0].input);
const conversions = () => github.calls.filter((call) => call.path.includes('/app-manifests/'));

describe('GitHub App manifest flow', () => {
  it('goes from the setup link through GitHub to stored secrets, and refuses the link afterwards', async () => {
    const setup = setupLambda();
    const page = await setup(event(`${SETUP_URL}/setup?token=${token}`));
    expect(page.statusCode).toBe(200);
    const { action, manifest, cookie } = readForm(page);

    // The form posts to GitHub's web host (github.apiUrl .../api/v3 → the server's root), with a state.
    expect(`${action.origin}${action.pathname}`).toBe(`${github.webUrl}/settings/apps/new`);
    const state = action.searchParams.get('state');
    expect(state).toMatch(/^[\w-]+\.[\w-]+$/);
    expect(state).not.toContain(token);
    expect(page.headers['content-security-policy']).toContain(`form-action 'self' ${github.webUrl}`);
    expect(page.cookies![0]).toContain('Path=/setup; Max-Age=3600; HttpOnly; SameSite=Lax; Secure');

    expect(manifest).toEqual({
      name: 'tfgate-TfgateProd',
      url: 'https://web456.lambda-url.eu-west-1.on.aws',
      description: expect.any(String),
      hook_attributes: { url: 'https://hook123.lambda-url.eu-west-1.on.aws/webhook', active: true },
      redirect_url: `${SETUP_URL}/setup/callback`,
      callback_urls: ['https://web456.lambda-url.eu-west-1.on.aws/auth/github/callback'],
      public: false,
      default_permissions: {
        contents: 'read',
        metadata: 'read',
        statuses: 'write',
        pull_requests: 'write',
        members: 'read',
        email_addresses: 'read',
      },
      default_events: ['push', 'pull_request'],
      request_oauth_on_install: false,
    });

    // GitHub creates the App and sends the browser back with a code and the same state.
    const app = createdApp('c0de1');
    const done = await setup(event(`${SETUP_URL}/setup/callback?code=c0de1&state=${state}`, [cookie]));
    expect(done.statusCode, done.body).toBe(200);
    expect(done.body).toContain(`href="${app.html_url}/installations/new"`);
    expect(done.body).not.toContain(PEM.slice(40, 80));
    expect(done.body).not.toContain(app.client_secret);
    expect(conversions()).toEqual([
      { method: 'POST', path: '/api/v3/app-manifests/c0de1/conversions', authorization: undefined },
    ]);

    expect(putCalls()).toEqual([
      { SecretId: GITHUB_ARN, SecretString: JSON.stringify({ appId: '424242', privateKey: PEM }) },
      {
        SecretId: SIGNIN_ARN,
        SecretString: JSON.stringify({ clientId: 'Iv23lic0de1', clientSecret: 'client-secret-c0de1' }),
      },
      { SecretId: WEBHOOK_ARN, SecretString: 'whsec-c0de1-from-github' },
    ]);
    // Each value reads back through the parser of the function that uses it.
    const [githubValue, signInValue, webhookValue] = putCalls().map((input) => input.SecretString!);
    expect(parseGitHubSecret(githubValue)).toEqual({ kind: 'app', appId: '424242', privateKey: PEM });
    expect(parseSignInSecret(signInValue!)).toEqual({ clientId: 'Iv23lic0de1', clientSecret: 'client-secret-c0de1' });
    expect(parseWebhookSecrets(webhookValue!)).toEqual(['whsec-c0de1-from-github']);

    // The link is used up: neither the page nor another callback works again.
    const again = await setup(event(`${SETUP_URL}/setup?token=${token}`));
    expect(again.statusCode).toBe(410);
    expect(again.body).not.toContain('manifest-form');
    createdApp('c0de2');
    const replay = await setup(event(`${SETUP_URL}/setup/callback?code=c0de2&state=${state}`, [cookie]));
    expect(replay.statusCode).toBe(410);
    expect(conversions()).toHaveLength(1);
    expect(putCalls()).toHaveLength(3);
    // Even a fresh setup function (another Lambda instance) sees the claim.
    expect((await setupLambda()(event(`${SETUP_URL}/setup?token=${token}`))).statusCode).toBe(410);
  });

  it('refuses a missing, wrong or truncated token, and a setup secret that holds no token', async () => {
    const setup = setupLambda();
    const wrong = token.slice(0, -1) + (token.endsWith('9') ? '8' : '9');
    for (const query of ['', `?token=`, `?token=${wrong}`, `?token=${token.slice(0, 20)}`, `?token=${token}x`]) {
      const page = await setup(event(`${SETUP_URL}/setup${query}`));
      expect(page.statusCode, query).toBe(403);
      expect(page.body).not.toContain('manifest');
      expect(page.cookies).toBeUndefined();
    }
    token = '';
    expect((await setup(event(`${SETUP_URL}/setup?token=`))).statusCode).toBe(403);
    token = 'short';
    expect((await setup(event(`${SETUP_URL}/setup?token=short`))).statusCode).toBe(403);
    expect(putCalls()).toHaveLength(0);
  });

  it('refuses a callback whose state was not made with this link, for another browser, or too late', async () => {
    const setup = setupLambda();
    const { action, cookie } = readForm(await setup(event(`${SETUP_URL}/setup?token=${token}`)));
    const state = action.searchParams.get('state')!;
    createdApp('c0de3');

    // A state sealed with another token (an older link, or someone else's tfgate).
    const realToken = token;
    token = `${realToken.slice(0, -4)}zzzz`;
    const { action: otherAction, cookie: otherCookie } = readForm(
      await setup(event(`${SETUP_URL}/setup?token=${token}`)),
    );
    token = realToken;
    const foreign = otherAction.searchParams.get('state')!;
    expect(
      (await setup(event(`${SETUP_URL}/setup/callback?code=c0de3&state=${foreign}`, [otherCookie]))).statusCode,
    ).toBe(403);

    // The right state from a browser without the cookie (a link forwarded, or a forged redirect).
    expect((await setup(event(`${SETUP_URL}/setup/callback?code=c0de3&state=${state}`))).statusCode).toBe(403);
    expect(
      (
        await setup(
          event(`${SETUP_URL}/setup/callback?code=c0de3&state=${state}`, [
            'tfgate_setup=00112233445566778899aabbccddeeff',
          ]),
        )
      ).statusCode,
    ).toBe(403);
    // No state, or a tampered one.
    expect((await setup(event(`${SETUP_URL}/setup/callback?code=c0de3`, [cookie]))).statusCode).toBe(403);
    expect(
      (await setup(event(`${SETUP_URL}/setup/callback?code=c0de3&state=${state.slice(0, -2)}xx`, [cookie]))).statusCode,
    ).toBe(403);
    // Over an hour later.
    now = new Date(now.getTime() + 61 * 60 * 1000);
    expect((await setup(event(`${SETUP_URL}/setup/callback?code=c0de3&state=${state}`, [cookie]))).statusCode).toBe(
      403,
    );

    expect(conversions().filter((call) => call.path.includes('c0de3'))).toHaveLength(0);
    expect(putCalls()).toHaveLength(0);
    // None of that used the link up.
    now = new Date('2026-11-29T12:00:00Z');
    expect((await setup(event(`${SETUP_URL}/setup/callback?code=c0de3&state=${state}`, [cookie]))).statusCode).toBe(
      200,
    );
  });

  it('gives the link back when GitHub refuses the code or the secrets cannot be written', async () => {
    const setup = setupLambda();
    const { action, cookie } = readForm(await setup(event(`${SETUP_URL}/setup?token=${token}`)));
    const state = action.searchParams.get('state')!;

    const unknown = await setup(event(`${SETUP_URL}/setup/callback?code=nosuchcode&state=${state}`, [cookie]));
    expect(unknown.statusCode).toBe(502);
    expect(unknown.body).toContain('GitHub refused the code (HTTP 404)');
    const malformed = await setup(
      event(`${SETUP_URL}/setup/callback?code=${encodeURIComponent('../../x')}&state=${state}`, [cookie]),
    );
    expect(malformed.statusCode).toBe(502);
    expect(putCalls()).toHaveLength(0);

    secrets.on(PutSecretValueCommand, { SecretId: WEBHOOK_ARN }).rejects(new Error('AccessDeniedException'));
    createdApp('c0de4');
    const failed = await setup(event(`${SETUP_URL}/setup/callback?code=c0de4&state=${state}`, [cookie]));
    expect(failed.statusCode).toBe(500);
    expect(failed.body).toContain('could not be stored');
    expect(failed.body).not.toContain('client-secret-c0de4');
    expect(logs.join('\n')).not.toContain('client-secret-c0de4');

    // Still usable: the page shows again and a new App's credentials are stored.
    expect((await setup(event(`${SETUP_URL}/setup?token=${token}`))).statusCode).toBe(200);
    secrets.on(PutSecretValueCommand, { SecretId: WEBHOOK_ARN }).resolves({});
    createdApp('c0de5');
    expect((await setup(event(`${SETUP_URL}/setup/callback?code=c0de5&state=${state}`, [cookie]))).statusCode).toBe(
      200,
    );
    expect(putCalls().at(-1)).toEqual({ SecretId: WEBHOOK_ARN, SecretString: 'whsec-c0de5-from-github' });
  });

  it('lets only one of two simultaneous callbacks store credentials', async () => {
    const setup = setupLambda();
    const { action, cookie } = readForm(await setup(event(`${SETUP_URL}/setup?token=${token}`)));
    const state = action.searchParams.get('state')!;
    createdApp('race1', 'tfgate-a');
    createdApp('race2', 'tfgate-b');
    const results = await Promise.all(
      ['race1', 'race2'].map((code) =>
        setup(event(`${SETUP_URL}/setup/callback?code=${code}&state=${state}`, [cookie])),
      ),
    );
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 409]);
    expect(putCalls()).toHaveLength(3);
    expect(conversions()).toHaveLength(1);
  });

  it('asks only for the permissions the approvers need, and for an organization when named', async () => {
    const setup = setupLambda('["@alice"]');
    const { action, manifest } = readForm(
      await setup(event(`${SETUP_URL}/setup?token=${token}&organization=acme-corp`)),
    );
    expect(manifest.default_permissions).toEqual({
      contents: 'read',
      metadata: 'read',
      statuses: 'write',
      pull_requests: 'write',
    });
    expect(`${action.origin}${action.pathname}`).toBe(`${github.webUrl}/organizations/acme-corp/settings/apps/new`);
    expect(
      (await setup(event(`${SETUP_URL}/setup?token=${token}&organization=${encodeURIComponent('acme/../x')}`)))
        .statusCode,
    ).toBe(400);
    expect((await setup(event(`${SETUP_URL}/setup/other?token=${token}`))).statusCode).toBe(404);
  });

  it(
    'spends nothing on a HEAD of the callback, and answers 503 with nothing stored when Secrets ' + 'Manager fails',
    async () => {
      const setup = setupLambda();
      const { action, cookie } = readForm(await setup(event(`${SETUP_URL}/setup?token=${token}`)));
      createdApp('c0de6');
      const head = {
        ...event(`${SETUP_URL}/setup/callback?code=c0de6&state=${action.searchParams.get('state')}`, [cookie]),
        requestContext: { http: { method: 'HEAD' } },
      };
      expect((await setup(head)).statusCode).toBe(404);
      expect(conversions()).toHaveLength(0);

      secrets.on(GetSecretValueCommand, { SecretId: SETUP_ARN }).rejects(new Error('ThrottlingException'));
      const page = await setup(event(`${SETUP_URL}/setup?token=${token}`));
      expect(page.statusCode).toBe(503);
      expect(page.body).not.toContain(token);
      expect(putCalls()).toHaveLength(0);
    },
  );
});
