import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { HistoryCommit, HistoryRange } from '../domain/change-range.js';
import type { CommitHistory } from '../domain/ports.js';
import { localPusher } from './post-receive.js';

const run = promisify(execFile);
const SHA = /^[0-9a-f]{40}$/;
// No hooks, no transports that run programs: this only reads the data directory's own repositories.
const SAFE = ['-c', 'core.hooksPath=/dev/null', '-c', 'protocol.ext.allow=never'];

/**
 * The CommitHistory of `tfgate local`: the git history of the bare repository pushes land in. There are no pull
 * requests to merge locally, so the range names none. Every commit is listed (no cap).
 */
export class LocalGitHistory implements CommitHistory {
  constructor(private readonly remotes: ReadonlyArray<{ repository: string; remote: string }>) {}

  async range(repository: string, _branch: string, base: string | undefined, head: string): Promise<HistoryRange> {
    const gitDir = this.gitDirOf(repository);
    if (!gitDir) return { kind: 'unresolved', reason: `${repository} has no local repository to read history from` };
    if (!SHA.test(head) || (base !== undefined && !SHA.test(base)))
      return { kind: 'unresolved', reason: 'not a commit id' };
    try {
      if (!(await this.exists(gitDir, head)))
        return { kind: 'unresolved', reason: `${head.slice(0, 7)} is not in the repository` };
      if (base !== undefined) {
        if (!(await this.exists(gitDir, base)))
          return {
            kind: 'unresolved',
            reason:
              `what the environment last applied (${base.slice(0, 7)}) is no longer in the repository's history ` +
              '(a force-push rewrote it), so tfgate cannot tell which commits this change brings',
          };
        if (!(await this.isAncestor(gitDir, base, head))) {
          if (await this.isAncestor(gitDir, head, base)) return { kind: 'behind' };
          return {
            kind: 'unresolved',
            reason:
              `what the environment last applied (${base.slice(0, 7)}) is not an ancestor of ${head.slice(0, 7)} ` +
              '(a force-push rewrote the branch), so tfgate cannot tell which commits this change brings',
          };
        }
      }
      const out = await this.git(gitDir, [
        'log',
        '--reverse',
        '--topo-order',
        '--format=%H%x00%P%x00%an%x00%ae%x00%cn%x00%ce%x00%s%x1e',
        base ? `${base}..${head}` : head,
      ]);
      const commits: HistoryCommit[] = out
        .split('\x1e')
        .map((entry) => entry.replace(/^\n/, ''))
        .filter((entry) => entry.length > 0)
        .map((entry) => {
          const [sha, parents, authorName, authorEmail, committerName, committerEmail, title] = entry.split('\0');
          return {
            sha: sha!,
            parents: (parents ?? '').split(' ').filter(Boolean),
            title: title ?? '',
            author: { name: authorName ?? '', email: authorEmail ?? '' },
            committer: { name: committerName ?? '', email: committerEmail ?? '' },
          };
        });
      // Only a user of this machine can push into the data directory: the one the hook names (localPusher).
      const pusher = localPusher();
      return {
        kind: 'range',
        commits,
        pullRequests: [],
        unrecordedPushers: { logins: [pusher.name.toLowerCase()], emails: [pusher.email.toLowerCase()] },
      };
    } catch (error) {
      return { kind: 'unresolved', reason: `the local repository could not be read: ${(error as Error).message}` };
    }
  }

  async contains(repository: string, of: string, sha: string): Promise<boolean> {
    const gitDir = this.gitDirOf(repository);
    if (!gitDir) throw new Error(`${repository} has no local repository`);
    if (!SHA.test(of) || !SHA.test(sha)) return false;
    if (of === sha) return true;
    if (!(await this.exists(gitDir, of)) || !(await this.exists(gitDir, sha))) return false;
    return this.isAncestor(gitDir, sha, of);
  }

  private gitDirOf(repository: string): string | undefined {
    return this.remotes.find((r) => r.repository.toLowerCase() === repository.toLowerCase())?.remote;
  }

  private async exists(gitDir: string, sha: string): Promise<boolean> {
    try {
      await this.git(gitDir, ['cat-file', '-e', `${sha}^{commit}`]);
      return true;
    } catch {
      return false;
    }
  }

  private async isAncestor(gitDir: string, ancestor: string, of: string): Promise<boolean> {
    try {
      await this.git(gitDir, ['merge-base', '--is-ancestor', ancestor, of]);
      return true;
    } catch (error) {
      if ((error as { code?: unknown }).code === 1) return false;
      throw error;
    }
  }

  private async git(gitDir: string, args: string[]): Promise<string> {
    const { stdout } = await run('git', [...SAFE, '--git-dir', gitDir, ...args], {
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
      maxBuffer: 256 * 1024 * 1024,
    });
    return stdout;
  }
}
