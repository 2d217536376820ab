import { EMAIL, GITHUB_LOGIN_ENTRY, GITHUB_TEAM_ENTRY } from '../config/patterns.js';
import type { PersonBinding } from '../config/load.js';
import type { ChangePeople } from '../domain/run.js';

// Who made a change is part of a run (domain/run.ts); kept importable from here.
export type { ChangePeople };

/**
 * Who is asking, as tfgate knows it from a sign-in (never from a link), and the rules that compare
 * that person with the approvers and viewers named in tfgate.yaml and with the people behind a change.
 * No transport, no AWS: the sign-in routes and the approval pages both use these.
 */

export interface SignedInPerson {
  /** How they proved who they are: GitHub's OAuth web flow, a one-time emailed link, or the local credential. */
  via: 'github' | 'email' | 'local';
  /** The GitHub login, lower-case (GitHub sign-in only). */
  login?: string;
  /** Addresses proven to be theirs: the ones GitHub has verified for the login, or the one an emailed link reached. */
  emails: string[];
  /** Random per session: anti-forgery fields are tied to it. */
  sessionId: string;
}

/** `people:` from tfgate.yaml, indexed both ways (lower-case): who a login is, whose an address is. */
export interface PeopleBindings {
  readonly byLogin: ReadonlyMap<string, readonly string[]>;
  readonly byEmail: ReadonlyMap<string, string>;
}

export function bindPeople(people: readonly PersonBinding[] = []): PeopleBindings {
  const byLogin = new Map<string, string[]>();
  const byEmail = new Map<string, string>();
  for (const person of people) {
    const login = person.github.toLowerCase();
    const emails = uniqueLower(person.emails);
    byLogin.set(login, emails);
    // The configuration refuses an address bound twice; the first binding wins should one get through.
    for (const email of emails) if (!byEmail.has(email)) byEmail.set(email, login);
  }
  return { byLogin, byEmail };
}

export const NO_BINDINGS: PeopleBindings = bindPeople([]);

/**
 * The person behind a sign-in, as `people:` knows them: a GitHub sign-in takes on the addresses bound to its
 * login; a sign-in by an address bound to a login takes on that login and its other addresses. Every comparison
 * (approver lists, viewers, self-approval) is made with the resolved person.
 */
export function resolvePerson(person: SignedInPerson, bindings: PeopleBindings): SignedInPerson {
  const emails = uniqueLower(person.emails);
  let login = person.login?.toLowerCase();
  if (!login) {
    const bound = uniqueLower(emails.map((email) => bindings.byEmail.get(email)));
    // Addresses of two different people in one sign-in cannot be one person: leave it unbound (the strict rule).
    if (bound.length === 1) login = bound[0];
  }
  const all = login ? uniqueLower([...emails, ...(bindings.byLogin.get(login) ?? [])]) : emails;
  return { ...person, ...(login ? { login } : {}), emails: all };
}

/**
 * A stable key for "the same person" (two approvals by one person count once): `@login` once the sign-in is
 * resolved to a GitHub login (by GitHub, or by an address bound under `people:`), else the lower-cased address.
 * An unbound address cannot be compared with a login; `samePerson` also matches shared addresses.
 */
export function personKey(person: SignedInPerson, bindings: PeopleBindings): string {
  const resolved = resolvePerson(person, bindings);
  if (resolved.login) return `@${resolved.login}`;
  if (resolved.emails[0]) return resolved.emails[0];
  return `${resolved.via}:${resolved.sessionId}`;
}

/** Whether two sign-ins are one person: the same login, or an address both have proven (after `people:`). */
export function samePerson(a: SignedInPerson, b: SignedInPerson, bindings: PeopleBindings): boolean {
  const left = resolvePerson(a, bindings);
  const right = resolvePerson(b, bindings);
  if (left.login && right.login) return left.login === right.login;
  const theirs = new Set(right.emails);
  return left.emails.some((email) => theirs.has(email)) || personKey(a, bindings) === personKey(b, bindings);
}

/** Looks up GitHub team membership at decision time (tfgate's own GitHub credentials). */
export interface TeamDirectory {
  isTeamMember(org: string, teamSlug: string, login: string): Promise<boolean>;
}

export function describePerson(person: Pick<SignedInPerson, 'login' | 'emails' | 'via'>): string {
  if (person.login) return `@${person.login}`;
  if (person.emails[0]) return person.emails[0];
  return person.via === 'local' ? 'the local operator' : 'someone';
}

/**
 * The person the local operator acts as (`tfgate approve --as WHO`): the credential in the data
 * directory proves the operator, who names which listed approver they are.
 */
export function personNamed(who: string, sessionId: string): SignedInPerson | undefined {
  const entry = who.trim().toLowerCase();
  if (GITHUB_LOGIN_ENTRY.test(entry)) return { via: 'local', login: entry.slice(1), emails: [], sessionId };
  if (EMAIL.test(entry)) return { via: 'local', emails: [entry], sessionId };
  return undefined;
}

/** `note`: why a team could not be checked (no credentials, GitHub failing), when that is why. */
export type ListMatch = { matched: true; entry: string } | { matched: false; note?: string };

/** Whether `person` is one of `entries` (logins, teams, emails from tfgate.yaml, already lower-case). */
export async function matchListed(
  person: SignedInPerson,
  entries: readonly string[],
  teams: TeamDirectory | undefined,
): Promise<ListMatch> {
  const emails = new Set(person.emails.map((e) => e.toLowerCase()));
  for (const entry of entries) {
    if (EMAIL.test(entry) && emails.has(entry)) return { matched: true, entry };
    if (GITHUB_LOGIN_ENTRY.test(entry) && person.login === entry.slice(1)) return { matched: true, entry };
  }
  const teamEntries = entries.filter((entry) => GITHUB_TEAM_ENTRY.test(entry));
  let teamProblem: string | undefined;
  if (person.login && teamEntries.length > 0) {
    if (!teams) {
      teamProblem = 'team membership cannot be checked: tfgate has no GitHub credentials';
    } else {
      for (const entry of teamEntries) {
        const [org, team] = entry.slice(1).split('/') as [string, string];
        try {
          if (await teams.isTeamMember(org, team, person.login)) return { matched: true, entry };
        } catch (error) {
          teamProblem = `GitHub could not confirm membership of ${entry}: ${(error as Error).message}`;
        }
      }
    }
  }
  return teamProblem ? { matched: false, note: teamProblem } : { matched: false };
}

/**
 * GitHub itself, the committer of commits made on github.com (web edits, merges): no person signs in as it, and
 * nobody reads mail at its address.
 */
const GITHUB_ITSELF: ReadonlySet<string> = new Set(['web-flow', 'noreply@github.com']);

/**
 * Why this person may not approve their own change, or undefined. Fails closed when the change's people are unknown.
 * Both sides are compared as `people:` knows them. An email sign-in that no binding ties to a login is a person
 * tfgate cannot compare with a login: it may approve only when every person of the change is bound under
 * `people:` (so all their addresses are known) and none of them has that address.
 */
export function selfApprovalRefusal(
  person: SignedInPerson,
  people: ChangePeople | undefined,
  bindings: PeopleBindings = NO_BINDINGS,
): string | undefined {
  if (!people)
    return (
      'tfgate does not know who pushed or wrote this change, so nobody may approve it here (self-approval is ' + 'off).'
    );
  if (people.unknown) return `${people.unknown}; with self-approval off nobody may approve it on that basis.`;
  const me = resolvePerson(person, bindings);
  const logins = new Set(uniqueLower(people.logins));
  const emails = new Set(uniqueLower(people.emails));
  for (const email of emails) {
    const login = bindings.byEmail.get(email);
    if (login) logins.add(login);
  }
  for (const login of logins) for (const email of bindings.byLogin.get(login) ?? []) emails.add(email);
  if (me.login && logins.has(me.login))
    return me.via !== 'email'
      ? 'You pushed or wrote this change (by your GitHub login); someone else has to approve it.'
      : `You pushed or wrote this change (your address is bound to @${me.login} under people:); someone else has ` +
          'to approve it.';
  if (me.emails.some((email) => emails.has(email)))
    return 'You pushed or wrote this change (by one of your verified addresses); someone else has to approve it.';
  if (me.via === 'email' && !me.login) {
    const unboundLogins = [...logins].filter((login) => !bindings.byLogin.has(login) && !GITHUB_ITSELF.has(login));
    const unboundEmails = [...emails].filter((email) => !bindings.byEmail.has(email) && !GITHUB_ITSELF.has(email));
    if (unboundLogins.length > 0 || unboundEmails.length > 0) {
      const who = [
        ...unboundLogins.map((login) => `@${login}`),
        ...(unboundEmails.length > 0
          ? [`${unboundEmails.length} commit address${unboundEmails.length === 1 ? '' : 'es'}`]
          : []),
      ].join(', ');
      return (
        `You signed in by email as ${me.emails[0] ?? 'an address'}, which no people: entry in tfgate.yaml binds ` +
        `to a GitHub login, and not everyone behind this change is known there (${who}), so tfgate cannot tell ` +
        'that you are none of them. Bind your address to your GitHub login under people: in tfgate.yaml, or sign ' +
        'in with GitHub.'
      );
    }
  }
  return undefined;
}

/** Everyone who may look at runs: every approver of any gate, and `access.viewers`. */
export function everyoneListed(config: {
  repositories: ReadonlyArray<{ environments: ReadonlyArray<{ approval?: { approvers: readonly string[] } }> }>;
  access?: { viewers: readonly string[] };
}): string[] {
  const approvers = config.repositories.flatMap((repo) =>
    repo.environments.flatMap((env) => env.approval?.approvers ?? []),
  );
  return [...new Set([...approvers, ...(config.access?.viewers ?? [])])];
}

export function uniqueLower(values: ReadonlyArray<string | undefined | null>): string[] {
  return [
    ...new Set(values.filter((v): v is string => typeof v === 'string' && v.length > 0).map((v) => v.toLowerCase())),
  ];
}
