import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitHubClient } from '../../src/adapters/github/client.js';
import { startFakeGitHub, type FakeGitHub } from './fake-github.js';

/**
 * Who is behind a head the webhook never announced, as GitHub resolves them (the reconciler asks
 * before its run exists), and team membership as the approval page asks it at decision time.
 */

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

let github: FakeGitHub;
let client: GitHubClient;

beforeAll(async () => {
  github = await startFakeGitHub();
  client = new GitHubClient({ apiUrl: github.apiUrl, credentials: { kind: 'token', token: 'ghp_test' } });
});
afterAll(async () => github.close());

describe('GitHubClient.changePeople', () => {
  it(
    'takes the pusher from the branch activity and the authors and committers of every pushed ' + 'commit by login',
    async () => {
      github.activity.set('acme/infra/main', [{ before: A, after: C, actor: 'Bob' }]);
      github.compares.set(`acme/infra/${A}...${C}`, [B, C]);
      github.commits.set(`acme/infra/${B}`, {
        authorLogin: 'alice',
        authorEmail: '1+alice@users.noreply.github.com',
        committerLogin: 'web-flow',
        committerEmail: 'noreply@github.com',
      });
      github.commits.set(`acme/infra/${C}`, {
        authorEmail: 'carol@example.com',
        committerLogin: 'bob',
        committerEmail: 'bob@example.com',
      });
      const people = await client.changePeople('acme/infra', 'main', C);
      expect(people).toEqual({
        logins: ['bob', 'alice', 'web-flow'],
        emails: ['1+alice@users.noreply.github.com', 'noreply@github.com', 'carol@example.com', 'bob@example.com'],
      });
    },
  );

  it('says the pusher is unknown when GitHub has no activity for the head (the gate then fails closed)', async () => {
    github.commits.set(`acme/other/${C}`, {
      authorLogin: 'alice',
      authorEmail: 'alice@example.com',
      committerEmail: 'alice@example.com',
    });
    const people = await client.changePeople('acme/other', 'main', C);
    expect(people.logins).toEqual(['alice']);
    expect(people.unknown).toBe(`GitHub did not say who pushed ${C.slice(0, 7)} to main`);
  });
});

describe('GitHubClient.isTeamMember', () => {
  it('asks GitHub each time: a member is accepted, anyone else is not', async () => {
    github.teams.set('acme/platform', ['dave']);
    expect(await client.isTeamMember('acme', 'platform', 'dave')).toBe(true);
    expect(await client.isTeamMember('acme', 'platform', 'mallory')).toBe(false);
    github.teams.set('acme/platform', []);
    expect(await client.isTeamMember('acme', 'platform', 'dave')).toBe(false);
  });
});
