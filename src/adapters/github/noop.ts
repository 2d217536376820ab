import type { CommitState, VcsClient } from '../../domain/ports.js';

/** No GitHub credentials: runs go on without statuses or comments (said once, at start, by whoever builds it). */
export class NoopVcsClient implements VcsClient {
  async setCommitStatus(
    _repository: string,
    _sha: string,
    _status: { context: string; state: CommitState; description: string; targetUrl?: string },
  ): Promise<void> {}

  async upsertPullRequestComment(
    _repository: string,
    _pullRequest: number,
    _marker: string,
    _body: string,
  ): Promise<void> {}

  async getBranchHead(_repository: string, _branch: string): Promise<string | undefined> {
    return undefined;
  }
}

export const GITHUB_FEEDBACK_OFF =
  'GitHub feedback is off: no credentials (set TFGATE_GITHUB_TOKEN, or TFGATE_GITHUB_APP_ID with ' +
  'TFGATE_GITHUB_PRIVATE_KEY_FILE; in AWS, the GitHub secret). Runs go on without commit statuses or plan comments.';
