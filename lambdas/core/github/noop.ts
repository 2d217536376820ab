import type { CommitState, VcsClient } from '../domain/ports.js';

/** No GitHub credentials: runs go on without statuses or comments (said once, at start, by whoever builds it). */
export class NoopVcsClient implements VcsClient {
  async setCommitStatus(_repository: string, _sha: string, _status: { context: string; state: CommitState; description: string; targetUrl?: string }): Promise<void> {}

  async upsertPullRequestComment(_repository: string, _pullRequest: number, _marker: string, _body: string): Promise<void> {}

  async getBranchHead(_repository: string, _branch: string): Promise<string | undefined> {
    return undefined;
  }
}
