import type { ChangePeople, TeamDirectory } from '../../auth/person.js';
import type { ChangePeopleSource, CommitState, VcsClient } from '../../domain/ports.js';

/** A VcsClient whose real client is made on first use (the Lambda entries read a secret for it). */
export class DeferredVcsClient implements VcsClient, ChangePeopleSource, TeamDirectory {
  constructor(private readonly resolve: () => Promise<VcsClient>) {}

  async setCommitStatus(
    repository: string,
    sha: string,
    status: { context: string; state: CommitState; description: string; targetUrl?: string },
  ): Promise<void> {
    return (await this.resolve()).setCommitStatus(repository, sha, status);
  }

  async upsertPullRequestComment(repository: string, pullRequest: number, marker: string, body: string): Promise<void> {
    return (await this.resolve()).upsertPullRequestComment(repository, pullRequest, marker, body);
  }

  async getBranchHead(repository: string, branch: string): Promise<string | undefined> {
    return (await this.resolve()).getBranchHead(repository, branch);
  }

  /** Without GitHub credentials nobody can be resolved: the pusher is unknown and the gate fails closed. */
  async changePeople(repository: string, branch: string, sha: string): Promise<ChangePeople> {
    const client = (await this.resolve()) as VcsClient & Partial<ChangePeopleSource>;
    if (!client.changePeople)
      return {
        logins: [],
        emails: [],
        unknown: `tfgate has no GitHub credentials to find out who pushed ${sha.slice(0, 7)}`,
      };
    return client.changePeople(repository, branch, sha);
  }

  async isTeamMember(org: string, teamSlug: string, login: string): Promise<boolean> {
    const client = (await this.resolve()) as VcsClient & Partial<TeamDirectory>;
    if (!client.isTeamMember) throw new Error('tfgate has no GitHub credentials to check team membership');
    return client.isTeamMember(org, teamSlug, login);
  }
}
