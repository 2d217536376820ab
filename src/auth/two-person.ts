import type { ChangePeople } from '../domain/run.js';
import { selfApprovalRefusal, type SignedInPerson } from './person.js';

/**
 * The two-person rule's view of a person: who counts as "the same approver", and who may approve a
 * change whose people tfgate could not establish.
 */

/**
 * The stable key of a person: the GitHub login when known, else the (first) address, lower-case.
 * A stand-in for the person key src/auth/person.ts will give (bound logins included); swapping it in
 * is a change of this one function.
 */
export function personKey(person: Pick<SignedInPerson, 'login' | 'emails'>): string | undefined {
  if (person.login) return person.login.toLowerCase();
  const first = person.emails[0];
  return first ? first.toLowerCase() : undefined;
}

/** At most this many identities per approver (GitHub may verify many addresses for one login). */
const MAX_IDENTITIES = 25;

/**
 * Every identity the person is known by: the key, the login (`@login`) and every proven address. Two
 * approvals that share any of them are one person, however each signed in.
 */
export function approverIdentities(person: Pick<SignedInPerson, 'login' | 'emails'>): string[] {
  const ids = new Set<string>();
  const key = personKey(person);
  if (key) ids.add(`key:${key}`);
  if (person.login) ids.add(`@${person.login.toLowerCase()}`);
  for (const email of person.emails) ids.add(email.toLowerCase());
  return [...ids].slice(0, MAX_IDENTITIES);
}

/**
 * Why this person may not approve the change, or undefined. Known people of the change never may. When
 * tfgate could not establish who they all are, nobody may alone: a gate that needs two or more distinct
 * approvers may still be approved by listed approvers (at least one of them is not the author).
 */
export function changeRefusal(
  person: SignedInPerson,
  people: ChangePeople | undefined,
  required: number,
): string | undefined {
  const known: ChangePeople = { logins: people?.logins ?? [], emails: people?.emails ?? [] };
  const own = selfApprovalRefusal(person, known);
  if (own) return own;
  const unknown = people === undefined ? 'tfgate does not know who pushed or wrote this change' : people.unknown;
  if (unknown === undefined) return undefined;
  if (required >= 2) return undefined;
  return (
    `${unknown}; with self-approval off nobody may approve it on that basis. The documented way through is ` +
    'approval.required: 2 for this environment: two distinct listed approvers, at least one of whom is not the author.'
  );
}
