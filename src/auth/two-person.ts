import type { ChangePeople } from '../domain/run.js';
import {
  NO_BINDINGS,
  personKey,
  resolvePerson,
  selfApprovalRefusal,
  type PeopleBindings,
  type SignedInPerson,
} from './person.js';

/**
 * The two-person rule's view of a person: who counts as "the same approver", and who may approve a
 * change whose people tfgate could not establish.
 */

/** At most this many identities per approver (GitHub may verify many addresses for one login). */
const MAX_IDENTITIES = 25;

/**
 * Every identity the person is known by, as `people:` resolves them: the stable person key, the login
 * (`@login`) and every proven or bound address. Two approvals that share any of them are one person,
 * however each signed in.
 */
export function approverIdentities(person: SignedInPerson, bindings: PeopleBindings = NO_BINDINGS): string[] {
  const resolved = resolvePerson(person, bindings);
  const ids = new Set<string>([`key:${personKey(person, bindings)}`]);
  if (resolved.login) ids.add(`@${resolved.login.toLowerCase()}`);
  for (const email of resolved.emails) ids.add(email.toLowerCase());
  return [...ids].slice(0, MAX_IDENTITIES);
}

const WAY_THROUGH =
  ' The documented way through is approval.required: 2 for this environment: two distinct listed approvers, at ' +
  'least one of whom is not the author.';

/**
 * Why this person may not approve the change, or undefined. Known people of the change never may (as
 * `selfApprovalRefusal` compares them, `people:` included). When tfgate could not establish who they all
 * are, nobody may alone: a gate that needs two or more distinct approvers may still be approved by
 * listed approvers (at least one of them is not the author).
 */
export function changeRefusal(
  person: SignedInPerson,
  people: ChangePeople | undefined,
  required: number,
  bindings: PeopleBindings = NO_BINDINGS,
): string | undefined {
  if (people && people.unknown === undefined) return selfApprovalRefusal(person, people, bindings);
  const known: ChangePeople = { logins: people?.logins ?? [], emails: people?.emails ?? [] };
  const own = selfApprovalRefusal(person, known, bindings);
  if (own) return own;
  if (required >= 2) return undefined;
  return `${selfApprovalRefusal(person, people, bindings)}${WAY_THROUGH}`;
}
