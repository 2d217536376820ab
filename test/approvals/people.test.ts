import { describe, expect, it } from 'vitest';
import {
  bindPeople,
  matchListed,
  personKey,
  resolvePerson,
  samePerson,
  selfApprovalRefusal,
  type SignedInPerson,
} from '../../src/auth/person.js';

/** `people:`: one person however they sign in, and the rule for email sign-ins no binding ties to a login. */

const bindings = bindPeople([
  { github: 'Alice', emails: ['alice@example.com', 'Alice@Corp.example'] },
  { github: 'carol', emails: ['carol@example.com'] },
]);
const github = (login: string, emails: string[] = []): SignedInPerson => ({
  via: 'github',
  login,
  emails,
  sessionId: `gh-${login}`,
});
const email = (address: string): SignedInPerson => ({ via: 'email', emails: [address], sessionId: `em-${address}` });

describe('resolving a sign-in through people:', () => {
  it('a GitHub sign-in takes on its bound addresses; a bound address takes on its login', () => {
    expect(resolvePerson(github('alice'), bindings).emails).toEqual(['alice@example.com', 'alice@corp.example']);
    expect(resolvePerson(email('ALICE@corp.example'), bindings)).toMatchObject({
      via: 'email',
      login: 'alice',
      emails: ['alice@corp.example', 'alice@example.com'],
    });
    expect(resolvePerson(email('mallory@example.com'), bindings)).toEqual(email('mallory@example.com'));
  });

  it('personKey and samePerson: the two sign-ins of one person are one person', () => {
    expect(personKey(github('alice'), bindings)).toBe('@alice');
    expect(personKey(email('alice@corp.example'), bindings)).toBe('@alice');
    expect(personKey(email('Mallory@Example.com'), bindings)).toBe('mallory@example.com');
    expect(samePerson(github('alice'), email('alice@example.com'), bindings)).toBe(true);
    expect(samePerson(github('bob', ['bob@example.com']), email('bob@example.com'), bindings)).toBe(true);
    expect(samePerson(github('alice'), email('carol@example.com'), bindings)).toBe(false);
    expect(samePerson(github('alice'), github('carol'), bindings)).toBe(false);
  });

  it('an approver listed by login may use a bound address, and one listed by address may use GitHub', async () => {
    expect(
      (await matchListed(resolvePerson(email('alice@corp.example'), bindings), ['@alice'], undefined)).matched,
    ).toBe(true);
    expect(
      (await matchListed(resolvePerson(github('carol'), bindings), ['carol@example.com'], undefined)).matched,
    ).toBe(true);
  });
});

describe('self-approval with people:', () => {
  const mallorysPush = { logins: ['mallory'], emails: ['mallory@home.example'] };

  it('an unbound email sign-in is refused unless everyone behind the change is bound', () => {
    const refusal = selfApprovalRefusal(email('mallory@corp.example'), mallorysPush, bindings);
    expect(refusal).toBe(
      'You signed in by email as mallory@corp.example, which no people: entry in tfgate.yaml binds to a GitHub ' +
        'login, and not everyone behind this change is known there (@mallory, 1 commit address), so tfgate cannot ' +
        'tell that you are none of them. Bind your address to your GitHub login under people: in tfgate.yaml, or ' +
        'sign in with GitHub.',
    );
    // Without people: at all, the same.
    expect(selfApprovalRefusal(email('bob@example.com'), mallorysPush)).toContain('not everyone behind this change');
    // Everyone bound (GitHub's own web-flow committer is nobody): the unbound address is none of them.
    const carolsPush = {
      logins: ['carol', 'web-flow'],
      emails: ['carol@example.com', 'noreply@github.com'],
    };
    expect(selfApprovalRefusal(email('bob@example.com'), carolsPush, bindings)).toBeUndefined();
    // An unbound address that is one of the change's own is refused as the author's.
    expect(selfApprovalRefusal(email('carol@example.com'), { logins: [], emails: ['carol@example.com'] })).toContain(
      'by one of your verified addresses',
    );
  });

  it('a bound email sign-in is refused for a change by its login, and a GitHub sign-in for its bound address', () => {
    expect(selfApprovalRefusal(email('alice@corp.example'), { logins: ['alice'], emails: [] }, bindings)).toBe(
      'You pushed or wrote this change (your address is bound to @alice under people:); someone else has to ' +
        'approve it.',
    );
    expect(selfApprovalRefusal(github('alice'), { logins: [], emails: ['alice@corp.example'] }, bindings)).toBe(
      'You pushed or wrote this change (by your GitHub login); someone else has to approve it.',
    );
    expect(selfApprovalRefusal(github('bob'), { logins: ['alice'], emails: [] }, bindings)).toBeUndefined();
    expect(selfApprovalRefusal(github('bob'), { logins: [], emails: [], unknown: 'who pushed is unknown' })).toContain(
      'who pushed is unknown',
    );
  });
});
