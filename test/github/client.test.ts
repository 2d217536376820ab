import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitHubApiError, GitHubClient } from '../../src/adapters/github/client.js';
import { parseGitHubSecret } from '../../src/adapters/github/credentials.js';
import { defaultCloneUrl } from '../../src/adapters/github/index.js';
import { startFakeGitHub, type FakeGitHub } from './fake-github.js';

const SHA = 'a'.repeat(40);
let fake: FakeGitHub;

beforeAll(async () => {
  fake = await startFakeGitHub({ pageSize: 2 });
});
afterAll(async () => {
  await fake.close();
});

describe('GitHubClient against a fake GitHub (Enterprise-style /api/v3 base URL)', () => {
  it('posts a commit status with the token and the fields GitHub expects', async () => {
    const client = new GitHubClient({ apiUrl: fake.apiUrl, credentials: { kind: 'token', token: 'ghp_test' } });
    await client.setCommitStatus('acme/infra', SHA, {
      context: 'tfgate/ops',
      state: 'pending',
      description: 'planning',
      targetUrl: 'http://x/runs/1',
    });
    const call = fake.calls.at(-1)!;
    expect(call.method).toBe('POST');
    expect(call.path).toBe(`/repos/acme/infra/statuses/${SHA}`);
    expect(call.body).toEqual({
      context: 'tfgate/ops',
      state: 'pending',
      description: 'planning',
      target_url: 'http://x/runs/1',
    });
    expect(call.authorization).toBe('token ghp_test');
  });

  it('creates the marked comment once, then finds it across pages and edits it', async () => {
    const client = new GitHubClient({ apiUrl: fake.apiUrl, credentials: { kind: 'token', token: 'ghp_test' } });
    // Three comments by people first, so the marked one lands on the second page (page size 2).
    fake.comments.set(
      5,
      [1, 2, 3].map((id) => ({
        id,
        body: id === 2 ? '> <!-- tfgate:plan --> quoted by a person' : `hello ${id}`,
        user: { login: 'alice', type: 'User' },
      })),
    );
    await client.upsertPullRequestComment('acme/infra', 5, '<!-- tfgate:plan -->', '<!-- tfgate:plan -->\nfirst');
    await client.upsertPullRequestComment('acme/infra', 5, '<!-- tfgate:plan -->', '<!-- tfgate:plan -->\nsecond');
    const comments = fake.comments.get(5)!;
    expect(comments).toHaveLength(4);
    expect(comments[3]!.body).toBe('<!-- tfgate:plan -->\nsecond');
    expect(comments[1]!.body).toContain('quoted by a person');
    const writes = fake.calls.filter((c) => c.path.includes('/comments') && c.method !== 'GET').map((c) => c.method);
    expect(writes).toEqual(['POST', 'PATCH']);
  });

  it('reads a branch head, and answers undefined for a missing branch', async () => {
    fake.branches.set('acme/infra/release/v1', SHA);
    const client = new GitHubClient({ apiUrl: fake.apiUrl, credentials: { kind: 'token', token: 'ghp_test' } });
    expect(await client.getBranchHead('acme/infra', 'release/v1')).toBe(SHA);
    expect(await client.getBranchHead('acme/infra', 'nope')).toBeUndefined();
  });

  it('says which failures are worth retrying: 5xx, rate limits with their wait, not a 422', async () => {
    const client = new GitHubClient({ apiUrl: fake.apiUrl, credentials: { kind: 'token', token: 'ghp_secret_value' } });
    const attempt = () =>
      client.setCommitStatus('acme/infra', SHA, { context: 'tfgate/ops', state: 'success', description: 'x' }).then(
        () => undefined,
        (error: unknown) => error as GitHubApiError,
      );
    try {
      fake.failWith = { status: 502, message: 'Bad Gateway' };
      const serverError = await attempt();
      expect(serverError).toMatchObject({ status: 502, retryable: true });

      fake.failWith = {
        status: 403,
        message: 'API rate limit exceeded',
        headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 30) },
      };
      const rateLimited = await attempt();
      expect(rateLimited).toMatchObject({ status: 403, retryable: true });
      expect(rateLimited!.retryAfterMs).toBeGreaterThan(20_000);

      fake.failWith = { status: 429, message: 'secondary rate limit', headers: { 'retry-after': '7' } };
      expect(await attempt()).toMatchObject({ status: 429, retryable: true, retryAfterMs: 7000 });

      fake.failWith = { status: 403, message: 'Resource not accessible by integration' };
      expect(await attempt()).toMatchObject({ status: 403, retryable: false });

      fake.failWith = { status: 422, message: 'Validation Failed' };
      const invalid = await attempt();
      expect(invalid).toMatchObject({ status: 422, retryable: false });
      expect(invalid!.message).not.toContain('ghp_secret_value');
    } finally {
      fake.failWith = undefined;
    }
  });

  it('a request that gets no answer in time is a retryable failure', async () => {
    const client = new GitHubClient({
      apiUrl: 'http://127.0.0.1:9/api/v3',
      credentials: { kind: 'token', token: 't' },
      requestTimeoutMs: 500,
    });
    const error = await client.getBranchHead('acme/infra', 'main').then(
      () => undefined,
      (e: unknown) => e as GitHubApiError,
    );
    expect(error).toBeInstanceOf(GitHubApiError);
    expect(error).toMatchObject({ status: undefined, retryable: true });
  });

  it('as a GitHub App: looks up the installation of the repository and uses its token', async () => {
    const { privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const client = new GitHubClient({ apiUrl: fake.apiUrl, credentials: { kind: 'app', appId: '123', privateKey } });
    const before = fake.calls.length;
    await client.setCommitStatus('acme/infra', SHA, {
      context: 'tfgate/apps',
      state: 'success',
      description: 'applied',
    });
    await client.setCommitStatus('acme/infra', SHA, {
      context: 'tfgate/apps',
      state: 'success',
      description: 'applied',
    });
    const calls = fake.calls.slice(before);
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      'GET /repos/acme/infra/installation',
      'POST /app/installations/4242/access_tokens',
      `POST /repos/acme/infra/statuses/${SHA}`,
      `POST /repos/acme/infra/statuses/${SHA}`,
    ]);
    expect(calls[0]!.authorization).toMatch(/^bearer /i);
    expect(calls[2]!.authorization).toBe('token ghs_installation_4242');
  });
});

describe('GitHub credentials and URLs', () => {
  it('reads the Secrets Manager JSON: a token, an App, or nothing yet', () => {
    expect(parseGitHubSecret('{"token":"abc"}')).toEqual({ kind: 'token', token: 'abc' });
    expect(parseGitHubSecret('{}')).toBeUndefined();
    expect(parseGitHubSecret('')).toBeUndefined();
    const app = parseGitHubSecret(
      JSON.stringify({
        appId: 12,
        privateKey: '-----BEGIN RSA PRIVATE KEY-----\\nabc\\n-----END RSA PRIVATE KEY-----',
      }),
    );
    expect(app).toEqual({
      kind: 'app',
      appId: '12',
      privateKey: '-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----',
    });
    expect(() => parseGitHubSecret('{"appId":"12"}')).toThrow(/neither/);
    expect(() => parseGitHubSecret('not json with a secret')).toThrow(/not JSON/);
  });

  it('derives the clone URL from the API URL (github.com and Enterprise Server)', () => {
    expect(defaultCloneUrl('https://api.github.com', 'acme/infra')).toBe('https://github.com/acme/infra.git');
    expect(defaultCloneUrl('https://ghe.example.com/api/v3', 'acme/infra')).toBe(
      'https://ghe.example.com/acme/infra.git',
    );
  });
});
