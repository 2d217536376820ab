import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small stand-in for GitHub on 127.0.0.1: the REST API under /api/v3 (commit statuses, issue comments,
 * branches, commits and branch activity, the GitHub App installation endpoints, the signed-in user, team
 * memberships) and the OAuth web flow at the root (authorize → code → access token), as GitHub
 * Enterprise Server lays them out. It records every call, and can be told to fail every API call.
 */

export interface RecordedCall {
  method: string;
  path: string;
  query: URLSearchParams;
  body: Record<string, unknown> | undefined;
  authorization: string | undefined;
}

export interface FakeComment {
  id: number;
  body: string;
  user: { login: string; type: string };
}

export interface FakeUser {
  emails: Array<{ email: string; verified: boolean }>;
}

/** A commit as the commits API answers it: GitHub logins where GitHub resolved the address. */
export interface FakeCommit {
  authorLogin?: string;
  committerLogin?: string;
  authorEmail: string;
  committerEmail: string;
}

export type FailureMode = { status: number; headers?: Record<string, string>; message: string } | undefined;

export interface FakeGitHub {
  apiUrl: string;
  calls: RecordedCall[];
  comments: Map<number, FakeComment[]>;
  branches: Map<string, string>;
  failWith: FailureMode;
  /** OAuth: the registered app, and who is signed in to "GitHub" in the browser (authorize answers for them). */
  oauthApp: { clientId: string; clientSecret: string };
  signedInAs: string | undefined;
  users: Map<string, FakeUser>;
  /** `org/team-slug` → member logins. */
  teams: Map<string, string[]>;
  /** `owner/repo/sha` → the commit; `owner/repo/branch` → push activity (newest first). */
  commits: Map<string, FakeCommit>;
  activity: Map<string, Array<{ before: string; after: string; actor: string }>>;
  /** `owner/repo/before...after` → the shas of `commits` between them. */
  compares: Map<string, string[]>;
  /** Statuses recorded for one commit, in order. */
  statusesFor(sha: string): Array<{ context: string; state: string; description: string; target_url?: string }>;
  close(): Promise<void>;
}

const STATUS = /^\/repos\/([^/]+)\/([^/]+)\/statuses\/([0-9a-f]{40})$/;
const ISSUE_COMMENTS = /^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/comments$/;
const COMMENT = /^\/repos\/([^/]+)\/([^/]+)\/issues\/comments\/(\d+)$/;
const BRANCH = /^\/repos\/([^/]+)\/([^/]+)\/branches\/(.+)$/;
const INSTALLATION = /^\/repos\/([^/]+)\/([^/]+)\/installation$/;
const ACCESS_TOKENS = /^\/app\/installations\/(\d+)\/access_tokens$/;
const TEAM_MEMBERSHIP = /^\/orgs\/([^/]+)\/teams\/([^/]+)\/memberships\/([^/]+)$/;
const ORG_INSTALLATION = /^\/orgs\/([^/]+)\/installation$/;
const COMMIT = /^\/repos\/([^/]+)\/([^/]+)\/commits\/([0-9a-f]{40})$/;
const COMPARE = /^\/repos\/([^/]+)\/([^/]+)\/compare\/([0-9a-f]{40}\.\.\.[0-9a-f]{40})$/;
const ACTIVITY = /^\/repos\/([^/]+)\/([^/]+)\/activity$/;

export async function startFakeGitHub(options: { pageSize?: number } = {}): Promise<FakeGitHub> {
  let nextId = 1000;
  const state = {
    calls: [] as RecordedCall[],
    comments: new Map<number, FakeComment[]>(),
    branches: new Map<string, string>(),
    failWith: undefined as FailureMode,
    oauthApp: { clientId: 'Iv1.fakeclientid', clientSecret: 'fake-client-secret-9f3a' },
    signedInAs: undefined as string | undefined,
    users: new Map<string, FakeUser>(),
    teams: new Map<string, string[]>(),
    commits: new Map<string, FakeCommit>(),
    activity: new Map<string, Array<{ before: string; after: string; actor: string }>>(),
    compares: new Map<string, string[]>(),
  };
  const codes = new Map<string, string>();
  const tokens = new Map<string, string>();

  const send = (response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    response.end(JSON.stringify(body));
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(request.url ?? '/', 'http://fake');
    // The OAuth web flow lives at the root of the server, beside /api/v3 (GitHub Enterprise Server's layout).
    if (url.pathname === '/login/oauth/authorize') {
      const redirect = url.searchParams.get('redirect_uri');
      if (url.searchParams.get('client_id') !== state.oauthApp.clientId || !redirect)
        return send(response, 400, { message: 'unknown client or no redirect_uri' });
      if (!state.signedInAs) return send(response, 401, { message: 'nobody is signed in to the fake GitHub' });
      // The person has authorized the app before: GitHub sends them straight back with a code.
      const code = `code-${nextId++}`;
      codes.set(code, state.signedInAs);
      const back = new URL(redirect);
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      response.writeHead(302, { location: back.toString() });
      response.end();
      return;
    }
    if (url.pathname === '/login/oauth/access_token' && request.method === 'POST') {
      const form = request.headers['content-type']?.includes('json')
        ? (JSON.parse(text) as Record<string, string>)
        : Object.fromEntries(new URLSearchParams(text));
      const login = codes.get(form.code ?? '');
      codes.delete(form.code ?? '');
      if (form.client_id !== state.oauthApp.clientId || form.client_secret !== state.oauthApp.clientSecret || !login) {
        return send(response, 200, {
          error: 'bad_verification_code',
          error_description: 'The code passed is incorrect or expired.',
          error_uri: 'https://docs.github.com',
        });
      }
      const token = `gho_fake_${nextId++}`;
      tokens.set(token, login);
      return send(response, 200, { access_token: token, token_type: 'bearer', scope: 'user:email' });
    }
    // The apiUrl carries /api/v3 like GitHub Enterprise Server, proving baseUrl is honoured.
    if (!url.pathname.startsWith('/api/v3/'))
      return send(response, 404, { message: `not under /api/v3: ${url.pathname}` });
    const path = decodeURIComponent(url.pathname.slice('/api/v3'.length));
    const method = request.method ?? 'GET';
    state.calls.push({
      method,
      path,
      query: url.searchParams,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined,
      authorization: request.headers.authorization,
    });

    if (state.failWith && !path.startsWith('/app/')) {
      return send(response, state.failWith.status, { message: state.failWith.message }, state.failWith.headers ?? {});
    }

    // The route's captures when both the verb and the path match; one lookup per route, no shared mutable match.
    const route = (verb: string | undefined, pattern: RegExp) =>
      verb === undefined || method === verb ? pattern.exec(path) : null;
    if (route('POST', STATUS)) return send(response, 201, { id: nextId++, ...(JSON.parse(text) as object) });
    const issueComments = route(undefined, ISSUE_COMMENTS);
    if (issueComments) {
      const issue = Number(issueComments[3]);
      const list = state.comments.get(issue) ?? [];
      if (method === 'GET') {
        const perPage = Math.min(Number(url.searchParams.get('per_page') ?? 30), options.pageSize ?? 100);
        const page = Number(url.searchParams.get('page') ?? 1);
        const slice = list.slice((page - 1) * perPage, page * perPage);
        const headers: Record<string, string> = {};
        if (page * perPage < list.length) {
          const next = new URL(request.url ?? '/', `http://${request.headers.host}`);
          next.searchParams.set('page', String(page + 1));
          headers.link = `<${next.toString()}>; rel="next"`;
        }
        return send(response, 200, slice, headers);
      }
      if (method === 'POST') {
        const comment: FakeComment = {
          id: nextId++,
          body: String((JSON.parse(text) as { body: unknown }).body),
          user: { login: 'tfgate[bot]', type: 'Bot' },
        };
        state.comments.set(issue, [...list, comment]);
        return send(response, 201, comment);
      }
    }
    const commentMatch = route('PATCH', COMMENT);
    if (commentMatch) {
      const id = Number(commentMatch[3]);
      for (const list of state.comments.values()) {
        const comment = list.find((c) => c.id === id);
        if (comment) {
          comment.body = String((JSON.parse(text) as { body: unknown }).body);
          return send(response, 200, comment);
        }
      }
      return send(response, 404, { message: 'Not Found' });
    }
    const branchMatch = route('GET', BRANCH);
    if (branchMatch) {
      const sha = state.branches.get(`${branchMatch[1]}/${branchMatch[2]}/${branchMatch[3]}`);
      return sha
        ? send(response, 200, { name: branchMatch[3], commit: { sha } })
        : send(response, 404, { message: 'Branch not found' });
    }
    if (method === 'GET' && (path === '/user' || path === '/user/emails')) {
      const login = tokens.get((request.headers.authorization ?? '').replace(/^(token|bearer) /i, ''));
      if (!login) return send(response, 401, { message: 'Bad credentials' });
      if (path === '/user') return send(response, 200, { login, id: 1000 + login.length, type: 'User' });
      return send(
        response,
        200,
        (state.users.get(login)?.emails ?? []).map((e, i) => ({ ...e, primary: i === 0, visibility: null })),
      );
    }
    const membership = route('GET', TEAM_MEMBERSHIP);
    if (membership) {
      const members = state.teams.get(`${membership[1]}/${membership[2]}`.toLowerCase()) ?? [];
      return members.includes(membership[3]!.toLowerCase())
        ? send(response, 200, { state: 'active', role: 'member' })
        : send(response, 404, { message: 'Not Found' });
    }
    const commitJson = (sha: string, commit: FakeCommit) => ({
      sha,
      author: commit.authorLogin ? { login: commit.authorLogin } : null,
      committer: commit.committerLogin ? { login: commit.committerLogin } : null,
      commit: { author: { email: commit.authorEmail }, committer: { email: commit.committerEmail } },
    });
    const commitMatch = route('GET', COMMIT);
    if (commitMatch) {
      const commit = state.commits.get(`${commitMatch[1]}/${commitMatch[2]}/${commitMatch[3]}`);
      if (!commit) return send(response, 404, { message: 'No commit found' });
      return send(response, 200, commitJson(commitMatch[3]!, commit));
    }
    const compare = route('GET', COMPARE);
    if (compare) {
      const shas = state.compares.get(`${compare[1]}/${compare[2]}/${compare[3]}`);
      if (!shas) return send(response, 404, { message: 'Not Found' });
      return send(response, 200, {
        status: 'ahead',
        total_commits: shas.length,
        commits: shas.map((sha) => commitJson(sha, state.commits.get(`${compare[1]}/${compare[2]}/${sha}`)!)),
      });
    }
    const activity = route('GET', ACTIVITY);
    if (activity) {
      const branch = (url.searchParams.get('ref') ?? '').replace('refs/heads/', '');
      const list = state.activity.get(`${activity[1]}/${activity[2]}/${branch}`) ?? [];
      return send(
        response,
        200,
        list.map((entry, i) => ({
          id: i + 1,
          ref: `refs/heads/${branch}`,
          activity_type: 'push',
          before: entry.before,
          after: entry.after,
          actor: { login: entry.actor },
        })),
      );
    }
    const orgInstallation = route('GET', ORG_INSTALLATION);
    if (orgInstallation) return send(response, 200, { id: 4343, account: { login: orgInstallation[1] } });
    const installation = route('GET', INSTALLATION);
    if (installation) return send(response, 200, { id: 4242, account: { login: installation[1] } });
    const accessTokens = route('POST', ACCESS_TOKENS);
    if (accessTokens) {
      return send(response, 201, {
        token: `ghs_installation_${accessTokens[1]}`,
        expires_at: new Date(Date.now() + 3600_000).toISOString(),
        permissions: {},
        repository_selection: 'all',
      });
    }
    return send(response, 404, { message: `no route for ${method} ${path}` });
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => send(response, 500, { message: String(error) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    apiUrl: `http://127.0.0.1:${port}/api/v3`,
    get calls() {
      return state.calls;
    },
    comments: state.comments,
    branches: state.branches,
    oauthApp: state.oauthApp,
    get signedInAs() {
      return state.signedInAs;
    },
    set signedInAs(login: string | undefined) {
      state.signedInAs = login;
    },
    users: state.users,
    teams: state.teams,
    commits: state.commits,
    activity: state.activity,
    compares: state.compares,
    get failWith() {
      return state.failWith;
    },
    set failWith(mode: FailureMode) {
      state.failWith = mode;
    },
    statusesFor(sha: string) {
      return state.calls
        .filter((call) => call.method === 'POST' && call.path.endsWith(`/statuses/${sha}`))
        .map((call) => call.body as { context: string; state: string; description: string; target_url?: string });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  } satisfies FakeGitHub;
}
