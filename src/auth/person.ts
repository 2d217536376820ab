import { EMAIL, GITHUB_LOGIN_ENTRY, GITHUB_TEAM_ENTRY } from '../config/patterns.js';
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
 * Why this person may not approve their own change, or undefined. Fails closed when the change's people are unknown.
 */
export function selfApprovalRefusal(person: SignedInPerson, people: ChangePeople | undefined): string | undefined {
  if (!people)
    return (
      'tfgate does not know who pushed or wrote this change, so nobody may approve it here (self-approval is ' + 'off).'
    );
  if (people.unknown) return `${people.unknown}; with self-approval off nobody may approve it on that basis.`;
  if (person.login && people.logins.includes(person.login))
    return 'You pushed or wrote this change (by your GitHub login); someone else has to approve it.';
  const theirs = new Set(people.emails.map((e) => e.toLowerCase()));
  if (person.emails.some((email) => theirs.has(email.toLowerCase())))
    return 'You pushed or wrote this change (by one of your verified addresses); someone else has to approve it.';
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
