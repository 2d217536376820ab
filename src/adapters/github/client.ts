import { Readable, Transform } from 'node:stream';
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import { TfgateError } from '../../domain/errors.js';
import { uniqueLower, type ChangePeople, type TeamDirectory } from '../../auth/person.js';
import type { ChangePeopleSource, CommitHistory, CommitState, RetryHint, VcsClient } from '../../domain/ports.js';
import type { HistoryCommit, HistoryRange, MergedPullRequest } from '../../domain/change-range.js';
import type { GitHubCredentials, InstallationTarget, TokenMinter } from './credentials.js';

/**
 * VcsClient over GitHub's REST API (github.com, or GitHub Enterprise Server through `github.apiUrl`).
 * It makes each call once; retrying is the caller's choice, guided by the RetryHint on its errors.
 */

export class GitHubApiError extends TfgateError implements RetryHint {
  override name = 'GitHubApiError';
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export interface GitHubClientOptions {
  apiUrl: string;
  /** Without credentials the client is anonymous (public repositories' archives only). */
  credentials: GitHubCredentials | undefined;
  /** One request may take this long before it counts as failed (and retryable). */
  requestTimeoutMs?: number;
  userAgent?: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** A repository archive can take a while; 10 s is for small API calls. */
const ARCHIVE_TIMEOUT_MS = 120_000;
const MAX_ARCHIVE_BYTES = 512 * 1024 * 1024;
const COMMENTS_PER_PAGE = 100;
const COMPARE_PER_PAGE = 100;
const PULL_LOOKUPS_AT_ONCE = 8;
/** A minted token is asked for again this long before GitHub says it expires (or after this long without a date). */
const MINTED_TOKEN_MARGIN_MS = 5 * 60_000;
const MINTED_TOKEN_DEFAULT_LIFE_MS = 30 * 60_000;

type Repo = { owner: string; repo: string };

function splitRepository(repository: string): Repo {
  const [owner, repo, ...rest] = repository.split('/');
  if (!owner || !repo || rest.length > 0)
    throw new GitHubApiError(`not an owner/name repository: ${JSON.stringify(repository)}`, undefined, false);
  return { owner, repo };
}

// Octokit's own logging would print every request; tfgate reports failures itself.
const quietLog = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

type CompareCommit = {
  sha: string;
  parents?: Array<{ sha: string }>;
  author?: { login?: string } | null;
  committer?: { login?: string } | null;
  commit: {
    message: string;
    author?: { name?: string; email?: string } | null;
    committer?: { name?: string; email?: string } | null;
  };
};

function historyCommitOf(commit: CompareCommit): HistoryCommit {
  const person = (git: { name?: string; email?: string } | null | undefined, login: string | undefined) => ({
    ...(git?.name ? { name: git.name } : {}),
    ...(git?.email ? { email: git.email } : {}),
    ...(login ? { login } : {}),
  });
  return {
    sha: commit.sha,
    parents: (commit.parents ?? []).map((parent) => parent.sha),
    title: commit.commit.message.split('\n')[0] ?? '',
    author: person(commit.commit.author, commit.author?.login),
    committer: person(commit.commit.committer, commit.committer?.login),
  };
}

export class GitHubClient implements VcsClient, TeamDirectory, ChangePeopleSource, CommitHistory {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly shared: Octokit | undefined;
  private readonly installations = new Map<string, Promise<Octokit>>();
  private readonly mintedTokens = new Map<string, { client: Promise<Octokit>; renewAt: number }>();

  constructor(private readonly options: GitHubClientOptions) {
    this.baseUrl = options.apiUrl.replace(/\/+$/, '');
    this.timeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    const credentials = options.credentials;
    this.shared =
      credentials === undefined
        ? this.octokit(undefined)
        : credentials.kind === 'token'
          ? this.octokit(credentials.token)
          : undefined;
  }

  async setCommitStatus(
    repository: string,
    sha: string,
    status: { context: string; state: CommitState; description: string; targetUrl?: string },
  ): Promise<void> {
    const { owner, repo } = splitRepository(repository);
    const octokit = await this.forRepository(repository);
    await call('create a commit status', () =>
      octokit.rest.repos.createCommitStatus({
        owner,
        repo,
        sha,
        state: status.state,
        context: status.context,
        description: status.description,
        ...(status.targetUrl ? { target_url: status.targetUrl } : {}),
      }),
    );
  }

  async upsertPullRequestComment(repository: string, pullRequest: number, marker: string, body: string): Promise<void> {
    const { owner, repo } = splitRepository(repository);
    const octokit = await this.forRepository(repository);
    let existing: number | undefined;
    await call('list pull request comments', async () => {
      const pages = octokit.paginate.iterator(octokit.rest.issues.listComments, {
        owner,
        repo,
        issue_number: pullRequest,
        per_page: COMMENTS_PER_PAGE,
      });
      for await (const page of pages) {
        // The marker opens tfgate's own body; a person quoting it starts with "> " and is left alone.
        const found = page.data.find((comment) => comment.body?.startsWith(marker));
        if (found) {
          existing = found.id;
          break;
        }
      }
    });
    if (existing !== undefined) {
      const commentId = existing;
      await call('update the plan comment', () =>
        octokit.rest.issues.updateComment({ owner, repo, comment_id: commentId, body }),
      );
      return;
    }
    await call('create the plan comment', () =>
      octokit.rest.issues.createComment({ owner, repo, issue_number: pullRequest, body }),
    );
  }

  async getBranchHead(repository: string, branch: string): Promise<string | undefined> {
    const { owner, repo } = splitRepository(repository);
    const octokit = await this.forRepository(repository);
    try {
      const response = await call('read the branch', () => octokit.rest.repos.getBranch({ owner, repo, branch }));
      return response.data.commit.sha;
    } catch (error) {
      if (error instanceof GitHubApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  /**
   * The commit as a gzipped tarball (one top-level directory), from GitHub's archive API at the exact
   * sha. GitHub answers with a redirect to codeload; fetch drops the Authorization header when it
   * follows a redirect to another origin, so the credential only ever goes to the API host.
   */
  async downloadTarball(repository: string, sha: string): Promise<Buffer> {
    if (!/^[0-9a-f]{40}$/.test(sha))
      throw new GitHubApiError(`not a commit id: ${JSON.stringify(sha)}`, undefined, false);
    const { owner, repo } = splitRepository(repository);
    const octokit = await this.forRepository(repository);
    const response = await call('download the commit archive', () =>
      octokit.request('GET /repos/{owner}/{repo}/tarball/{ref}', { owner, repo, ref: sha }),
    );
    const data = response.data as unknown;
    const bytes =
      data instanceof ArrayBuffer
        ? Buffer.from(data)
        : Buffer.isBuffer(data)
          ? data
          : typeof data === 'string'
            ? Buffer.from(data, 'binary')
            : undefined;
    if (!bytes)
      throw new GitHubApiError('GitHub API: the commit archive came back in an unexpected form', undefined, false);
    if (bytes.length > MAX_ARCHIVE_BYTES)
      throw new GitHubApiError(
        `GitHub API: the commit archive is larger than ${MAX_ARCHIVE_BYTES} bytes`,
        undefined,
        false,
      );
    return bytes;
  }

  /**
   * The commit archive as a stream, never held whole: the response body as it arrives, cut off (an
   * error) past MAX_ARCHIVE_BYTES.
   */
  async streamTarball(repository: string, sha: string): Promise<Readable> {
    if (!/^[0-9a-f]{40}$/.test(sha))
      throw new GitHubApiError(`not a commit id: ${JSON.stringify(sha)}`, undefined, false);
    const { owner, repo } = splitRepository(repository);
    const octokit = await this.forRepository(repository);
    const response = await call('download the commit archive', () =>
      octokit.request('GET /repos/{owner}/{repo}/tarball/{ref}', {
        owner,
        repo,
        ref: sha,
        request: { parseSuccessResponseBody: false },
      }),
    );
    const data = response.data as unknown;
    if (!(data instanceof ReadableStream))
      throw new GitHubApiError('GitHub API: the commit archive came back in an unexpected form', undefined, false);
    let seen = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        seen += chunk.length;
        if (seen > MAX_ARCHIVE_BYTES)
          done(
            new GitHubApiError(`GitHub API: the commit archive is larger than ${MAX_ARCHIVE_BYTES} bytes`, 413, false),
          );
        else done(null, chunk);
      },
    });
    return Readable.fromWeb(data as import('node:stream/web').ReadableStream).pipe(limit);
  }

  /** Team membership as GitHub says it now (the approval page asks at decision time). */
  async isTeamMember(org: string, teamSlug: string, login: string): Promise<boolean> {
    const octokit = await this.forOwner(org);
    try {
      const response = await call('check team membership', () =>
        octokit.rest.teams.getMembershipForUserInOrg({ org, team_slug: teamSlug, username: login }),
      );
      return response.data.state === 'active';
    } catch (error) {
      if (error instanceof GitHubApiError && error.status === 404) return false;
      throw error;
    }
  }

  /**
   * The pusher (the repository's activity for the branch), and the GitHub logins and addresses of
   * every commit that push brought (the head alone when the push is not found).
   */
  async changePeople(repository: string, branch: string, sha: string): Promise<ChangePeople> {
    const { owner, repo } = splitRepository(repository);
    const octokit = await this.forRepository(repository);
    let push: { before?: string; actor?: string } | undefined;
    try {
      const activity = await call('read the branch activity', () =>
        octokit.request('GET /repos/{owner}/{repo}/activity', {
          owner,
          repo,
          ref: `refs/heads/${branch}`,
          activity_type: 'push',
          per_page: 100,
        }),
      );
      const entry = (
        activity.data as Array<{ after?: string; before?: string; actor?: { login?: string } | null }>
      ).find((item) => item.after?.toLowerCase() === sha.toLowerCase());
      if (entry)
        push = {
          ...(entry.before ? { before: entry.before } : {}),
          ...(entry.actor?.login ? { actor: entry.actor.login } : {}),
        };
    } catch {
      // Without the activity the pusher stays unknown, and the gate fails closed below.
    }
    type CommitLike = {
      author?: { login?: string } | null;
      committer?: { login?: string } | null;
      commit: { author?: { email?: string } | null; committer?: { email?: string } | null };
    };
    let commits: CommitLike[];
    if (push?.before && !/^0+$/.test(push.before)) {
      const before = push.before;
      const compared = await call('compare the pushed commits', () =>
        octokit.rest.repos.compareCommitsWithBasehead({ owner, repo, basehead: `${before}...${sha}`, per_page: 100 }),
      );
      commits = compared.data.commits as CommitLike[];
    } else {
      commits = [
        (await call('read the commit', () => octokit.rest.repos.getCommit({ owner, repo, ref: sha })))
          .data as CommitLike,
      ];
    }
    return {
      logins: uniqueLower([push?.actor, ...commits.flatMap((c) => [c.author?.login, c.committer?.login])]),
      emails: uniqueLower(commits.flatMap((c) => [c.commit.author?.email, c.commit.committer?.email])),
      ...(push?.actor ? {} : { unknown: `GitHub did not say who pushed ${sha.slice(0, 7)} to ${branch}` }),
    };
  }

  /**
   * base..head from the compare API, paged through to the last commit (no cap), with the pull requests merged into
   * the branch by those commits. First apply (no base): unresolved, since the whole history is not a change anyone
   * reviewed as one. Never throws: what cannot be read is an unresolved range with the reason.
   */
  async range(repository: string, branch: string, base: string | undefined, head: string): Promise<HistoryRange> {
    if (base === undefined)
      return {
        kind: 'unresolved',
        reason:
          'this environment has never applied anything through tfgate, so there is no last apply to compare with ' +
          '(first apply)',
      };
    try {
      const { owner, repo } = splitRepository(repository);
      const octokit = await this.forRepository(repository);
      const commits: HistoryCommit[] = [];
      let status: string | undefined;
      let total = 0;
      for (let page = 1; ; page++) {
        const response = await call('compare the change', () =>
          octokit.rest.repos.compareCommitsWithBasehead({
            owner,
            repo,
            basehead: `${base}...${head}`,
            per_page: COMPARE_PER_PAGE,
            page,
          }),
        );
        status = response.data.status;
        total = response.data.total_commits;
        if (status === 'behind') return { kind: 'behind' };
        if (status === 'diverged')
          return {
            kind: 'unresolved',
            reason:
              `what the environment last applied (${base.slice(0, 7)}) is not an ancestor of ${head.slice(0, 7)} ` +
              '(a force-push rewrote the branch), so tfgate cannot tell which commits this change brings',
          };
        for (const commit of response.data.commits) commits.push(historyCommitOf(commit));
        if (response.data.commits.length < COMPARE_PER_PAGE || commits.length >= total) break;
      }
      if (commits.length !== total)
        return {
          kind: 'unresolved',
          reason: `GitHub listed ${commits.length} of the ${total} commits between the last apply and this one`,
        };
      const pullRequests = await this.mergedPullRequests(octokit, { owner, repo }, branch, commits);
      return { kind: 'range', commits, pullRequests };
    } catch (error) {
      return { kind: 'unresolved', reason: `GitHub could not be asked about the change: ${(error as Error).message}` };
    }
  }

  /** Whether `sha` is contained in `of` (an ancestor or the same), by the compare API's status. */
  async contains(repository: string, of: string, sha: string): Promise<boolean> {
    if (of === sha) return true;
    const { owner, repo } = splitRepository(repository);
    const octokit = await this.forRepository(repository);
    const response = await call('compare two commits', () =>
      octokit.rest.repos.compareCommitsWithBasehead({ owner, repo, basehead: `${of}...${sha}`, per_page: 1 }),
    );
    return response.data.status === 'behind' || response.data.status === 'identical';
  }

  /** The pull requests merged into `branch` that brought these commits (one lookup per commit, a few at a time). */
  private async mergedPullRequests(
    octokit: Octokit,
    { owner, repo }: Repo,
    branch: string,
    commits: readonly HistoryCommit[],
  ): Promise<MergedPullRequest[]> {
    const found = new Map<number, MergedPullRequest>();
    for (let start = 0; start < commits.length; start += PULL_LOOKUPS_AT_ONCE) {
      const batch = commits.slice(start, start + PULL_LOOKUPS_AT_ONCE);
      const answers = await Promise.all(
        batch.map((commit) =>
          call('find the pull requests of a commit', () =>
            octokit.rest.repos.listPullRequestsAssociatedWithCommit({ owner, repo, commit_sha: commit.sha }),
          ),
        ),
      );
      for (const answer of answers)
        for (const pull of answer.data)
          if (pull.merged_at && pull.base.ref === branch && !found.has(pull.number))
            found.set(pull.number, {
              number: pull.number,
              title: pull.title,
              ...(pull.user?.login ? { author: pull.user.login } : {}),
            });
    }
    return [...found.values()].sort((a, b) => a.number - b.number);
  }

  private octokit(
    auth: string | undefined,
    app?: { appId: string; privateKey: string; installationId?: number },
  ): Octokit {
    return new Octokit({
      baseUrl: this.baseUrl,
      userAgent: this.options.userAgent ?? 'tfgate',
      log: quietLog,
      request: { fetch: this.timedFetch },
      ...(app ? { authStrategy: createAppAuth, auth: app } : auth ? { auth } : {}),
    });
  }

  private readonly timedFetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = input instanceof Request ? input.url : String(input);
    const limit = url.includes('/tarball/') ? ARCHIVE_TIMEOUT_MS : this.timeoutMs;
    return fetch(input, {
      ...init,
      signal: init?.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(limit)]) : AbortSignal.timeout(limit),
    });
  };

  /**
   * A token another function minted for this target, reused until shortly before it expires. A failed
   * request for one is not remembered.
   */
  private minted(key: string, target: InstallationTarget, mint: TokenMinter): Promise<Octokit> {
    const now = Date.now();
    const cached = this.mintedTokens.get(key);
    if (cached && cached.renewAt > now) return cached.client;
    const entry = { client: undefined as unknown as Promise<Octokit>, renewAt: Number.POSITIVE_INFINITY };
    const asked = mint(target).catch((error: unknown) => {
      // The token function's own reason (no secret in it), retryable: the next call asks again.
      throw new GitHubApiError(
        `could not get a GitHub installation token: ${error instanceof Error ? error.message : String(error)}`,
        undefined,
        true,
      );
    });
    entry.client = asked.then((minted) => {
      const expires = minted?.expiresAt ? Date.parse(minted.expiresAt) : Number.NaN;
      entry.renewAt = Number.isFinite(expires)
        ? expires - MINTED_TOKEN_MARGIN_MS
        : Date.now() + MINTED_TOKEN_DEFAULT_LIFE_MS;
      return this.octokit(minted?.token);
    });
    entry.client.catch(() => {
      if (this.mintedTokens.get(key) === entry) this.mintedTokens.delete(key);
    });
    this.mintedTokens.set(key, entry);
    return entry.client;
  }

  /** Organization lookups (teams) act through the App's installation on that organization. */
  private forOwner(org: string): Promise<Octokit> {
    if (this.shared) return Promise.resolve(this.shared);
    const credentials = this.options.credentials;
    if (credentials?.kind === 'minted') return this.minted(`org:${org.toLowerCase()}`, { org }, credentials.mint);
    if (credentials?.kind !== 'app')
      throw new Error('unreachable: token credentials and anonymous access use the shared client');
    const key = `org:${org.toLowerCase()}`;
    let found = this.installations.get(key);
    if (!found) {
      const app = this.octokit(undefined, { appId: credentials.appId, privateKey: credentials.privateKey });
      found = call('find the GitHub App installation', () => app.rest.apps.getOrgInstallation({ org })).then(
        (response) =>
          this.octokit(undefined, {
            appId: credentials.appId,
            privateKey: credentials.privateKey,
            installationId: response.data.id,
          }),
      );
      found.catch(() => this.installations.delete(key));
      this.installations.set(key, found);
    }
    return found;
  }

  /** A GitHub App acts through the installation on the repository's owner; found once, then reused. */
  private forRepository(repository: string): Promise<Octokit> {
    if (this.shared) return Promise.resolve(this.shared);
    const credentials = this.options.credentials;
    if (credentials?.kind === 'minted') return this.minted(repository.toLowerCase(), { repository }, credentials.mint);
    if (credentials?.kind !== 'app') throw new Error('unreachable: token and anonymous clients are shared');
    const key = repository.toLowerCase();
    let found = this.installations.get(key);
    if (!found) {
      const { owner, repo } = splitRepository(repository);
      const app = this.octokit(undefined, { appId: credentials.appId, privateKey: credentials.privateKey });
      found = call('find the GitHub App installation', () => app.rest.apps.getRepoInstallation({ owner, repo })).then(
        (response) =>
          this.octokit(undefined, {
            appId: credentials.appId,
            privateKey: credentials.privateKey,
            installationId: response.data.id,
          }),
      );
      // A failed lookup is not remembered: the App may be installed a minute later.
      found.catch(() => this.installations.delete(key));
      this.installations.set(key, found);
    }
    return found;
  }
}

async function call<T>(what: string, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (error) {
    throw toGitHubApiError(what, error);
  }
}

interface OctokitLikeError {
  status?: number;
  message?: string;
  name?: string;
  response?: { headers?: Record<string, string | number | undefined>; data?: unknown };
}

/** Rate limits (403/429 with Retry-After or an exhausted quota), 5xx and network failures are worth retrying. */
export function toGitHubApiError(what: string, error: unknown, now: number = Date.now()): GitHubApiError {
  if (error instanceof GitHubApiError) return error;
  const failure = (typeof error === 'object' && error !== null ? error : {}) as OctokitLikeError;
  // Octokit reports a request that got no answer (refused, reset, timed out) as a 500 without a response.
  const answered = failure.response !== undefined;
  const status = answered && typeof failure.status === 'number' && failure.status > 0 ? failure.status : undefined;
  const headers = failure.response?.headers ?? {};
  const header = (name: string) => {
    const value = headers[name];
    return value === undefined ? undefined : String(value);
  };
  const apiMessage = messageFromBody(failure.response?.data);
  let retryAfterMs: number | undefined;
  const retryAfter = Number(header('retry-after'));
  if (Number.isFinite(retryAfter) && retryAfter >= 0 && header('retry-after') !== undefined)
    retryAfterMs = retryAfter * 1000;
  const quotaExhausted = header('x-ratelimit-remaining') === '0';
  if (retryAfterMs === undefined && quotaExhausted) {
    const reset = Number(header('x-ratelimit-reset'));
    if (Number.isFinite(reset)) retryAfterMs = Math.max(0, reset * 1000 - now);
  }
  const rateLimited =
    status === 429 ||
    (status === 403 && (retryAfterMs !== undefined || quotaExhausted || /rate limit/i.test(apiMessage ?? '')));
  const retryable = status === undefined || status >= 500 || rateLimited || status === 408;
  const timedOut = /abort|timeout|timed out/i.test(`${failure.name} ${failure.message}`);
  const detail =
    status === undefined
      ? `no answer (${timedOut ? 'timed out' : 'network error'})`
      : `${status}${rateLimited ? ' rate limited' : ''}${apiMessage ? `: ${apiMessage}` : ''}`;
  return new GitHubApiError(`GitHub API: could not ${what}: ${detail}`, status, retryable, retryAfterMs);
}

function messageFromBody(data: unknown): string | undefined {
  if (typeof data === 'object' && data !== null && typeof (data as { message?: unknown }).message === 'string') {
    return (data as { message: string }).message.slice(0, 300);
  }
  return undefined;
}
