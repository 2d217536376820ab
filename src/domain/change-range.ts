/**
 * The change an approver decides is a range: every commit between what the environment last applied and
 * the commit being applied. Pure: the history, the push records and the applied records come in; the
 * people who may not approve, and what the approval page shows, come out. The application
 * (src/application/change.ts) loads them; adapters read git or GitHub.
 */
import type { ChangePeople } from './run.js';

export interface CommitPerson {
  name?: string;
  email?: string;
  /** The GitHub login GitHub resolved for the address (absent locally and for unverified addresses). */
  login?: string;
}

export interface HistoryCommit {
  sha: string;
  parents: string[];
  /** First line of the message. */
  title: string;
  author: CommitPerson;
  committer: CommitPerson;
}

export interface MergedPullRequest {
  number: number;
  title: string;
  /** The login of who opened it. */
  author?: string;
}

/**
 * What the history says about base..head. `range`: the commits reachable from head and not from base, oldest
 * first (base excluded, head included; empty when they are the same commit). `behind`: head is an ancestor of
 * base (a rollback or a replay). `unresolved`: the range cannot be known, and why (force-push, API down).
 */
export type HistoryRange =
  | {
      kind: 'range';
      commits: HistoryCommit[];
      pullRequests: MergedPullRequest[];
      /**
       * Who pushed the commits no push record covers, when the source itself knows (locally: the user of this
       * machine, the only one who can push into the data directory). Absent (GitHub): they are unknown.
       */
      unrecordedPushers?: { logins: string[]; emails: string[] };
    }
  | { kind: 'behind' }
  | { kind: 'unresolved'; reason: string };

/** One push of the tracked branch as tfgate received it (written at intake, before the run starts). */
export interface PushRecord {
  head: string;
  /** The branch head before the push; absent when the push created the branch. */
  before?: string;
  /** Every login and address that pushed this head (several pushes of one head add up). */
  logins: string[];
  emails: string[];
  at: string;
}

/** What an environment last applied: the newest successful apply, by push sequence. */
export interface AppliedRecord {
  environment: string;
  sha: string;
  runId: string;
  sequence: number;
  at: string;
}

/** What another environment holds, for the page: an applied record, or this run's stage that had nothing to change. */
export type PromotedRecord = AppliedRecord & { unchanged?: true };

/** A person of the change and why they may not approve it (shown on the approval page). */
export interface ExcludedPerson {
  who: string;
  why: string[];
}

export interface RangeCommitView {
  sha: string;
  title: string;
  author: string;
  pushers: string[];
  /**
   * The earlier environments that already applied this commit, and when; `unchanged`: the environment holds it
   * because this run's plan there had nothing to change.
   */
  appliedTo: Array<{ environment: string; at: string; runId: string; unchanged?: true }>;
}

/** The change as the approval page and the JSON show it; bounded so it fits an approval item. */
export interface ChangeView {
  environment: string;
  /** What the environment last applied (absent: nothing yet). */
  base?: string;
  head: string;
  commits: RangeCommitView[];
  omittedCommits?: number;
  pullRequests: Array<{ number: number; title: string; author?: string }>;
  /** Why the range is not fully known: then nobody may approve alone (approval.required: 2 is the way through). */
  unresolved?: string;
  excluded: ExcludedPerson[];
  omittedExcluded?: number;
  /** A deliberate re-run: who asked; with `rollback`, what it undoes and why. */
  rerun?: { requestedBy: string; rollback?: { reason: string; undoes: RangeCommitView[] } };
}

/** How many commits and people an approval record keeps for display (people are all counted regardless). */
export const VIEW_LIMITS = { commits: 100, excluded: 60, pullRequests: 60 } as const;

const TEXT_LIMIT = 200;

export interface ChangeInput {
  environment: string;
  head: string;
  applied?: AppliedRecord;
  /** base..head as the history tells it (base: applied.sha; undefined base: the whole history). */
  history: HistoryRange;
  /**
   * Push records found by following `before` from head (see `nextPushToLoad`), and the record of every other commit
   * of the range that was itself the head of a push.
   */
  pushes: ReadonlyMap<string, PushRecord>;
  /** What the other environments of the repository applied (for "ops applied it at …"); display only. */
  promoted: readonly PromotedRecord[];
  /** People the run itself names: the push payload's, a re-run's original people. */
  runPeople?: ChangePeople;
  rerun?: { requestedBy: string; requester: ChangePeople; rollback?: { reason: string; undoes?: HistoryRange } };
}

export interface ResolvedChange {
  view: ChangeView;
  people: ChangePeople;
}

/** Commits of the range that `sha` contains (itself included), by walking parents inside the range. */
export function ancestorsInRange(sha: string | undefined, commits: readonly HistoryCommit[]): Set<string> {
  const bySha = new Map(commits.map((commit) => [commit.sha, commit]));
  const found = new Set<string>();
  if (!sha) return found;
  const stack = [sha];
  while (stack.length > 0) {
    const next = stack.pop()!;
    const commit = bySha.get(next);
    if (!commit || found.has(next)) continue;
    found.add(next);
    stack.push(...commit.parents);
  }
  return found;
}

/**
 * The next push record to load while walking back from head: the record of `current`, then the record of the
 * head before that push, for as long as that head is inside the range. Undefined: the walk is complete.
 */
export function nextPushToLoad(
  pushes: ReadonlyMap<string, PushRecord>,
  head: string,
  history: HistoryRange,
): string | undefined {
  if (history.kind !== 'range') return pushes.has(head) ? undefined : head;
  const inRange = new Set(history.commits.map((commit) => commit.sha));
  let current: string | undefined = head;
  const seen = new Set<string>();
  while (current && inRange.has(current) && !seen.has(current)) {
    seen.add(current);
    const record = pushes.get(current);
    if (!record) return current;
    current = record.before;
  }
  return undefined;
}

/**
 * The change's people and its view. Pushers come from the chain of push records from head back to the base;
 * a commit no recorded push brought has an unknown pusher, and the range is then unresolved (fail closed).
 */
export function resolveChange(input: ChangeInput): ResolvedChange {
  const { history } = input;
  const reasons = new Map<string, Set<string>>();
  const logins = new Set<string>();
  const emails = new Set<string>();
  const because = (who: string, why: string) => {
    const key = who.toLowerCase();
    const entry = reasons.get(key) ?? new Set<string>();
    entry.add(why);
    reasons.set(key, entry);
  };
  const addPerson = (person: CommitPerson | undefined, why: string) => {
    if (!person) return;
    const login = validLogin(person.login);
    const email = person.email?.trim().toLowerCase();
    if (login) logins.add(login);
    if (email) emails.add(email);
    const who = login ? `@${login}` : (email ?? person.name);
    if (who) because(clip(who), why);
  };

  for (const login of input.runPeople?.logins ?? []) {
    const valid = validLogin(login);
    if (valid) logins.add(valid);
  }
  for (const email of input.runPeople?.emails ?? []) emails.add(email.toLowerCase());
  for (const login of logins) because(`@${login}`, 'pushed or wrote the commit being applied');

  let unresolved: string | undefined;
  let commits: HistoryCommit[] = [];
  let pullRequests: MergedPullRequest[] = [];
  const pushersOf = new Map<string, string[]>();
  if (history.kind !== 'range') {
    // The range is not known, but whoever pushed this head is: they are refused all the same.
    const record = input.pushes.get(input.head);
    for (const login of record?.logins ?? []) {
      const valid = validLogin(login);
      if (valid) logins.add(valid);
    }
    for (const email of record?.emails ?? []) emails.add(email.toLowerCase());
    for (const name of record ? pusherNames(record) : []) because(name, `pushed ${short(input.head)}`);
  }
  if (history.kind === 'unresolved') unresolved = history.reason;
  else if (history.kind === 'behind')
    unresolved =
      `${short(input.head)} is older than what ${input.environment} applied (${short(input.applied?.sha)}): ` +
      'applying it would roll the environment back';
  else {
    commits = history.commits;
    pullRequests = history.pullRequests;
    const uncovered = new Set(commits.map((commit) => commit.sha));
    let current: string | undefined = input.head;
    const seen = new Set<string>();
    while (current && uncovered.size > 0 && !seen.has(current)) {
      seen.add(current);
      const record = input.pushes.get(current);
      if (!record) break;
      const brought = difference(ancestorsInRange(current, commits), ancestorsInRange(record.before, commits));
      const names = pusherNames(record);
      for (const login of record.logins) {
        const valid = validLogin(login);
        if (valid) logins.add(valid);
      }
      for (const email of record.emails) emails.add(email.toLowerCase());
      // A record that names nobody usable (no valid login, no address) says who pushed as little as no record.
      if (names.length > 0)
        for (const sha of brought) {
          uncovered.delete(sha);
          pushersOf.set(sha, names);
        }
      for (const name of names) because(name, `pushed ${short(current)}`);
      current = record.before;
    }
    // Whoever pushed a commit of the range as the head of their own push stays one of its people, even when the
    // chain above credits a later push with it: a force-push back and forth (M pushed, the branch reset below it,
    // M pushed again by someone else) must not launder who first brought M.
    for (const commit of commits) {
      if (seen.has(commit.sha)) continue;
      const record = input.pushes.get(commit.sha);
      if (!record) continue;
      const names = pusherNames(record);
      for (const login of record.logins) {
        const valid = validLogin(login);
        if (valid) logins.add(valid);
      }
      for (const email of record.emails) emails.add(email.toLowerCase());
      pushersOf.set(commit.sha, [...new Set([...(pushersOf.get(commit.sha) ?? []), ...names])]);
      for (const name of names) because(name, `pushed ${short(commit.sha)}`);
    }
    for (const commit of commits) {
      addPerson(commit.author, `wrote ${short(commit.sha)}`);
      addPerson(commit.committer, `committed ${short(commit.sha)}`);
    }
    for (const pull of pullRequests) {
      const login = validLogin(pull.author);
      if (!login) continue;
      logins.add(login);
      because(`@${login}`, `opened pull request #${pull.number}, merged in this range`);
    }
    const fallback = history.unrecordedPushers;
    if (uncovered.size > 0 && fallback) {
      const names = pusherNames(fallback);
      for (const login of fallback.logins) {
        const valid = validLogin(login);
        if (valid) logins.add(valid);
      }
      for (const email of fallback.emails) emails.add(email.toLowerCase());
      for (const sha of uncovered) pushersOf.set(sha, names);
      for (const name of names) because(name, `pushed ${uncovered.size} commit(s) without a webhook`);
      uncovered.clear();
    }
    if (uncovered.size > 0) {
      const oldest = commits.find((commit) => uncovered.has(commit.sha))!;
      unresolved =
        `tfgate has no record of who pushed ${uncovered.size} commit${uncovered.size === 1 ? '' : 's'} of this ` +
        `change (the oldest ${short(oldest.sha)}): they reached the branch through a push tfgate did not receive` +
        (input.applied ? '' : `, before ${input.environment} ever applied anything`);
    }
  }

  if (input.rerun) {
    for (const login of input.rerun.requester.logins) {
      const valid = validLogin(login);
      if (valid) logins.add(valid);
    }
    for (const email of input.rerun.requester.emails) emails.add(email.toLowerCase());
    because(clip(input.rerun.requestedBy), input.rerun.rollback ? 'asked for this rollback' : 'asked for this re-run');
  }

  const commitView = (commit: HistoryCommit): RangeCommitView => ({
    sha: commit.sha,
    title: clip(commit.title),
    author: clip(describe(commit.author)),
    pushers: pushersOf.get(commit.sha) ?? [],
    appliedTo: input.promoted
      .filter((record) => record.environment !== input.environment)
      .filter((record) => ancestorsInRange(record.sha, commits).has(commit.sha))
      // One entry per environment: the first record that holds the commit (applied records come first).
      .filter((record, index, all) => all.findIndex((other) => other.environment === record.environment) === index)
      .map((record) => ({
        environment: record.environment,
        at: record.at,
        runId: record.runId,
        ...(record.unchanged ? { unchanged: true as const } : {}),
      })),
  });
  // Newest first on the page: the commit being applied leads.
  const newestFirst = [...commits].reverse();
  const shown = newestFirst.slice(0, VIEW_LIMITS.commits);
  const excludedAll = [...reasons.entries()].map(([who, why]) => ({ who, why: [...why].slice(0, 10) }));
  const undoes = input.rerun?.rollback?.undoes;
  const view: ChangeView = {
    environment: input.environment,
    ...(input.applied ? { base: input.applied.sha } : {}),
    head: input.head,
    commits: shown.map(commitView),
    ...(newestFirst.length > shown.length ? { omittedCommits: newestFirst.length - shown.length } : {}),
    pullRequests: pullRequests.slice(0, VIEW_LIMITS.pullRequests).map((pull) => ({
      number: pull.number,
      title: clip(pull.title),
      ...(pull.author ? { author: pull.author } : {}),
    })),
    ...(unresolved ? { unresolved } : {}),
    excluded: excludedAll.slice(0, VIEW_LIMITS.excluded),
    ...(excludedAll.length > VIEW_LIMITS.excluded
      ? { omittedExcluded: excludedAll.length - VIEW_LIMITS.excluded }
      : {}),
    ...(input.rerun
      ? {
          rerun: {
            requestedBy: clip(input.rerun.requestedBy),
            ...(input.rerun.rollback
              ? {
                  rollback: {
                    reason: clip(input.rerun.rollback.reason),
                    undoes:
                      undoes?.kind === 'range'
                        ? [...undoes.commits].reverse().slice(0, VIEW_LIMITS.commits).map(commitView)
                        : [],
                  },
                }
              : {}),
          },
        }
      : {}),
  };
  // What the run itself could not establish (a head the webhook never announced) stays unknown.
  const runUnknown = input.runPeople?.unknown;
  if (runUnknown) unresolved = unresolved ? `${runUnknown}; ${unresolved}` : runUnknown;
  if (unresolved && !view.unresolved) view.unresolved = unresolved;
  const people: ChangePeople = {
    logins: [...logins].sort(),
    emails: [...emails].sort(),
    ...(unresolved ? { unknown: unresolved } : {}),
  };
  return { view, people };
}

/**
 * Whether a push of `head` replays what an environment already applied: the same commit, or one the applied
 * commit contains (`headIsAncestor`, asked of the history). Such a push starts nothing, however late it arrives.
 */
export function replayReason(head: string, applied: AppliedRecord, headIsAncestor: boolean): string | undefined {
  if (applied.sha !== head && !headIsAncestor) return undefined;
  const what =
    applied.sha === head
      ? `${short(head)} is what ${applied.environment} applied`
      : `${short(head)} is older than what ${applied.environment} applied (${short(applied.sha)}, which contains it)`;
  return (
    `replay: ${what} at ${applied.at} (run ${applied.runId}); a push never rolls an environment back ` +
    '(a rollback is `tfgate rerun RUN --rollback --reason TEXT`)'
  );
}

/** Everyone a push record names, for display: logins first, then addresses. */
export function pusherNames(record: Pick<PushRecord, 'logins' | 'emails'>): string[] {
  const logins = record.logins.map(validLogin).filter((login): login is string => login !== undefined);
  if (logins.length > 0) return [...new Set(logins)].map((login) => `@${login}`);
  return [...new Set(record.emails.map((email) => clip(email.toLowerCase())))];
}

function describe(person: CommitPerson): string {
  const login = validLogin(person.login);
  if (login) return `@${login}`;
  if (person.name && person.email) return `${person.name} <${person.email}>`;
  return person.email ?? person.name ?? 'unknown';
}

function validLogin(login: string | undefined): string | undefined {
  const lower = login?.trim().toLowerCase();
  return lower && /^[a-z0-9][a-z0-9-]{0,38}(?:\[bot\])?$/.test(lower) ? lower : undefined;
}

function difference(left: Set<string>, right: Set<string>): Set<string> {
  return new Set([...left].filter((value) => !right.has(value)));
}

export function short(sha: string | undefined): string {
  return sha ? sha.slice(0, 7) : 'nothing';
}

function clip(text: string): string {
  const line = text.replace(/[\x00-\x1f\x7f]+/g, ' ');
  return line.length > TEXT_LIMIT ? `${line.slice(0, TEXT_LIMIT)}…` : line;
}
