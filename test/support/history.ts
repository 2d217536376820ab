import { NoopVcsClient } from '../../src/adapters/github/noop.js';
import type { CommitPerson, HistoryCommit, HistoryRange, MergedPullRequest } from '../../src/domain/change-range.js';
import type { CommitHistory } from '../../src/domain/ports.js';

/** A sha made of one hex digit and a counter, readable in failures: sha('a', 1) → aaaa…0001. */
export function sha(letter: string, n = 0): string {
  return `${letter.repeat(36)}${n.toString(16).padStart(4, '0')}`;
}

export function aCommit(
  id: string,
  parent: string | undefined,
  title: string,
  author: CommitPerson,
  committer: CommitPerson = author,
): HistoryCommit {
  return { sha: id, parents: parent ? [parent] : [], title, author, committer };
}

/**
 * A linear branch history standing in for GitHub's compare API (as the GitHub client answers it: first apply and
 * a base outside the history are unresolved, an older head is `behind`); also the branch head.
 */
export class FakeGitHub extends NoopVcsClient implements CommitHistory {
  readonly pullRequests: MergedPullRequest[] = [];
  /** Set to make every history call fail as an unreachable API does. */
  down = false;

  constructor(
    readonly commits: HistoryCommit[] = [],
    private readonly options: { firstApply?: 'resolve' | 'unresolved' } = {},
  ) {
    super();
  }

  override async getBranchHead(): Promise<string | undefined> {
    return this.commits.at(-1)?.sha;
  }

  async range(_repository: string, _branch: string, base: string | undefined, head: string): Promise<HistoryRange> {
    if (this.down) return { kind: 'unresolved', reason: 'GitHub could not be asked about the change: no answer' };
    const at = (id: string) => this.commits.findIndex((commit) => commit.sha === id);
    const end = at(head);
    if (end < 0) return { kind: 'unresolved', reason: `${head.slice(0, 7)} is not in the history` };
    if (base === undefined) {
      if (this.options.firstApply !== 'resolve') return { kind: 'unresolved', reason: 'first apply' };
      return { kind: 'range', commits: this.commits.slice(0, end + 1), pullRequests: this.pullRequests };
    }
    const start = at(base);
    if (start < 0) return { kind: 'unresolved', reason: `a force-push rewrote ${base.slice(0, 7)} away` };
    if (end < start) return { kind: 'behind' };
    return { kind: 'range', commits: this.commits.slice(start + 1, end + 1), pullRequests: this.pullRequests };
  }

  async contains(_repository: string, of: string, id: string): Promise<boolean> {
    if (this.down) throw new Error('GitHub API: no answer');
    const index = (value: string) => this.commits.findIndex((commit) => commit.sha === value);
    return of === id || (index(id) >= 0 && index(of) >= 0 && index(id) <= index(of));
  }
}
