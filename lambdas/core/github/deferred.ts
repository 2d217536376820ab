import type { CommitState, VcsClient } from '../domain/ports.js';

/** A VcsClient whose real client is made on first use (the Lambda entries read a secret for it). */
export class DeferredVcsClient implements VcsClient {
  constructor(private readonly resolve: () => Promise<VcsClient>) {}

  async setCommitStatus(repository: string, sha: string, status: { context: string; state: CommitState; description: string; targetUrl?: string }): Promise<void> {
    return (await this.resolve()).setCommitStatus(repository, sha, status);
  }

  async upsertPullRequestComment(repository: string, pullRequest: number, marker: string, body: string): Promise<void> {
    return (await this.resolve()).upsertPullRequestComment(repository, pullRequest, marker, body);
  }

  async getBranchHead(repository: string, branch: string): Promise<string | undefined> {
    return (await this.resolve()).getBranchHead(repository, branch);
  }
}
