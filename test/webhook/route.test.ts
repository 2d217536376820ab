import { describe, expect, it } from 'vitest';
import type { RunDecision } from '../../src/application/intake.js';
import { routeEvent } from '../../lambdas/webhook/route.js';
import { example, type ExamplePayload, ping, pullRequest, pushToMaster, tagPush, testConfig } from './fixtures.js';

const config = testConfig();
const SHA = '6113728f27ae82c7b1a177c8d03f9e96e0adf246';

function asRun(decision: ReturnType<typeof routeEvent>): RunDecision {
  expect(decision.kind).toBe('run');
  return decision as RunDecision;
}

describe('routing', () => {
  it('answers ping with its zen', () => {
    expect(routeEvent('ping', ping(), config)).toEqual({
      kind: 'pong',
      zen: 'Anything added dilutes everything else.',
    });
  });

  it('turns a push to the tracked branch into a deploy run', () => {
    const decision = asRun(routeEvent('push', pushToMaster(), config));
    expect(decision).toMatchObject({
      mode: 'deploy',
      trigger: 'push',
      sha: SHA,
      ref: 'refs/heads/master',
      pusher: '21031067+Codertocat@users.noreply.github.com',
      author: { name: 'Codertocat', email: '21031067+Codertocat@users.noreply.github.com', login: 'Codertocat' },
      message: 'Initial commit',
    });
    expect(decision.repository.name).toBe('Codertocat/Hello-World');
  });

  it(
    'names everyone behind a push for the self-approval check: pusher, sender, commit authors and ' +
      'committers by GitHub login and address',
    () => {
      const payload = pushToMaster() as Record<string, unknown>;
      payload.pusher = { name: 'Bob', email: 'bob@example.com' };
      payload.sender = { login: 'Bob' };
      payload.commits = [
        {
          id: SHA,
          author: { name: 'Bob', email: '1234+bob@users.noreply.github.com', username: 'bob' },
          committer: { name: 'GitHub', email: 'noreply@github.com', username: 'web-flow' },
        },
        {
          id: SHA,
          author: { name: 'Carol', email: 'carol@example.com' },
          committer: { name: 'Carol', email: 'carol@example.com' },
        },
      ];
      const decision = asRun(routeEvent('push', payload, config));
      expect(decision.people!.logins).toEqual(expect.arrayContaining(['bob', 'web-flow', 'codertocat']));
      expect(decision.people!.emails).toEqual(
        expect.arrayContaining(['bob@example.com', '1234+bob@users.noreply.github.com', 'carol@example.com']),
      );
      expect(decision.people!.unknown).toBeUndefined();
    },
  );

  it('falls back to the pusher name without an email, and copes without a head commit', () => {
    const payload = pushToMaster();
    payload.pusher = { name: 'Codertocat' };
    payload.head_commit = null;
    const decision = asRun(routeEvent('push', payload, config));
    expect(decision.pusher).toBe('Codertocat');
    expect(decision.author).toBeUndefined();
    expect(decision.message).toBeUndefined();
  });

  it('uses the configured spelling of the repository name and its clone URL', () => {
    const custom = testConfig(`repositories:
  - name: codertocat/hello-world
    branch: master
    cloneUrl: /srv/git/hello.git
    environments: [{ name: ops }]
`);
    const decision = asRun(routeEvent('push', pushToMaster(), custom));
    expect(decision.repository.name).toBe('codertocat/hello-world');
    expect(decision.repository.cloneUrl).toBe('/srv/git/hello.git');
    expect(JSON.stringify(decision)).not.toContain('github.com/Codertocat');
  });

  it('ignores pushes to other branches, tags and branch deletions with the reason', () => {
    const feature = pushToMaster();
    feature.ref = 'refs/heads/feature/x';
    expect(routeEvent('push', feature, config)).toMatchObject({
      kind: 'ignored',
      reason: 'push to branch feature/x is not tracked (tracks master)',
    });
    expect(routeEvent('push', tagPush(), config)).toMatchObject({ kind: 'ignored', reason: 'tag push' });
    expect(
      routeEvent(
        'push',
        example('push', (p) => p.deleted === true),
        config,
      ),
    ).toMatchObject({ kind: 'ignored', reason: 'tag push' });

    const deleted = pushToMaster();
    Object.assign(deleted, { deleted: true, created: false, after: '0'.repeat(40), head_commit: null });
    expect(routeEvent('push', deleted, config)).toMatchObject({ kind: 'ignored', reason: 'branch deleted' });

    const notes = pushToMaster();
    notes.ref = 'refs/notes/commits';
    expect(routeEvent('push', notes, config)).toMatchObject({
      kind: 'ignored',
      reason: 'push to refs/notes/commits is not a branch push',
    });
  });

  it.each(['opened', 'synchronize', 'reopened'])('turns pull_request %s into a plan_only run', (action) => {
    const decision = asRun(routeEvent('pull_request', pullRequest(action), config));
    expect(decision).toMatchObject({
      mode: 'plan_only',
      trigger: 'pull_request',
      sha: 'ec26c3e57ca3a959ca5aad62de7213c562f8c821',
      ref: 'refs/pull/2/head',
      pullRequest: 2,
      pusher: 'Codertocat',
    });
  });

  it('does not plan a pull request from a fork, nor one whose head repository was deleted', () => {
    const fromFork = pullRequest('opened');
    fromFork.pull_request.head.repo = { full_name: 'mallory/Hello-World' };
    expect(routeEvent('pull_request', fromFork, config)).toMatchObject({
      kind: 'ignored',
      reason: "pull request from fork mallory/Hello-World is not planned: its code would run with tfgate's credentials",
    });
    const orphaned = pullRequest('opened');
    orphaned.pull_request.head.repo = null;
    expect(routeEvent('pull_request', orphaned, config)).toMatchObject({
      kind: 'ignored',
      reason: 'pull request whose head repository is gone is not planned',
    });
  });

  it.each(['closed', 'labeled', 'assigned', 'converted_to_draft', 'ready_for_review'])(
    'ignores pull_request %s',
    (action) => {
      expect(routeEvent('pull_request', pullRequest(action), config)).toMatchObject({
        kind: 'ignored',
        reason: `pull_request action ${action} starts nothing`,
      });
    },
  );

  it('ignores every other event by name', () => {
    expect(routeEvent('issues', example('issues'), config)).toEqual({
      kind: 'ignored',
      reason: 'event issues starts nothing',
    });
    expect(routeEvent('release', example('release'), config)).toEqual({
      kind: 'ignored',
      reason: 'event release starts nothing',
    });
  });

  it('ignores repositories that are not configured', () => {
    const other = testConfig(`repositories:\n  - name: acme/infrastructure\n    environments: [{ name: ops }]\n`);
    expect(routeEvent('push', pushToMaster(), other)).toMatchObject({
      kind: 'ignored',
      reason: 'repository not configured',
    });
    expect(routeEvent('pull_request', pullRequest('opened'), other)).toMatchObject({
      kind: 'ignored',
      reason: 'repository not configured',
    });
  });

  describe('refuses payloads whose fields a run would use wrongly', () => {
    const cases: Array<[string, string, (p: ExamplePayload) => void, RegExp]> = [
      ['push', 'a short sha', (p) => (p.after = 'abc123'), /after: must be a 40-character hexadecimal commit id/],
      ['push', 'a sha with shell characters', (p) => (p.after = `$(touch /tmp/x)${'a'.repeat(25)}`), /after/],
      ['push', 'a ref with a space', (p) => (p.ref = 'refs/heads/master extra'), /ref: must be a git ref/],
      ['push', 'no repository', (p) => delete p.repository, /repository: expected object/],
      [
        'push',
        'a repository name with a path',
        (p) => (p.repository.full_name = 'Codertocat/../Hello-World/x'),
        /repository.full_name: must be owner\/name/,
      ],
      ['push', 'no pusher', (p) => delete p.pusher, /pusher: expected object/],
      [
        'pull_request',
        'a bad head sha',
        (p) => (p.pull_request.head.sha = 'HEAD~1'),
        /pull_request.head.sha: must be a 40-character/,
      ],
      ['pull_request', 'a negative number', (p) => (p.number = -2), /number/],
      ['pull_request', 'a sender without login', (p) => (p.sender = {}), /sender.login: expected string/],
    ];
    it.each(cases)('%s with %s', (event, _what, change, problem) => {
      const payload = event === 'push' ? pushToMaster() : pullRequest('opened');
      change(payload);
      const decision = routeEvent(event, payload, config);
      expect(decision.kind).toBe('malformed');
      if (decision.kind === 'malformed') expect(decision.problem).toMatch(problem);
    });

    it.each([['--upload-pack=touch /tmp/x'], ['http://169.254.169.254/x.git'], [42]])(
      'ignores the payload clone URL %j: nothing is ever fetched from it',
      (cloneUrl) => {
        const payload = pushToMaster();
        payload.repository.clone_url = cloneUrl;
        const decision = asRun(routeEvent('push', payload, config));
        expect(JSON.stringify(decision)).not.toContain(String(cloneUrl));
      },
    );

    it('never echoes the offending value', () => {
      const payload = pushToMaster();
      payload.after = 'SECRET-LOOKING-VALUE';
      const decision = routeEvent('push', payload, config);
      expect(JSON.stringify(decision)).not.toContain('SECRET-LOOKING-VALUE');
    });
  });

  it('ignores pull requests of a repository with pullRequests.plan: false, and plans them by default', () => {
    const off = testConfig(
      `repositories:\n  - name: Codertocat/Hello-World\n    branch: master\n    pullRequests: { plan: false }\n   ` +
        ` environments:\n      - name: ops\n`,
    );
    expect(routeEvent('pull_request', pullRequest('opened'), off)).toMatchObject({
      kind: 'ignored',
      reason: 'pull request plans are off for this repository (pullRequests.plan: false)',
    });
    expect(routeEvent('pull_request', pullRequest('opened'), config)).toMatchObject({ kind: 'run', mode: 'plan_only' });
  });

  it('keeps long commit messages to a bounded size', () => {
    const payload = pushToMaster();
    payload.head_commit.message = 'x'.repeat(10_000);
    expect(asRun(routeEvent('push', payload, config)).message).toHaveLength(2000);
  });
});
