// zod/mini: the same checks as full zod, tree-shaken, so the webhook bundle stays small (fast cold start).
import * as z from 'zod/mini';
import type { RepositoryConfig, TfgateConfig } from '../../src/config/load.js';
import { findRepository, plansPullRequests } from '../../src/config/resolved.js';
import { uniqueLower } from '../../src/auth/person.js';
import type { Run } from '../../src/domain/run.js';
import type { RunDecision } from '../../src/application/intake.js';

/**
 * Pure routing: (event name, payload, configuration) → what the webhook does. The payload is
 * untrusted text until here; the fields a run uses are validated once and come out typed.
 */

export type RouteDecision =
  | { kind: 'pong'; zen?: string }
  | { kind: 'ignored'; reason: string; repository?: string }
  | { kind: 'malformed'; problem: string }
  | RunDecision;

const PULL_REQUEST_ACTIONS_THAT_PLAN = new Set(['opened', 'synchronize', 'reopened']);

// Commit messages are free text of any length; the run record keeps enough to recognise the commit.
const MAX_MESSAGE_CHARS = 2000;
const MAX_REASON_NAME_CHARS = 200;

const commitSha = z
  .string()
  .check(z.regex(/^[0-9a-fA-F]{40}$/, 'must be a 40-character hexadecimal commit id'), z.toLowerCase());

// What may reach a log line or a reason text at all: no whitespace or control characters.
const anyRef = z
  .string()
  .check(
    z.minLength(1),
    z.maxLength(1024),
    z.regex(/^[^\x00-\x20\x7f]+$/, 'must be a git ref without spaces or control characters'),
  );

// Only the name is read: where a commit is fetched from comes from the configuration, never from the
// payload's URLs (clone_url, html_url…), which anyone who can sign or replay a body controls.
const repositoryField = z.object({
  full_name: z
    .string()
    .check(z.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\/[A-Za-z0-9_.][A-Za-z0-9_.-]{0,99}$/, 'must be owner/name')),
});

const shortText = (max: number, min = 0) =>
  z
    .string()
    .check(z.minLength(min), z.maxLength(max), z.regex(/^[^\x00-\x1f\x7f]*$/, 'must not contain control characters'));
const login = z.string().check(z.regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$/, 'must be a GitHub login'));

// A commit's author or committer: GitHub fills `username` when the address is verified for a login.
const commitPerson = z.nullish(
  z.object({ name: z.nullish(shortText(256)), email: z.nullish(shortText(320)), username: z.nullish(login) }),
);
const MAX_COMMITS = 2048;

const pushPayload = z.object({
  ref: anyRef,
  deleted: z.optional(z.boolean()),
  before: z.optional(z.string()),
  after: z.string(),
  pusher: z.object({ name: shortText(256, 1), email: z.nullish(shortText(320)) }),
  sender: z.optional(z.object({ login })),
  commits: z.nullish(
    z.array(z.object({ author: commitPerson, committer: commitPerson })).check(z.maxLength(MAX_COMMITS)),
  ),
  head_commit: z.nullish(
    z.object({
      message: z.string(),
      author: commitPerson,
      committer: commitPerson,
    }),
  ),
});

const pullRequestPayload = z.object({
  action: z.string().check(z.minLength(1), z.maxLength(64), z.regex(/^[a-z_]+$/, 'must be an action name')),
  number: z.int().check(z.positive(), z.maximum(Number.MAX_SAFE_INTEGER)),
  pull_request: z.object({
    head: z.object({
      sha: z.unknown(),
      repo: z.optional(z.nullable(z.object({ full_name: z.optional(z.unknown()) }))),
    }),
    user: z.optional(z.nullable(z.object({ login }))),
  }),
  sender: z.object({ login }),
});

// Same subset of git-check-ref-format the configuration applies to branch names.
const SANE_BRANCH = /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)[A-Za-z0-9._/-]{1,200}(?<![./])$/;

export function routeEvent(event: string, payload: Record<string, unknown>, config: TfgateConfig): RouteDecision {
  if (event === 'ping') {
    return typeof payload.zen === 'string' && payload.zen.length <= 1000
      ? { kind: 'pong', zen: payload.zen }
      : { kind: 'pong' };
  }
  if (event !== 'push' && event !== 'pull_request') return { kind: 'ignored', reason: `event ${event} starts nothing` };

  const repositoryResult = repositoryField.safeParse(payload.repository);
  if (!repositoryResult.success) return malformed(`${event} payload`, repositoryResult.error, 'repository');
  const repository = findRepository(config, repositoryResult.data.full_name);
  if (!repository)
    return { kind: 'ignored', reason: 'repository not configured', repository: repositoryResult.data.full_name };

  return event === 'push' ? routePush(payload, repository) : routePullRequest(payload, repository);
}

function routePush(payload: Record<string, unknown>, repository: RepositoryConfig): RouteDecision {
  const parsed = pushPayload.safeParse(payload);
  if (!parsed.success) return malformed('push payload', parsed.error);
  const push = parsed.data;
  const ignored = (reason: string): RouteDecision => ({ kind: 'ignored', reason, repository: repository.name });

  if (push.ref.startsWith('refs/tags/')) return ignored('tag push');
  if (!push.ref.startsWith('refs/heads/')) return ignored(`push to ${clip(push.ref)} is not a branch push`);
  if (push.deleted === true) return ignored('branch deleted');
  const branch = push.ref.slice('refs/heads/'.length);
  if (branch !== repository.branch) {
    return ignored(`push to branch ${clip(branch)} is not tracked (tracks ${repository.branch})`);
  }
  // Only the tracked branch gets this far, and its name passed the configuration's own check;
  // this guards against a payload that differs from the configuration in ways string equality misses.
  if (!SANE_BRANCH.test(branch)) return { kind: 'malformed', problem: 'push payload: ref: is not a plain branch ref' };

  const sha = commitSha.safeParse(push.after);
  if (!sha.success) return malformed('push payload', sha.error, 'after');
  if (/^0+$/.test(sha.data)) return ignored('branch deleted');

  // Where the branch was before this push: the push record chains through it (the change's pushers).
  const before = push.before === undefined ? undefined : commitSha.safeParse(push.before);
  if (before && !before.success) return malformed('push payload', before.error, 'before');
  const people = pushPeople(push);
  const commit = push.head_commit ?? undefined;
  const author = commit?.author
    ? definedOnly({
        name: commit.author.name ?? undefined,
        email: commit.author.email ?? undefined,
        login: commit.author.username ?? undefined,
      })
    : undefined;
  return {
    kind: 'run',
    repository,
    mode: 'deploy',
    trigger: 'push',
    sha: sha.data,
    ref: push.ref,
    // Approvers are named by email, so the email is what a self-approval check can compare.
    pusher: push.pusher.email || push.pusher.name,
    ...(author && Object.keys(author).length > 0 ? { author } : {}),
    people,
    push: {
      ...(before?.data && !/^0+$/.test(before.data) ? { before: before.data } : {}),
      logins: uniqueLower([push.pusher.name, push.sender?.login]).filter((name) =>
        /^[a-z0-9][a-z0-9-]{0,38}(?:\[bot\])?$/.test(name),
      ),
      emails: uniqueLower([push.pusher.email]),
    },
    ...(commit ? { message: commit.message.slice(0, MAX_MESSAGE_CHARS) } : {}),
  };
}

function routePullRequest(payload: Record<string, unknown>, repository: RepositoryConfig): RouteDecision {
  const parsed = pullRequestPayload.safeParse(payload);
  if (!parsed.success) return malformed('pull_request payload', parsed.error);
  const event = parsed.data;
  if (!PULL_REQUEST_ACTIONS_THAT_PLAN.has(event.action)) {
    return {
      kind: 'ignored',
      reason: `pull_request action ${event.action} starts nothing`,
      repository: repository.name,
    };
  }
  if (!plansPullRequests(repository)) {
    return {
      kind: 'ignored',
      reason: 'pull request plans are off for this repository (pullRequests.plan: false)',
      repository: repository.name,
    };
  }
  // A plan runs the pull request's code with the environment's credentials (providers, local-exec,
  // external data sources). From a fork that is anyone's code, so it is not planned.
  const headRepository = event.pull_request.head.repo?.full_name;
  if (typeof headRepository !== 'string' || headRepository.toLowerCase() !== repository.name.toLowerCase()) {
    return {
      kind: 'ignored',
      reason:
        typeof headRepository === 'string'
          ? `pull request from fork ${clip(headRepository)} is not planned: its code would run with tfgate's ` +
            `credentials`
          : 'pull request whose head repository is gone is not planned',
      repository: repository.name,
    };
  }
  const sha = commitSha.safeParse(event.pull_request.head.sha);
  if (!sha.success) return malformed('pull_request payload', sha.error, 'pull_request.head.sha');
  return {
    kind: 'run',
    repository,
    mode: 'plan_only',
    trigger: 'pull_request',
    sha: sha.data,
    // Forks' commits are reachable in the base repository under this ref, so builds fetch it from there.
    ref: `refs/pull/${event.number}/head`,
    pullRequest: event.number,
    pusher: event.sender.login,
    people: { logins: uniqueLower([event.sender.login, event.pull_request.user?.login]), emails: [] },
  };
}

/**
 * The pusher (GitHub puts the login in `pusher.name`; `sender` is who triggered the event), and the
 * authors and committers of every pushed commit: by login where GitHub resolved one, by address always.
 */
function pushPeople(push: z.infer<typeof pushPayload>): NonNullable<Run['people']> {
  const people = [...(push.commits ?? []), ...(push.head_commit ? [push.head_commit] : [])].flatMap((commit) => [
    commit.author,
    commit.committer,
  ]);
  return {
    logins: uniqueLower([push.pusher.name, push.sender?.login, ...people.map((person) => person?.username)]).filter(
      (name) => /^[a-z0-9][a-z0-9-]{0,38}(?:\[bot\])?$/.test(name),
    ),
    emails: uniqueLower([push.pusher.email, ...people.map((person) => person?.email)]),
  };
}

/** Names the field and the rule, never the value: payload content stays out of responses and logs. */
function malformed(what: string, error: { issues: readonly z.core.$ZodIssue[] }, prefix?: string): RouteDecision {
  const issue = error.issues[0];
  const path = [prefix, ...(issue?.path ?? []).map(String)]
    .filter((part) => part !== undefined && part !== '')
    .join('.');
  return { kind: 'malformed', problem: `${what}: ${path || 'body'}: ${issue ? ruleOf(issue) : 'is invalid'}` };
}

// zod/mini carries no message texts (no locale is loaded); the checks without a message of their own are described
// here.
function ruleOf(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected}`;
    case 'too_small':
      return (
        `must be ${issue.inclusive === false ? 'more than' : 'at least'} ` +
        `${String(issue.minimum)}${issue.origin === 'string' ? ' characters long' : ''}`
      );
    case 'too_big':
      return (
        `must be ${issue.inclusive === false ? 'less than' : 'at most'} ` +
        `${String(issue.maximum)}${issue.origin === 'string' ? ' characters long' : ''}`
      );
    default:
      return issue.message || 'is invalid';
  }
}

function clip(name: string): string {
  return name.length > MAX_REASON_NAME_CHARS ? `${name.slice(0, MAX_REASON_NAME_CHARS)}…` : name;
}

function definedOnly<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
