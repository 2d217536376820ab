import { randomUUID } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bareRepositoryPath, git } from './git-repos.js';
import { hookTargetFile, sign, type HookTarget } from './post-receive.js';
import { TfgateError } from '../domain/errors.js';

/**
 * `tfgate pr BRANCH`: the local stand-in for opening a pull request on GitHub. The branch is read from
 * the local bare repository (push it there first); the event is the `pull_request` GitHub would send,
 * signed with the webhook secret like the push hook's, so a local pull-request plan needs no
 * hand-signed delivery. A branch keeps its number: the first call opens it, later ones are
 * `synchronize` (a new head).
 */

export class LocalPullRequestError extends TfgateError {
  override name = 'LocalPullRequestError';
}

export interface LocalPullRequest {
  dataDir: string;
  branch: string;
  repository?: string;
  base?: string;
  number?: number;
  user?: string;
}

export interface LocalPullRequestResult {
  repository: string;
  number: number;
  action: 'opened' | 'synchronize';
  sha: string;
  status: number;
  runId?: string;
  ignored?: string;
  error?: string;
}

const BRANCH = /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)[A-Za-z0-9._/-]{1,200}(?<![./])$/;

function numbersFile(dataDir: string): string {
  return path.join(dataDir, 'run', 'pull-requests.json');
}

async function localRepositories(dataDir: string): Promise<string[]> {
  const found: string[] = [];
  for (const owner of await readdir(path.join(dataDir, 'repos')).catch(() => [] as string[])) {
    for (const name of await readdir(path.join(dataDir, 'repos', owner)).catch(() => [] as string[])) {
      if (name.endsWith('.git')) found.push(`${owner}/${name.slice(0, -4)}`);
    }
  }
  return found;
}

export async function openLocalPullRequest(request: LocalPullRequest): Promise<LocalPullRequestResult> {
  const dataDir = path.resolve(request.dataDir);
  if (!BRANCH.test(request.branch))
    throw new LocalPullRequestError(`${JSON.stringify(request.branch)} is not a plain branch name`);
  let target: HookTarget;
  try {
    target = JSON.parse(await readFile(hookTargetFile(dataDir), 'utf8')) as HookTarget;
  } catch {
    throw new LocalPullRequestError(
      `tfgate local is not running on ${dataDir} (no ${hookTargetFile(dataDir)}); start it, or pass the --data it uses`,
    );
  }
  const known = await localRepositories(dataDir);
  const repository = request.repository ?? (known.length === 1 ? known[0] : undefined);
  if (!repository) {
    throw new LocalPullRequestError(
      known.length === 0
        ? `no local repositories in ${dataDir}`
        : `say which repository with --repo (one of: ${known.join(', ')})`,
    );
  }
  if (!known.includes(repository))
    throw new LocalPullRequestError(
      `${repository} is not a local repository of ${dataDir} (${known.join(', ') || 'none'})`,
    );
  const bare = bareRepositoryPath(dataDir, repository);
  const sha = (
    await git(['--git-dir', bare, 'rev-parse', '--verify', '--quiet', `refs/heads/${request.branch}^{commit}`]).catch(
      () => '',
    )
  ).trim();
  if (!/^[0-9a-f]{40}$/.test(sha))
    throw new LocalPullRequestError(
      `branch ${request.branch} is not in ${repository}'s local remote: push it first (git push ${bare} ` +
        `${request.branch})`,
    );
  const base =
    request.base ?? (await git(['--git-dir', bare, 'symbolic-ref', '--short', 'HEAD']).catch(() => 'main\n')).trim();
  if (base === request.branch)
    throw new LocalPullRequestError(`${request.branch} is the base branch; a pull request needs another branch`);

  const key = `${repository}#${request.branch}`;
  const numbers = JSON.parse(await readFile(numbersFile(dataDir), 'utf8').catch(() => '{}')) as Record<string, number>;
  const known_number = numbers[key];
  const number = request.number ?? known_number ?? Math.max(0, ...Object.values(numbers)) + 1;
  const action = known_number === number ? 'synchronize' : 'opened';
  numbers[key] = number;
  await writeFile(numbersFile(dataDir), JSON.stringify(numbers, null, 2), { mode: 0o600 });

  const user = request.user ?? (process.env.USER || process.env.LOGNAME || 'local');
  const fullRepository = {
    full_name: repository,
    clone_url: bare,
    name: repository.split('/')[1],
    owner: { login: repository.split('/')[0] },
  };
  const body = JSON.stringify({
    action,
    number,
    pull_request: {
      number,
      state: 'open',
      title: `${request.branch} (opened with tfgate pr)`,
      user: { login: user },
      head: { sha, ref: request.branch, repo: fullRepository },
      base: { ref: base, repo: fullRepository },
    },
    repository: fullRepository,
    sender: { login: user },
  });
  const response = await fetch(target.webhookUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'pull_request',
      'x-github-delivery': randomUUID(),
      'x-hub-signature-256': sign(target.secret, body),
      'user-agent': 'tfgate-local-pr',
    },
    body,
    signal: AbortSignal.timeout(10_000),
  }).catch((error: Error) => {
    throw new LocalPullRequestError(`could not reach ${target.webhookUrl}: ${error.message}`);
  });
  const answer = (await response.json().catch(() => ({}))) as { runId?: string; ignored?: string; error?: string };
  return {
    repository,
    number,
    action,
    sha,
    status: response.status,
    ...(answer.runId ? { runId: answer.runId } : {}),
    ...(answer.ignored ? { ignored: answer.ignored } : {}),
    ...(answer.error ? { error: answer.error } : {}),
  };
}
