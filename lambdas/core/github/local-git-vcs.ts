import { git } from '../local/git-repos.js';
import { NoopVcsClient } from './noop.js';

/**
 * `tfgate local` without GitHub: the bare repositories in the data directory are where pushes land,
 * so they are where the reconciler reads branch heads. There is nobody to show statuses to.
 */
export class LocalGitVcs extends NoopVcsClient {
  constructor(private readonly remotes: ReadonlyArray<{ repository: string; remote: string }>) {
    super();
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
