import { uniqueLower, type ChangePeople } from '../auth/person.js';
import type { ChangePeopleSource } from '../domain/ports.js';
import { git } from './git-repos.js';
import { localPusher } from './post-receive.js';
import { NoopVcsClient } from '../adapters/github/noop.js';

/**
 * `tfgate local` without GitHub: the bare repositories in the data directory are where pushes land,
 * so they are where the reconciler reads branch heads. There is nobody to show statuses to.
 */
export class LocalGitVcs extends NoopVcsClient implements ChangePeopleSource {
  constructor(private readonly remotes: ReadonlyArray<{ repository: string; remote: string }>) {
    super();
  }

  /**
   * Locally pushes land in the data directory's bare repositories from this machine, so the pusher is
   * the user running tfgate (the post-receive hook reports the same); the head commit's author and
   * committer addresses come from the repository.
   */
  async changePeople(repository: string, _branch: string, sha: string): Promise<ChangePeople> {
    const remote = this.remotes.find((r) => r.repository.toLowerCase() === repository.toLowerCase());
    if (!remote) return { logins: [], emails: [], unknown: `tfgate could not tell who pushed ${sha.slice(0, 7)}` };
    const pusher = localPusher();
    const out = await git(['--git-dir', remote.remote, 'log', '-1', '--format=%ae%x00%ce', sha]);
    const [author, committer] = out.trim().split('\0');
    return { logins: uniqueLower([pusher.name]), emails: uniqueLower([pusher.email, author, committer]) };
  }

  override async getBranchHead(repository: string, branch: string): Promise<string | undefined> {
    const wanted = repository.toLowerCase();
    const remote = this.remotes.find((r) => r.repository.toLowerCase() === wanted);
    if (!remote) return undefined;
    const out = await git(['ls-remote', '--heads', remote.remote, `refs/heads/${branch}`]);
    const line = out.split('\n').find((entry) => entry.endsWith(`\trefs/heads/${branch}`));
    const sha = line?.split('\t')[0];
    return sha && /^[0-9a-f]{40}$/.test(sha) ? sha : undefined;
  }
}
