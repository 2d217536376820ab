import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small stand-in for GitHub's REST API on 127.0.0.1: commit statuses, issue comments, branches and
 * the GitHub App installation endpoints. It records every call, and can be told to fail every call.
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

export type FailureMode = { status: number; headers?: Record<string, string>; message: string } | undefined;

export interface FakeGitHub {
  apiUrl: string;
  calls: RecordedCall[];
  comments: Map<number, FakeComment[]>;
  branches: Map<string, string>;
  failWith: FailureMode;
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

export async function startFakeGitHub(options: { pageSize?: number } = {}): Promise<FakeGitHub> {
  let nextId = 1000;
  const state = {
    calls: [] as RecordedCall[],
    comments: new Map<number, FakeComment[]>(),
    branches: new Map<string, string>(),
    failWith: undefined as FailureMode,
  };

  const send = (response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    response.end(JSON.stringify(body));
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(request.url ?? '/', 'http://fake');
    // The apiUrl carries /api/v3 like GitHub Enterprise Server, proving baseUrl is honoured.
    if (!url.pathname.startsWith('/api/v3/')) return send(response, 404, { message: `not under /api/v3: ${url.pathname}` });
    const path = decodeURIComponent(url.pathname.slice('/api/v3'.length));
    const method = request.method ?? 'GET';
    state.calls.push({ method, path, query: url.searchParams, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined, authorization: request.headers.authorization });

    if (state.failWith && !path.startsWith('/app/')) {
      return send(response, state.failWith.status, { message: state.failWith.message }, state.failWith.headers ?? {});
    }

    let match: RegExpExecArray | null;
    if (method === 'POST' && (match = STATUS.exec(path))) return send(response, 201, { id: nextId++, ...(JSON.parse(text) as object) });
    if ((match = ISSUE_COMMENTS.exec(path))) {
      const issue = Number(match[3]);
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
        const comment: FakeComment = { id: nextId++, body: String((JSON.parse(text) as { body: unknown }).body), user: { login: 'tfgate[bot]', type: 'Bot' } };
        state.comments.set(issue, [...list, comment]);
        return send(response, 201, comment);
      }
    }
    if (method === 'PATCH' && (match = COMMENT.exec(path))) {
      const id = Number(match[3]);
      for (const list of state.comments.values()) {
        const comment = list.find((c) => c.id === id);
        if (comment) {
          comment.body = String((JSON.parse(text) as { body: unknown }).body);
          return send(response, 200, comment);
        }
      }
      return send(response, 404, { message: 'Not Found' });
    }
    if (method === 'GET' && (match = BRANCH.exec(path))) {
      const sha = state.branches.get(`${match[1]}/${match[2]}/${match[3]}`);
      return sha ? send(response, 200, { name: match[3], commit: { sha } }) : send(response, 404, { message: 'Branch not found' });
    }
    if (method === 'GET' && (match = INSTALLATION.exec(path))) return send(response, 200, { id: 4242, account: { login: match[1] } });
    if (method === 'POST' && (match = ACCESS_TOKENS.exec(path))) {
      return send(response, 201, { token: `ghs_installation_${match[1]}`, expires_at: new Date(Date.now() + 3600_000).toISOString(), permissions: {}, repository_selection: 'all' });
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
