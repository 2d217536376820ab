import { NoopVcsClient } from '../../src/adapters/github/noop.js';
import type {
  AppliedRecord,
  CommitPerson,
  HistoryCommit,
  HistoryRange,
  MergedPullRequest,
  PushRecord,
} from '../../src/domain/change-range.js';
import type { CommitHistory, DeploymentLedger } from '../../src/domain/ports.js';

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

/** The DeploymentLedger in memory, with the same rules as the DynamoDB one. */
export class MemoryLedger implements DeploymentLedger {
  readonly pushes = new Map<string, PushRecord>();
  readonly applied = new Map<string, AppliedRecord>();

  async recordPush(repository: string, push: PushRecord): Promise<void> {
    const key = `${repository.toLowerCase()}#${push.head}`;
    const earlier = this.pushes.get(key);
    this.pushes.set(key, {
      head: push.head,
      ...((earlier ? earlier.before : push.before) ? { before: (earlier ? earlier.before : push.before)! } : {}),
      logins: [...new Set([...(earlier?.logins ?? []), ...push.logins])],
      emails: [...new Set([...(earlier?.emails ?? []), ...push.emails])],
      at: earlier?.at ?? push.at,
    });
  }

  async getPush(repository: string, head: string): Promise<PushRecord | undefined> {
    return this.pushes.get(`${repository.toLowerCase()}#${head}`);
  }

  async getApplied(repository: string, environment: string): Promise<AppliedRecord | undefined> {
    return this.applied.get(`${repository.toLowerCase()}#${environment}`);
  }

  async recordApplied(repository: string, record: AppliedRecord): Promise<boolean> {
    const key = `${repository.toLowerCase()}#${record.environment}`;
    const earlier = this.applied.get(key);
    if (earlier && earlier.sequence > record.sequence) return false;
    this.applied.set(key, record);
    return true;
  }
}
