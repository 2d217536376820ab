/** AWS sources: GitHub's archive API for configured repositories only; the token goes to the API host alone. */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { GitHubClient } from '../../src/adapters/github/client.js';
import { GitHubSourceArchiver, githubSourceOf } from '../../src/adapters/github/archiver.js';
import { testConfig } from '../webhook/fixtures.js';

const SHA = '6113728f27ae82c7b1a177c8d03f9e96e0adf246';
const TOKEN = 'ghp_archiveCanary0123456789abcdefghijklmn';
const servers: Server[] = [];

async function serve(
  handler: (
    url: string,
    headers: IncomingHttpHeaders,
    respond: (status: number, headers: Record<string, string>, body?: Buffer) => void,
  ) => void,
): Promise<string> {
  const server = createServer((request, response) =>
    handler(request.url ?? '', request.headers, (status, headers, body) =>
      response.writeHead(status, headers).end(body),
    ),
  );
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
});

describe('githubSourceOf', () => {
  const repo = (cloneUrl?: string) => ({
    name: 'acme/infra',
    branch: 'main',
    directory: '.',
    environments: [{ name: 'ops' }],
    ...(cloneUrl ? { cloneUrl } : {}),
  });
  it('is the configured name without cloneUrl, or the repository an https cloneUrl on the GitHub host names', () => {
    expect(githubSourceOf(repo(), 'https://api.github.com')).toBe('acme/infra');
    expect(githubSourceOf(repo('https://github.com/acme/mirror.git'), 'https://api.github.com')).toBe('acme/mirror');
    expect(githubSourceOf(repo('https://ghe.example.com/acme/infra'), 'https://ghe.example.com/api/v3')).toBe(
      'acme/infra',
    );
  });
  it.each([
    ['http://github.com/acme/infra.git', /must be https/],
    ['https://evil.example/acme/infra.git', /must be on github.com/],
    ['https://user:pw@github.com/acme/infra.git', /must not carry credentials/],
    ['/srv/git/infra.git', /must be an https URL/],
    ['https://github.com/acme/infra/extra/path', /must be https:\/\/github.com\/OWNER\/NAME/],
  ])('refuses %s in AWS', (cloneUrl, reason) => {
    expect(() => githubSourceOf(repo(cloneUrl), 'https://api.github.com')).toThrow(reason);
  });
});

describe('GitHubSourceArchiver', () => {
  it('downloads the tarball at the exact sha; the redirect to another host gets no Authorization header', async () => {
    const seenByCodeload: IncomingHttpHeaders[] = [];
    const codeload = await serve((_url, headers, respond) => {
      seenByCodeload.push(headers);
      respond(200, { 'content-type': 'application/x-gzip' }, Buffer.from('tarball-bytes'));
    });
    const seenByApi: Array<{ url: string; authorization: string | undefined }> = [];
    const api = await serve((url, headers, respond) => {
      seenByApi.push({ url, authorization: headers.authorization });
      respond(302, {
        location: `${codeload.replace('127.0.0.1', 'localhost')}/acme/infra/legacy.tar.gz/${SHA}?token=short-lived`,
      });
    });
    const config = testConfig(
      `repositories:\n  - name: acme/infra\n    environments:\n      - name: ops\ngithub:\n  apiUrl: ${api}\n`,
    );
    const archiver = new GitHubSourceArchiver(
      config,
      async () => new GitHubClient({ apiUrl: api, credentials: { kind: 'token', token: TOKEN } }),
    );

    expect((await archiver.archive('acme/infra', SHA)).toString()).toBe('tarball-bytes');
    expect(seenByApi).toEqual([{ url: `/repos/acme/infra/tarball/${SHA}`, authorization: `token ${TOKEN}` }]);
    expect(seenByCodeload).toHaveLength(1);
    expect(JSON.stringify(seenByCodeload)).not.toContain(TOKEN);
    await expect(archiver.archive('acme/other', SHA)).rejects.toThrow(/is not configured/);
  });

  it('streams the same tarball (the redirect followed, no token to codeload), chunk by chunk', async () => {
    const seenByCodeload: IncomingHttpHeaders[] = [];
    const codeload = await serve((_url, headers, respond) => {
      seenByCodeload.push(headers);
      respond(200, { 'content-type': 'application/x-gzip' }, Buffer.alloc(3 * 1024 * 1024, 7));
    });
    const api = await serve((_url, _headers, respond) =>
      respond(302, { location: `${codeload.replace('127.0.0.1', 'localhost')}/acme/infra/legacy.tar.gz/${SHA}` }),
    );
    const config = testConfig(
      `repositories:\n  - name: acme/infra\n    environments:\n      - name: ops\ngithub:\n  apiUrl: ${api}\n`,
    );
    const archiver = new GitHubSourceArchiver(
      config,
      async () => new GitHubClient({ apiUrl: api, credentials: { kind: 'token', token: TOKEN } }),
    );
    let chunks = 0;
    let bytes = 0;
    for await (const chunk of await archiver.archiveStream('acme/infra', SHA)) {
      chunks += 1;
      bytes += (chunk as Buffer).length;
    }
    expect(bytes).toBe(3 * 1024 * 1024);
    expect(chunks).toBeGreaterThan(1);
    expect(JSON.stringify(seenByCodeload)).not.toContain(TOKEN);
  });
});
