import type { ChangePeople, TeamDirectory } from '../../auth/person.js';
import type { ChangePeopleSource, CommitHistory, CommitState, VcsClient } from '../../domain/ports.js';
import type { HistoryRange } from '../../domain/change-range.js';

/** A VcsClient whose real client is made on first use (the Lambda entries read a secret for it). */
export class DeferredVcsClient implements VcsClient, ChangePeopleSource, TeamDirectory, CommitHistory {
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

  /** Without GitHub credentials the history cannot be read: the change is unresolved and the gate fails closed. */
  async range(repository: string, branch: string, base: string | undefined, head: string): Promise<HistoryRange> {
    const client = (await this.resolve()) as VcsClient & Partial<CommitHistory>;
    if (!client.range) return { kind: 'unresolved', reason: 'tfgate has no GitHub credentials to read the history' };
    return client.range(repository, branch, base, head);
  }

  async contains(repository: string, of: string, sha: string): Promise<boolean> {
    const client = (await this.resolve()) as VcsClient & Partial<CommitHistory>;
    if (!client.contains) {
      if (of === sha) return true;
      throw new Error('tfgate has no GitHub credentials to read the history');
    }
    return client.contains(repository, of, sha);
  }

  async isTeamMember(org: string, teamSlug: string, login: string): Promise<boolean> {
    const client = (await this.resolve()) as VcsClient & Partial<TeamDirectory>;
    if (!client.isTeamMember) throw new Error('tfgate has no GitHub credentials to check team membership');
    return client.isTeamMember(org, teamSlug, login);
  }
}
