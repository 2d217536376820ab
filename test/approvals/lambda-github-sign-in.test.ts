import { InvokeCommand, type InvokeCommandInput, LambdaClient } from '@aws-sdk/client-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createTokenLambda } from '../../lambdas/github-token/lambda.js';
import { SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalsLambda } from '../../lambdas/web/lambda.js';
import type { FunctionUrlEvent } from '../../src/adapters/aws/function-url.js';
import { parseConfig } from '../../src/config/load.js';
import { encodeResolvedConfig } from '../../src/config/resolved.js';
import { startFakeGitHub, type FakeGitHub } from '../github/fake-github.js';
import { startDynalite, type TestDynamo } from '../support/dynalite.js';

/**
 * GitHub sign-in through the AWS approvals function: the client id and secret from Secrets Manager,
 * GitHub Enterprise Server's endpoints from `github.apiUrl`, cookies through the function URL's
 * `cookies` fields, and team membership asked with tfgate's own GitHub credentials.
 */

const SESSION_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:tfgate-session-AbCdEf';
const SIGNIN_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:tfgate-signin-AbCdEf';
const GITHUB_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:tfgate-github-AbCdEf';
const APPROVALS_URL = 'https://abc123.lambda-url.us-east-1.on.aws/';

const secrets = mockClient(SecretsManagerClient);
const lambda = mockClient(LambdaClient);
let github: FakeGitHub;
let dynamo: TestDynamo;

beforeAll(async () => {
  github = await startFakeGitHub();
  github.teams.set('acme/platform', ['dave']);
  dynamo = await startDynalite();
  secrets.on(GetSecretValueCommand, { SecretId: SESSION_ARN }).resolves({ SecretString: 'session-key' });
  secrets
    .on(GetSecretValueCommand, { SecretId: SIGNIN_ARN })
    .resolves({ SecretString: JSON.stringify(github.oauthApp) });
  secrets
    .on(GetSecretValueCommand, { SecretId: GITHUB_ARN })
    .resolves({ SecretString: JSON.stringify({ token: 'ghp_tfgate' }) });
});

afterAll(async () => {
  await github.close();
  await dynamo.close();
});

/** The token function as deployed (reading the GitHub secret), behind a mocked Lambda invoke. */
function tokenFunctionBehindInvoke(config: string) {
  const tokens = createTokenLambda({
    env: { CONFIG: config, GITHUB_SECRET_ARN: GITHUB_ARN },
    secretsManager: new SecretsManagerClient({ region: 'us-east-1' }),
  });
  lambda.reset();
  lambda.on(InvokeCommand, { FunctionName: 'tfgate-github-token' }).callsFake(async (input: InvokeCommandInput) => {
    const answer = await tokens(JSON.parse(new TextDecoder().decode(input.Payload as Uint8Array)));
    return { StatusCode: 200, Payload: new TextEncoder().encode(JSON.stringify(answer)) };
  });
}

function handler() {
  const config = parseConfig(
    `repositories:\n  - name: acme/infrastructure\n    environments:\n      - name: apps\n        approval: { ` +
      `approvers: ["@alice", "@acme/platform"] }\ngithub:\n  apiUrl: ${github.apiUrl}\n`,
  );
  tokenFunctionBehindInvoke(encodeResolvedConfig(config));
  return createApprovalsLambda({
    env: {
      RUNS_TABLE: dynamo.tables.runs,
      APPROVALS_TABLE: dynamo.tables.approvals,
      DELIVERIES_TABLE: dynamo.tables.deliveries,
      ARTIFACTS_BUCKET: 'tfgate-artifacts-123',
      CONFIG: encodeResolvedConfig(config),
      SESSION_SECRET_ARN: SESSION_ARN,
      SIGNIN_SECRET_ARN: SIGNIN_ARN,
      // Public: team membership through tokens the GitHub token function mints (invoked, below).
      GITHUB_MINTER_FUNCTION: 'tfgate-github-token',
    },
    dynamo: dynamo.doc,
    sfn: new SFNClient({ region: 'us-east-1' }),
    secretsManager: new SecretsManagerClient({ region: 'us-east-1' }),
    lambda: new LambdaClient({ region: 'us-east-1' }),
    artifacts: { put: async () => undefined, get: async () => undefined },
    log: () => undefined,
  });
}

function event(url: string, cookies: string[] = [], accept = 'text/html'): FunctionUrlEvent {
  const parsed = new URL(url);
  return {
    rawPath: parsed.pathname,
    rawQueryString: parsed.search.slice(1),
    headers: { host: parsed.host, accept },
    cookies,
    requestContext: { http: { method: 'GET' } },
  };
}

/** The browser's round trip: tfgate → GitHub's authorize (signed in there as `login`) → tfgate's callback. */
async function signInWithGitHub(
  approvals: ReturnType<typeof handler>,
  login: string,
): Promise<{ status: number; cookies: string[]; location?: string }> {
  github.signedInAs = login;
  const start = await approvals(event(`${APPROVALS_URL}auth/github?next=/runs`));
  expect(start.statusCode).toBe(302);
  const authorize = new URL(start.headers.location!);
  // github.apiUrl .../api/v3 puts the OAuth endpoints at the server's root, as on GitHub Enterprise Server.
  expect(`${authorize.origin}${authorize.pathname}`).toBe(`${new URL(github.apiUrl).origin}/login/oauth/authorize`);
  expect(authorize.searchParams.get('redirect_uri')).toBe(`${APPROVALS_URL}auth/github/callback`);
  const stateCookie = start.cookies!.find((c) => c.startsWith('tfgate_oauth='))!;
  expect(stateCookie).toContain('HttpOnly; SameSite=Lax; Secure');
  const atGitHub = await fetch(authorize, { redirect: 'manual' });
  const callback = atGitHub.headers.get('location')!;
  const done = await approvals(event(callback, [stateCookie.split(';')[0]!]));
  return {
    status: done.statusCode,
    cookies: done.cookies ?? [],
    ...(done.headers.location ? { location: done.headers.location } : {}),
  };
}

describe('GitHub sign-in in the AWS approvals function', () => {
  it(
    'signs in an approver and a team member, refuses someone not listed, and refuses a callback ' + 'without its state',
    async () => {
      const approvals = handler();
      const alice = await signInWithGitHub(approvals, 'alice');
      expect(alice.status).toBe(303);
      expect(alice.location).toBe('/runs');
      const session = alice.cookies.find((c) => c.startsWith('tfgate_session='))!;
      expect(session).toMatch(/HttpOnly; SameSite=Lax; Secure$/);
      const runs = await approvals(event(`${APPROVALS_URL}runs`, [session.split(';')[0]!], 'application/json'));
      expect(runs.statusCode).toBe(200);

      const dave = await signInWithGitHub(approvals, 'dave');
      expect(dave.status).toBe(303);
      const mallory = await signInWithGitHub(approvals, 'mallory');
      expect(mallory.status).toBe(403);
      expect(mallory.cookies.some((c) => c.startsWith('tfgate_session=') && !c.startsWith('tfgate_session=;'))).toBe(
        false,
      );

      // A callback that did not start here (no state cookie: login CSRF) signs nobody in.
      github.signedInAs = 'alice';
      const start = await approvals(event(`${APPROVALS_URL}auth/github`));
      const atGitHub = await fetch(start.headers.location!, { redirect: 'manual' });
      const forged = await approvals(event(atGitHub.headers.get('location')!));
      expect(forged.statusCode).toBe(400);
      expect(
        (forged.cookies ?? []).some((c) => c.startsWith('tfgate_session=') && !c.startsWith('tfgate_session=;')),
      ).toBe(false);
    },
  );
});
