import { createHmac, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { git } from './git-repos.js';

/**
 * The body of the local bare repositories' post-receive hook: for every updated ref it sends the
 * push event GitHub would send, signed with the webhook secret, to the running `tfgate local`.
 */

const ZERO_SHA = '0'.repeat(40);

export interface HookTarget {
  webhookUrl: string;
  secret: string;
}

/** Written by `tfgate local` at start (mode 0600, beside the other secrets) and read by the hook. */
export function hookTargetFile(dataDir: string): string {
  return path.join(dataDir, 'secrets', 'hook.json');
}

export interface RefUpdate {
  before: string;
  after: string;
  ref: string;
}

export function parseRefUpdates(stdin: string): RefUpdate[] {
  return stdin
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(
      (parts): parts is [string, string, string] =>
        parts.length === 3 && /^[0-9a-f]{40}$/.test(parts[0]!) && /^[0-9a-f]{40}$/.test(parts[1]!),
    )
    .map(([before, after, ref]) => ({ before, after, ref }));
}

interface CommitInfo {
  id: string;
  message: string;
  timestamp: string;
  author: { name: string; email: string };
}

async function commitInfo(gitDir: string, sha: string): Promise<CommitInfo> {
  const out = await git(['--git-dir', gitDir, 'show', '-s', '--format=%H%x00%an%x00%ae%x00%aI%x00%B', sha]);
  const [id, name, email, timestamp, ...message] = out.split('\0');
  return {
    id: id!.trim(),
    message: message.join('\0').trim(),
    timestamp: timestamp!.trim(),
    author: { name: name!, email: email! },
  };
}

export async function buildPushPayload(
  gitDir: string,
  repository: string,
  update: RefUpdate,
  pusher: { name: string; email: string },
): Promise<Record<string, unknown>> {
  const deleted = update.after === ZERO_SHA;
  const created = update.before === ZERO_SHA;
  const [owner, name] = repository.split('/') as [string, string];
  const head = deleted ? null : await commitInfo(gitDir, update.after);
  let commits: CommitInfo[] = [];
  if (!deleted) {
    const range = created ? [update.after] : [`${update.before}..${update.after}`];
    const shas = (await git(['--git-dir', gitDir, 'rev-list', '--max-count=20', '--reverse', ...range]))
      .split('\n')
      .filter(Boolean);
    commits = await Promise.all(shas.map((sha) => commitInfo(gitDir, sha)));
  }
  const cloneUrl = path.resolve(gitDir);
  return {
    ref: update.ref,
    before: update.before,
    after: update.after,
    created,
    deleted,
    forced: false,
    base_ref: null,
    compare: '',
    commits: commits.map((c) => ({
      id: c.id,
      message: c.message,
      timestamp: c.timestamp,
      author: c.author,
      committer: c.author,
    })),
    head_commit: head
      ? { id: head.id, message: head.message, timestamp: head.timestamp, author: head.author, committer: head.author }
      : null,
    repository: {
      id: 0,
      name,
      full_name: repository,
      owner: { login: owner, name: owner },
      clone_url: cloneUrl,
      default_branch: 'main',
    },
    pusher,
    sender: { login: pusher.name },
  };
}

/** Who pushes into the data directory's repositories: the user of this machine (the reconciler says the same). */
export function localPusher(env: NodeJS.ProcessEnv = process.env): { name: string; email: string } {
  const name = env.USER || env.LOGNAME || 'local';
  return { name, email: `${name}@localhost` };
}

export function sign(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export async function sendPushEvents(options: {
  dataDir: string;
  gitDir: string;
  repository: string;
  stdin: string;
  log: (line: string) => void;
}): Promise<number> {
  let target: HookTarget;
  try {
    target = JSON.parse(await readFile(hookTargetFile(options.dataDir), 'utf8')) as HookTarget;
  } catch {
    options.log('tfgate: tfgate local is not running; no run was started for this push.');
    return 0;
  }
  const pusher = localPusher();
  let failures = 0;
  for (const update of parseRefUpdates(options.stdin)) {
    const body = JSON.stringify(await buildPushPayload(options.gitDir, options.repository, update, pusher));
    try {
      const response = await fetch(target.webhookUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'push',
          'x-github-delivery': randomUUID(),
          'x-hub-signature-256': sign(target.secret, body),
          'user-agent': 'tfgate-local-hook',
        },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      const answer = (await response.json().catch(() => ({}))) as { runId?: string; ignored?: string };
      if (answer.runId)
        options.log(
          `tfgate: run ${answer.runId} started for ${update.ref.replace('refs/heads/', '')} at ` +
            `${update.after.slice(0, 12)}`,
        );
      else if (answer.ignored) options.log(`tfgate: nothing to run (${answer.ignored})`);
      else options.log(`tfgate: the webhook answered ${response.status}`);
      if (response.status >= 400) failures += 1;
    } catch (error) {
      failures += 1;
      options.log(`tfgate: could not reach ${target.webhookUrl}: ${(error as Error).message}`);
    }
  }
  return failures;
}
