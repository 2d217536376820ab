import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GitHubClient } from '../../src/adapters/github/client.js';

/**
 * The GitHub adapter's CommitHistory: base..head through the compare API, paged to the last commit however many
 * there are, and the pull requests merged into the branch by them; what GitHub cannot answer is an unresolved range.
 * A small HTTP server stands in for GitHub's REST API so the requests octokit makes (pages, queries) are the ones
 * checked.
 */

const BASE = 'b'.repeat(40);
const HEAD = 'e'.repeat(40);
const shaOf = (n: number) => n.toString(16).padStart(40, '0');

interface Answer {
  status: number;
  body: unknown;
}

let server: Server;
let apiUrl: string;
const requests: string[] = [];
let compare: (page: number, perPage: number, basehead: string) => Answer;
let pulls: (sha: string) => Answer;

beforeAll(async () => {
  server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://github.test');
    requests.push(`${url.pathname}${url.search}`);
    const send = ({ status, body }: Answer) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    const compared = /^\/repos\/acme\/infra\/compare\/(.+)$/.exec(url.pathname);
    if (compared)
      return send(
        compare(
          Number(url.searchParams.get('page') ?? '1'),
          Number(url.searchParams.get('per_page') ?? '250'),
          decodeURIComponent(compared[1]!),
        ),
      );
    const associated = /^\/repos\/acme\/infra\/commits\/([0-9a-f]{40})\/pulls$/.exec(url.pathname);
    if (associated) return send(pulls(associated[1]!));
    send({ status: 404, body: { message: 'Not Found' } });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  requests.length = 0;
  pulls = () => ({ status: 200, body: [] });
});

function commitJson(n: number) {
  return {
    sha: shaOf(n),
    parents: [{ sha: n === 1 ? BASE : shaOf(n - 1) }],
    author: n % 2 === 0 ? { login: `writer${n}` } : null,
    committer: { login: 'web-flow' },
    commit: {
      message: `Commit ${n}\n\nbody`,
      author: { name: `Writer ${n}`, email: `writer${n}@example.com` },
      committer: { name: 'GitHub', email: 'noreply@github.com' },
    },
  };
}

/** A compare answer over `total` commits, served `perPage` at a time (GitHub's paging of the compare API). */
function pagedCompare(total: number, status = 'ahead', shortBy = 0) {
  return (page: number, perPage: number): Answer => {
    const listed = total - shortBy;
    const from = (page - 1) * perPage;
    const commits = [];
    for (let n = from + 1; n <= Math.min(from + perPage, listed); n++) commits.push(commitJson(n));
    return { status: 200, body: { status, total_commits: total, commits } };
  };
}

const client = () =>
  new GitHubClient({ apiUrl, credentials: { kind: 'token', token: 'ghp_test' }, requestTimeoutMs: 5_000 });

describe('GitHubClient.range: the compare API, paged without a cap', () => {
  it('reads every page of a 250-commit change, oldest first, with GitHub logins where GitHub has them', async () => {
    compare = pagedCompare(250);
    const range = await client().range('acme/infra', 'main', BASE, HEAD);
    if (range.kind !== 'range') throw new Error(`expected a range, got ${JSON.stringify(range)}`);
    expect(range.commits).toHaveLength(250);
    expect(range.commits.map((c) => c.sha)).toEqual(Array.from({ length: 250 }, (_, i) => shaOf(i + 1)));
    expect(range.commits[1]).toEqual({
      sha: shaOf(2),
      parents: [shaOf(1)],
      title: 'Commit 2',
      author: { name: 'Writer 2', email: 'writer2@example.com', login: 'writer2' },
      committer: { name: 'GitHub', email: 'noreply@github.com', login: 'web-flow' },
    });
    expect(range.commits[0]!.author).toEqual({ name: 'Writer 1', email: 'writer1@example.com' });
    const pages = requests.filter((r) => r.includes('/compare/'));
    expect(pages).toEqual(
      [1, 2, 3].map((page) => `/repos/acme/infra/compare/${BASE}...${HEAD}?per_page=100&page=${page}`),
    );
    // One pull request lookup per commit: none is skipped either.
    expect(requests.filter((r) => r.endsWith('/pulls'))).toHaveLength(250);
  });

  it('a change GitHub lists only part of is unresolved, with the count', async () => {
    compare = pagedCompare(250, 'ahead', 30);
    expect(await client().range('acme/infra', 'main', BASE, HEAD)).toEqual({
      kind: 'unresolved',
      reason: 'GitHub listed 220 of the 250 commits between the last apply and this one',
    });
  });

  it('behind, diverged (a force-push), a first apply and a failing GitHub each fail closed or say behind', async () => {
    compare = () => ({ status: 200, body: { status: 'behind', total_commits: 0, commits: [] } });
    expect(await client().range('acme/infra', 'main', BASE, HEAD)).toEqual({ kind: 'behind' });

    compare = () => ({ status: 200, body: { status: 'diverged', total_commits: 1, commits: [commitJson(1)] } });
    const diverged = await client().range('acme/infra', 'main', BASE, HEAD);
    expect(diverged).toMatchObject({ kind: 'unresolved', reason: expect.stringContaining('force-push') });

    requests.length = 0;
    expect(await client().range('acme/infra', 'main', undefined, HEAD)).toMatchObject({
      kind: 'unresolved',
      reason: expect.stringContaining('first apply'),
    });
    expect(requests).toEqual([]);

    compare = () => ({ status: 404, body: { message: 'No common ancestor between b and e.' } });
    expect(await client().range('acme/infra', 'main', BASE, HEAD)).toMatchObject({
      kind: 'unresolved',
      reason: expect.stringContaining('GitHub could not be asked about the change'),
    });

    compare = pagedCompare(3);
    pulls = () => ({ status: 502, body: { message: 'Bad Gateway' } });
    expect(await client().range('acme/infra', 'main', BASE, HEAD)).toMatchObject({ kind: 'unresolved' });
  });
});

describe('GitHubClient.range: the pull requests merged in the range', () => {
  it('names each pull request merged into the branch once, by opener; not open ones nor other bases', async () => {
    compare = pagedCompare(3);
    const pull = (number: number, fields: { merged?: boolean; base?: string; login?: string | null }) => ({
      number,
      title: `Pull ${number}`,
      merged_at: fields.merged === false ? null : '2026-01-01T00:00:00Z',
      base: { ref: fields.base ?? 'main' },
      user: fields.login === null ? null : { login: fields.login ?? `opener${number}` },
    });
    pulls = (sha) => {
      if (sha === shaOf(1)) return { status: 200, body: [pull(12, {}), pull(40, { merged: false })] };
      if (sha === shaOf(2)) return { status: 200, body: [pull(12, {}), pull(7, { base: 'release' })] };
      return { status: 200, body: [pull(3, { login: null })] };
    };
    const range = await client().range('acme/infra', 'main', BASE, HEAD);
    if (range.kind !== 'range') throw new Error(`expected a range, got ${JSON.stringify(range)}`);
    expect(range.pullRequests).toEqual([
      { number: 3, title: 'Pull 3' },
      { number: 12, title: 'Pull 12', author: 'opener12' },
    ]);
  });
});

describe('GitHubClient.contains', () => {
  it('is true when behind or identical, false when ahead or diverged; the same commit asks nothing', async () => {
    const asked: string[] = [];
    for (const [status, contained] of [
      ['behind', true],
      ['identical', true],
      ['ahead', false],
      ['diverged', false],
    ] as const) {
      compare = (_page, _perPage, basehead) => {
        asked.push(basehead);
        return { status: 200, body: { status, total_commits: 0, commits: [] } };
      };
      expect(await client().contains('acme/infra', HEAD, BASE), status).toBe(contained);
    }
    expect(asked).toEqual(Array(4).fill(`${HEAD}...${BASE}`));
    requests.length = 0;
    expect(await client().contains('acme/infra', HEAD, HEAD)).toBe(true);
    expect(requests).toEqual([]);
  });
});
