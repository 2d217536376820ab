/**
 * The GitHub App's private key stays in one non-public function: the webhook and web functions ask it
 * (a synchronous Lambda invoke) for an installation token narrowed to one configured repository (or a
 * configured team's organization), and never read the GitHub secret themselves.
 */
import { generateKeyPairSync } from 'node:crypto';
import { InvokeCommand, LambdaClient, type InvokeCommandOutput } from '@aws-sdk/client-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GitHubClient } from '../../src/adapters/github/client.js';
import { tokenFunctionMinter } from '../../src/adapters/github/minted.js';
import { encodeResolvedConfig } from '../../src/config/resolved.js';
import { parseConfigValue } from '../../src/config/load.js';
import { createTokenLambda } from '../../lambdas/github-token/lambda.js';
import { ORGANIZATION_TOKEN_PERMISSIONS, REPOSITORY_TOKEN_PERMISSIONS } from '../../lambdas/github-token/handler.js';
import { startFakeGitHub, type FakeGitHub } from './fake-github.js';

const SHA = 'a'.repeat(40);
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:tfgate-github-AbCdEf';

let fake: FakeGitHub;
beforeAll(async () => {
  fake = await startFakeGitHub();
});
afterAll(async () => {
  await fake.close();
});

const { privateKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});

function configJson(): string {
  const config = parseConfigValue(
    {
      terraform: { version: '1.11.4' },
      github: { apiUrl: fake.apiUrl },
      repositories: [
        {
          name: 'acme/infra',
          environments: [{ name: 'ops' }, { name: 'apps', approval: { approvers: ['@platform-org/admins'] } }],
        },
      ],
    },
    'config',
  );
  return encodeResolvedConfig(config);
}

const secrets = mockClient(SecretsManagerClient);
beforeEach(() => secrets.reset());

function tokenLambda(secret: Record<string, unknown>) {
  secrets.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({ SecretString: JSON.stringify(secret) });
  return createTokenLambda({
    env: { CONFIG: configJson(), GITHUB_SECRET_ARN: SECRET_ARN },
    secretsManager: new SecretsManagerClient({}),
  });
}

describe('the GitHub token function', () => {
  it("mints a token narrowed to one configured repository and the public functions' permissions", async () => {
    const handle = tokenLambda({ appId: '123', privateKey });
    const before = fake.calls.length;
    const answer = await handle({ repository: 'Acme/infra' });
    expect(answer).toMatchObject({ token: 'ghs_installation_4242' });
    const calls = fake.calls.slice(before);
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      'GET /repos/Acme/infra/installation',
      'POST /app/installations/4242/access_tokens',
    ]);
    expect(calls[1]!.body).toEqual({ repositories: ['infra'], permissions: REPOSITORY_TOKEN_PERMISSIONS });
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it("mints an organization token (members: read) only for a configured owner or team's organization", async () => {
    const handle = tokenLambda({ appId: '123', privateKey });
    const before = fake.calls.length;
    await handle({ org: 'platform-org' });
    const calls = fake.calls.slice(before);
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      'GET /orgs/platform-org/installation',
      expect.stringMatching(/^POST \/app\/installations\/\d+\/access_tokens$/),
    ]);
    expect(calls[1]!.body).toEqual({ permissions: ORGANIZATION_TOKEN_PERMISSIONS });
  });

  it('refuses a repository or organization the configuration does not name, and malformed requests', async () => {
    const handle = tokenLambda({ appId: '123', privateKey });
    const before = fake.calls.length;
    await expect(handle({ repository: 'acme/other' })).rejects.toThrow('acme/other is not a configured repository');
    await expect(handle({ org: 'evil' })).rejects.toThrow('evil owns no configured repository');
    await expect(handle({ repository: 'acme/infra', org: 'acme' })).rejects.toThrow('one repository or one');
    await expect(handle('acme/infra')).rejects.toThrow('one repository or one');
    expect(fake.calls.length).toBe(before);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });

  it('hands a stored token over as is (it cannot be narrowed), and says when there are no credentials', async () => {
    expect(await tokenLambda({ token: 'ghp_stored' })({ repository: 'acme/infra' })).toEqual({ token: 'ghp_stored' });
    expect(await tokenLambda({})({ repository: 'acme/infra' })).toEqual({ none: expect.any(String) });
  });
});

describe('a public function acting on GitHub through minted tokens', () => {
  const lambda = mockClient(LambdaClient);
  beforeEach(() => lambda.reset());
  // What the SDK hands back is a Uint8Array with helpers; the adapter reads only the bytes.
  const encode = (value: unknown) =>
    new TextEncoder().encode(JSON.stringify(value)) as unknown as InvokeCommandOutput['Payload'];

  it('invokes the token function synchronously, once per target while the token is fresh', async () => {
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: encode({ token: 'ghs_minted', expiresAt }) });
    const client = new GitHubClient({
      apiUrl: fake.apiUrl,
      credentials: { kind: 'minted', mint: tokenFunctionMinter(new LambdaClient({}), 'tfgate-github-token') },
    });
    const before = fake.calls.length;
    for (let i = 0; i < 2; i++)
      await client.setCommitStatus('acme/infra', SHA, { context: 'tfgate/ops', state: 'pending', description: 'q' });
    const calls = lambda.commandCalls(InvokeCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input).toMatchObject({ FunctionName: 'tfgate-github-token', InvocationType: 'RequestResponse' });
    expect(JSON.parse(new TextDecoder().decode(input.Payload as Uint8Array))).toEqual({ repository: 'acme/infra' });
    const github = fake.calls.slice(before);
    // No installation lookup, no JWT: the public function holds no key.
    expect(github.map((c) => `${c.method} ${c.path}`)).toEqual([
      `POST /repos/acme/infra/statuses/${SHA}`,
      `POST /repos/acme/infra/statuses/${SHA}`,
    ]);
    expect(github.every((c) => c.authorization === 'token ghs_minted')).toBe(true);
  });

  it('asks again for a token about to expire, and a failed request is not remembered', async () => {
    lambda
      .on(InvokeCommand)
      .resolvesOnce({ StatusCode: 200, FunctionError: 'Unhandled', Payload: encode({ errorMessage: 'boom' }) })
      .resolvesOnce({ StatusCode: 200, Payload: encode({ token: 'ghs_short', expiresAt: new Date().toISOString() }) })
      .resolves({ StatusCode: 200, Payload: encode({ token: 'ghs_next' }) });
    const client = new GitHubClient({
      apiUrl: fake.apiUrl,
      credentials: { kind: 'minted', mint: tokenFunctionMinter(new LambdaClient({}), 'tfgate-github-token') },
    });
    const status = () =>
      client.setCommitStatus('acme/infra', SHA, { context: 'tfgate/ops', state: 'pending', description: 'q' });
    await expect(status()).rejects.toThrow(/could not get a GitHub installation token: .*token function failed: boom/);
    await status();
    await status();
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(3);
    expect(fake.calls.at(-1)!.authorization).toBe('token ghs_next');
  });
});
