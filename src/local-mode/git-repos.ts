import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { packageFile } from '../package-files.js';

/**
 * Local mode's stand-in for GitHub: one bare repository per configured repository, whose
 * post-receive hook sends a signed GitHub-format push event to the local /webhook.
 */

const run = promisify(execFile);
/** Plain JavaScript with Node's built-ins only: `git push` waits for the hook, so it loads nothing else. */
const HOOK_ENTRY = packageFile('bin', 'post-receive.js');

/** Set in the environment of a push that must not start a run (seeding the starter repository). */
export const SKIP_HOOK_ENV = 'TFGATE_SKIP_HOOK';

export function bareRepositoryPath(dataDir: string, repository: string): string {
  const [owner, name] = repository.split('/') as [string, string];
  return path.join(dataDir, 'repos', owner, `${name}.git`);
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

export async function git(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const { stdout } = await run('git', args, {
    cwd: options.cwd,
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0', ...options.env },
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

/** Creates the bare repository if needed and (re)writes its hook, which names this data directory. */
export async function ensureBareRepository(dataDir: string, repository: string, branch: string): Promise<string> {
  const bare = bareRepositoryPath(dataDir, repository);
  if (!(await exists(path.join(bare, 'HEAD')))) {
    await mkdir(bare, { recursive: true });
    await git(['init', '--bare', '--quiet', `--initial-branch=${branch}`, bare]);
  }
  // Builds fetch an exact commit by its sha, as they do from GitHub.
  await git(['config', 'uploadpack.allowAnySHA1InWant', 'true'], { cwd: bare });
  const hook = path.join(bare, 'hooks', 'post-receive');
  await mkdir(path.dirname(hook), { recursive: true });
  await writeFile(
    hook,
    [
      '#!/bin/sh',
      '# Installed by tfgate local: sends a signed GitHub-format push event for each updated ref.',
      `[ -n "$${SKIP_HOOK_ENV}" ] && exit 0`,
      `exec ${shellQuote(process.execPath)} ${shellQuote(HOOK_ENTRY)} --data ` +
        `${shellQuote(path.resolve(dataDir))} --repository ${shellQuote(repository)}`,
      '',
    ].join('\n'),
  );
  await chmod(hook, 0o755);
  return bare;
}

export interface SeedCommit {
  files: Record<string, string>;
  message: string;
  branch: string;
  /** Start no run for this push. */
  quiet?: boolean;
  author?: { name: string; email: string };
  /** Files committed with the executable bit (scripts, provider binaries). */
  executable?: string[];
}

/** Commits files on top of the branch (or as its first commit) and pushes them to the bare repository. */
export async function commitAndPush(bare: string, commit: SeedCommit): Promise<string> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'tfgate-work-'));
  const author = commit.author ?? { name: 'tfgate demo', email: 'demo@tfgate.local' };
  const identity = {
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_COMMITTER_NAME: author.name,
    GIT_COMMITTER_EMAIL: author.email,
  };
  try {
    await git(['init', '--quiet', `--initial-branch=${commit.branch}`, work]);
    const hasBranch = (await git(['ls-remote', '--heads', bare, commit.branch])).trim().length > 0;
    if (hasBranch) {
      await git(['fetch', '--quiet', bare, commit.branch], { cwd: work });
      await git(['checkout', '--quiet', '-B', commit.branch, 'FETCH_HEAD'], { cwd: work });
    }
    for (const [name, content] of Object.entries(commit.files)) {
      const target = path.join(work, name);
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, content, { mode: commit.executable?.includes(name) ? 0o755 : 0o644 });
    }
    await git(['add', '--all'], { cwd: work });
    await git(['commit', '--quiet', '--allow-empty', '-m', commit.message], { cwd: work, env: identity });
    const sha = (await git(['rev-parse', 'HEAD'], { cwd: work })).trim();
    await git(['push', '--quiet', bare, `HEAD:refs/heads/${commit.branch}`], {
      cwd: work,
      env: commit.quiet ? { [SKIP_HOOK_ENV]: '1' } : {},
    });
    return sha;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
