import { beforeEach, describe, expect, it } from 'vitest';
import { bindPeople, type SignedInPerson } from '../../src/auth/person.js';
import { parseConfig } from '../../src/config/load.js';
import { EnvironmentLocks } from '../../src/domain/locks.js';
import type { ArtifactStore, Notifier, TaskCallbacks } from '../../src/domain/ports.js';
import type { HttpRequest } from '../../src/http.js';
import { resolveChange } from '../../src/domain/change-range.js';
import { approversMayRerun, createRerunHandler } from '../../src/application/rerun.js';
import type { ChangeDeps } from '../../src/application/change.js';
import { createApprovalRequester } from '../../lambdas/approval-request/handler.js';
import { createApprovalsHandler } from '../../lambdas/web/handler.js';
import { createWebhookHandler } from '../../lambdas/webhook/handler.js';
import { renderChange } from '../../src/web/pages.js';
import { aPlanSummary } from '../support/builders.js';
import { aCommit, FakeGitHub, sha } from '../support/history.js';
import { useDynalite } from '../support/dynalite.js';
import { RecordingCallbacks, RecordingStarter } from '../webhook/fakes.js';
import { webhookRequest } from '../webhook/fixtures.js';

/**
 * The change is a range, through the handlers both compositions run (webhook → ledger → approval request → page →
 * decision; re-runs), on dynalite: Mallory's backdoor carried in by Carol's README push is still Mallory's change.
 */

const REPO = 'acme/infrastructure';
const PLAN_SHA = 'c'.repeat(64);
const SESSION_KEY = 'k'.repeat(32);
const CONFIG = parseConfig(
  [
    'repositories:',
    `  - name: ${REPO}`,
    '    branch: main',
    '    environments:',
    '      - name: ops',
    '      - name: apps',
    '        approval:',
    '          approvers: ["@bob", "@mallory", "@dana", carol@example.com, bob@example.com]',
    '          timeout: 1h',
    'people:',
    '  - github: mallory',
    '    emails: [mallory@example.com, mallory@corp.example]',
    '  - github: carol',
    '    emails: [carol@example.com]',
    '  - github: bob',
    '    emails: [bob@example.com]',
    '',
  ].join('\n'),
);
const bindings = bindPeople(CONFIG.people);

const mallory: SignedInPerson = { via: 'github', login: 'mallory', emails: ['mallory@example.com'], sessionId: 'm1' };
/** Mallory again, by an emailed link to her other address: people: ties it to @mallory. */
const malloryByMail: SignedInPerson = { via: 'email', emails: ['mallory@corp.example'], sessionId: 'm2' };
const bob: SignedInPerson = { via: 'github', login: 'bob', emails: ['bob@example.com'], sessionId: 'b1' };
const bobByMail: SignedInPerson = { via: 'email', emails: ['bob@example.com'], sessionId: 'b2' };

const BASE = sha('0');
const BACKDOOR = sha('a');
const README = sha('b');

const dynamo = useDynalite();
let github: FakeGitHub;
let starter: RecordingStarter;
let successes: unknown[];

const artifacts: ArtifactStore = { put: async () => undefined, get: async () => undefined };
const notifier: Notifier = { approvalRequested: async () => undefined, runNotice: async () => undefined };
const callbacks: TaskCallbacks = {
  sendTaskSuccess: async (_token, output) => {
    successes.push(output);
    return { delivered: true };
  },
  sendTaskFailure: async () => ({ delivered: true }),
};

beforeEach(() => {
  github = new FakeGitHub([
    aCommit(BASE, undefined, 'Initial infrastructure', { email: 'erin@example.com', login: 'erin' }),
    aCommit(BACKDOOR, BASE, 'Tune the network module', { email: 'mallory@example.com', login: 'mallory' }),
    aCommit(README, BACKDOOR, 'README: typo', { email: 'carol@example.com', login: 'carol' }),
  ]);
  starter = new RecordingStarter();
  successes = [];
});

function change(): ChangeDeps {
  return { config: CONFIG, history: github, ledger: dynamo.stores.ledger };
}

function intake() {
  const { runs, deliveries, sequences, locks } = dynamo.stores;
  return {
    config: CONFIG,
    runs,
    deliveries,
    sequences,
    locks: new EnvironmentLocks({ locks, runs, callbacks: new RecordingCallbacks() }),
    starter,
    clock: { now: () => new Date() },
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    change: change(),
  };
}

function webhook() {
  const deps = intake();
  return createWebhookHandler({
    config: CONFIG,
    secrets: ['test-webhook-secret-4b1d'],
    stores: { runs: deps.runs, deliveries: deps.deliveries, sequences: deps.sequences },
    locks: deps.locks,
    starter,
    logger: deps.logger,
    change: change(),
  });
}

/** The push event GitHub sends when `who` pushes `after` over `before`. */
function push(who: string, before: string, after: string, title: string) {
  const person = { name: who, email: `${who}@example.com`, username: who };
  return {
    ref: 'refs/heads/main',
    before,
    after,
    deleted: false,
    repository: { full_name: REPO },
    pusher: { name: who, email: `${who}@example.com` },
    sender: { login: who },
    commits: [{ author: person, committer: person }],
    head_commit: { message: title, author: person, committer: person },
  };
}

async function deliver(payload: unknown): Promise<Record<string, unknown>> {
  const answer = await webhook()(webhookRequest('push', payload));
  expect(answer.status).toBe(202);
  return JSON.parse(answer.body) as Record<string, unknown>;
}

/** The run as the state machine leaves it before the apps approval: ops applied (recorded), apps planned. */
async function reachApps(runId: string): Promise<string> {
  const run = (await dynamo.stores.runs.get(runId))!;
  const at = new Date().toISOString();
  await dynamo.stores.runs.updateStage(runId, 'ops', { status: 'applied' }, new Date());
  await dynamo.stores.ledger.recordApplied(REPO, {
    environment: 'ops',
    sha: run.sha,
    runId,
    sequence: run.sequence,
    at,
  });
  await dynamo.stores.runs.updateStage(
    runId,
    'apps',
    { status: 'planned', plan: aPlanSummary({ sha256: PLAN_SHA }) },
    new Date(),
  );
  return askApproval(runId, 'apps', `token-${runId}`);
}

/** The notifier's approval request for a planned stage, as the state machine sends it; its approval id. */
async function askApproval(runId: string, environment: string, taskToken: string): Promise<string> {
  const ask = createApprovalRequester({
    config: CONFIG,
    runs: dynamo.stores.runs,
    approvals: dynamo.stores.approvals,
    artifacts,
    notifier,
    publicUrl: '',
    change: change(),
  });
  const { approvalId } = await ask({
    action: 'requestApproval',
    runId,
    repository: REPO,
    environment,
    taskToken,
    planSha256: PLAN_SHA,
    timeoutSeconds: 3600,
  });
  return approvalId;
}

function pages() {
  return createApprovalsHandler({
    runs: dynamo.stores.runs,
    approvals: dynamo.stores.approvals,
    artifacts,
    callbacks,
    sessionKey: SESSION_KEY,
    people: bindings,
    log: () => undefined,
  });
}

function request(person: SignedInPerson, method: string, path: string, body = '', json = false): HttpRequest {
  return {
    method,
    path,
    query: {},
    headers: {
      host: 'tfgate.example',
      ...(method === 'POST' ? { 'content-type': json ? 'application/json' : 'application/x-www-form-urlencoded' } : {}),
      ...(json && method === 'GET' ? { accept: 'application/json' } : {}),
    },
    body: Buffer.from(body),
    identity: person,
  };
}

/** Opens the approval page as `person` and posts its form, as a browser does. */
async function decide(person: SignedInPerson, approvalId: string) {
  const page = await pages()(request(person, 'GET', `/approvals/${approvalId}`));
  const token = /name="form_token" value="([^"]+)"/.exec(page.body)?.[1];
  if (!token) return { status: 403, why: /class="notice[^"]*">([^<]*)/.exec(page.body)?.[1] ?? '', page: page.body };
  const answer = await pages()(
    request(person, 'POST', `/approvals/${approvalId}`, `decision=approve&form_token=${encodeURIComponent(token)}`),
  );
  return { status: answer.status, why: answer.body, page: page.body };
}

/** apps last applied BASE; Mallory pushes her change, Carol pushes a README change on top. */
async function malloryThenCarol(): Promise<{ malloryRun: string; carolRun: string }> {
  await dynamo.stores.ledger.recordApplied(REPO, {
    environment: 'apps',
    sha: BASE,
    runId: 'run-base',
    sequence: 0,
    at: '2026-01-01T00:00:00.000Z',
  });
  const first = await deliver(push('mallory', BASE, BACKDOOR, 'Tune the network module'));
  const second = await deliver(push('carol', BACKDOOR, README, 'README: typo'));
  return { malloryRun: first.runId as string, carolRun: second.runId as string };
}

describe('the change is every commit since the last apply', () => {
  it('Mallory is refused on her run and on Carol’s, by GitHub and by email sign-in; Bob approves Carol’s', async () => {
    const { malloryRun, carolRun } = await malloryThenCarol();
    const malloryApproval = await reachApps(malloryRun);
    const carolApproval = await reachApps(carolRun);

    for (const approvalId of [malloryApproval, carolApproval])
      for (const who of [mallory, malloryByMail]) {
        const tried = await decide(who, approvalId);
        expect(tried.status, `${who.via} on ${approvalId}`).toBe(403);
        expect(tried.why).toMatch(/You pushed or wrote this change/);
      }

    // Carol's page names both commits, who wrote and who pushed each, and why Mallory may not approve.
    const page = (await decide(bob, carolApproval)).page;
    expect(page).toContain(BACKDOOR.slice(0, 12));
    expect(page).toContain(README.slice(0, 12));
    expect(page).toContain('Tune the network module');
    expect(page).toMatch(/<strong>@mallory<\/strong>: [^<]*wrote aaaaaaa/);
    expect(page).toMatch(/ops at /);
    const approvals = await dynamo.stores.approvals.get(carolApproval);
    expect(approvals?.status).toBe('approved');
    expect(successes).toHaveLength(1);

    // The JSON of the approval and of the run carry the same change.
    const json = await pages()(request(bobByMail, 'GET', `/approvals/${malloryApproval}`, '', true));
    const shown = JSON.parse(json.body) as { change: { commits: Array<{ sha: string; pushers: string[] }> } };
    expect(shown.change.commits.map((commit) => commit.sha)).toEqual([BACKDOOR]);
    expect(shown.change.commits[0]!.pushers).toEqual(['@mallory']);
    const run = await dynamo.stores.runs.get(carolRun);
    expect(run?.stages.find((s) => s.environment === 'apps')?.approval?.change?.commits).toHaveLength(2);
  });

  it('a force-push, a first apply, GitHub down: nobody alone, the page says why', async () => {
    const first = await deliver(push('carol', BASE, README, 'README: typo'));
    // First apply: apps never applied anything.
    const approvalId = await reachApps(first.runId as string);
    const tried = await decide(bob, approvalId);
    expect(tried.status).toBe(403);
    expect(tried.page).toContain('id="change-unresolved"');
    expect(tried.why).toMatch(/approval\.required: 2/);

    // A force-push: apps applied a commit the history no longer has.
    const view = resolveChange({
      environment: 'apps',
      head: README,
      applied: { environment: 'apps', sha: sha('f'), runId: 'r', sequence: 1, at: 'then' },
      history: await github.range(REPO, 'main', sha('f'), README),
      pushes: new Map(),
      promoted: [],
    });
    expect(view.people.unknown).toMatch(/force-push/);
    github.down = true;
    expect((await github.range(REPO, 'main', BASE, README)).kind).toBe('unresolved');
  });

  it('a commit no recorded push brought has an unknown pusher: fail closed', () => {
    const resolved = resolveChange({
      environment: 'apps',
      head: README,
      applied: { environment: 'apps', sha: BASE, runId: 'r', sequence: 1, at: 'then' },
      history: {
        kind: 'range',
        commits: github.commits.slice(1),
        pullRequests: [{ number: 7, title: 'x', author: 'dan' }],
      },
      // Only Carol's push was received; the one that brought the backdoor was not.
      pushes: new Map([[README, { head: README, before: BACKDOOR, logins: ['carol'], emails: [], at: 'now' }]]),
      promoted: [],
    });
    expect(resolved.people.unknown).toMatch(/no record of who pushed 1 commit .*aaaaaaa/);
    expect(resolved.people.logins).toEqual(['carol', 'dan', 'mallory']);
  });

  it('a push record that names nobody usable covers nothing: the range stays unresolved', () => {
    const resolved = resolveChange({
      environment: 'apps',
      head: README,
      applied: { environment: 'apps', sha: BASE, runId: 'r', sequence: 1, at: 'then' },
      history: { kind: 'range', commits: github.commits.slice(1), pullRequests: [] },
      pushes: new Map([
        [README, { head: README, before: BACKDOOR, logins: ['carol'], emails: [], at: 'now' }],
        // The push that brought the backdoor named a pusher no login or address could be made of.
        [BACKDOOR, { head: BACKDOOR, before: BASE, logins: ['not a login!'], emails: [], at: 'now' }],
      ]),
      promoted: [],
    });
    expect(resolved.people.unknown).toMatch(/no record of who pushed 1 commit .*aaaaaaa/);
  });

  it('a replayed push of an older head starts nothing, whenever it arrives', async () => {
    await dynamo.stores.ledger.recordApplied(REPO, {
      environment: 'ops',
      sha: README,
      runId: 'run-x',
      sequence: 9,
      at: '2026-01-02T00:00:00.000Z',
    });
    const replayed = await deliver(push('mallory', BASE, BACKDOOR, 'Tune the network module'));
    expect(replayed.ignored).toMatch(/replay: aaaaaaa is older than what ops applied \(bbbbbbb/);
    const same = await deliver(push('carol', BACKDOOR, README, 'README: typo'));
    expect(same.ignored).toMatch(/replay: bbbbbbb is what ops applied/);
    expect(starter.started).toHaveLength(0);
    // GitHub unreachable: nothing starts, and the answer says why (a redelivery or the reconciler tries again).
    github.down = true;
    const answer = await webhook()(webhookRequest('push', push('mallory', sha('9'), sha('a', 5), 'x')));
    expect(answer.status).toBe(500);
    expect(starter.started).toHaveLength(0);
  });
});

describe('re-runs', () => {
  function rerun() {
    return createRerunHandler({
      intake: intake(),
      identify: async (request) => (request.identity ? `@${request.identity.login}` : undefined),
      rerunner: approversMayRerun(undefined),
      rollbacks: { change: change(), heads: github },
    });
  }

  async function finished(runId: string): Promise<void> {
    await dynamo.stores.runs.updateRun(runId, { status: 'succeeded' }, new Date());
  }

  it('an old commit is a rollback: refused without --rollback; with it, ops waits for an approval', async () => {
    const { malloryRun, carolRun } = await malloryThenCarol();
    await finished(malloryRun);
    await finished(carolRun);
    await dynamo.stores.ledger.recordApplied(REPO, {
      environment: 'ops',
      sha: README,
      runId: carolRun,
      sequence: 2,
      at: '2026-01-03T00:00:00.000Z',
    });
    const before = starter.started.length;
    const refused = await rerun()(request(bob, 'POST', `/runs/${malloryRun}/rerun`, '{}', true));
    expect(refused.status).toBe(409);
    expect(JSON.parse(refused.body).error).toMatch(/older than what ops applied .*--rollback --reason/);
    expect(starter.started.length).toBe(before);
    const noReason = await rerun()(request(bob, 'POST', `/runs/${malloryRun}/rerun`, '{"rollback":true}', true));
    expect(noReason.status).toBe(400);

    const asked = await rerun()(
      request(bob, 'POST', `/runs/${malloryRun}/rerun`, '{"rollback":true,"reason":"network outage"}', true),
    );
    expect(asked.status).toBe(202);
    const input = starter.started.at(-1)!.input;
    expect(input.environments.map((env) => [env.name, env.requiresApproval])).toEqual([
      ['ops', true],
      ['apps', true],
    ]);
    expect(input.environments[0]!.approvalTimeoutSeconds).toBe(3600);
    const rollbackRun = await dynamo.stores.runs.get(JSON.parse(asked.body).runId);
    expect(rollbackRun?.rollback).toEqual({ reason: 'network outage' });
    // Bob asked for it: he may not approve it; the ops page shows what it undoes.
    await dynamo.stores.runs.updateStage(rollbackRun!.id, 'ops', { status: 'planned' }, new Date());
    const approvalId = await askApproval(rollbackRun!.id, 'ops', 'token-rollback');
    const approval = await dynamo.stores.approvals.get(approvalId);
    expect(approval?.approvers).toContain('@bob');
    expect(approval?.change?.rerun?.rollback?.undoes.map((commit) => commit.sha)).toEqual([README]);
    const byBob = await decide(bob, approvalId);
    expect(byBob.status).toBe(403);
    expect(byBob.page).toContain('rollback-commits');
  });

  it('a re-run of the head carries the change’s people and who asked; a non-author approves it', async () => {
    const { malloryRun, carolRun } = await malloryThenCarol();
    await finished(malloryRun);
    await finished(carolRun);
    const asked = await rerun()(request(bob, 'POST', `/runs/${carolRun}/rerun`, '{}', true));
    expect(asked.status).toBe(202);
    const runId = JSON.parse(asked.body).runId as string;
    const rerunRecord = await dynamo.stores.runs.get(runId);
    expect(rerunRecord?.people?.logins).toEqual(expect.arrayContaining(['carol', 'bob']));
    const approvalId = await reachApps(runId);
    expect((await decide(bob, approvalId)).status).toBe(403);
    expect((await decide(mallory, approvalId)).status).toBe(403);
    const carolPage = await pages()(request(bob, 'GET', `/approvals/${approvalId}`));
    expect(carolPage.body).toContain('asked for this re-run');
    expect((await decide(bobByMail, approvalId)).status).toBe(403);
    const dana: SignedInPerson = { via: 'github', login: 'dana', emails: ['dana@example.com'], sessionId: 'd' };
    expect((await decide(dana, approvalId)).status).toBe(200);
    expect((await dynamo.stores.approvals.get(approvalId))?.status).toBe('approved');
  });
});

describe('the approval page of a two-commit range', () => {
  it('lists both commits above the plan view', () => {
    const { view } = resolveChange({
      environment: 'apps',
      head: README,
      applied: { environment: 'apps', sha: BASE, runId: 'r', sequence: 1, at: 'then' },
      history: { kind: 'range', commits: github.commits.slice(1), pullRequests: [] },
      pushes: new Map([
        [README, { head: README, before: BACKDOOR, logins: ['carol'], emails: [], at: 'now' }],
        [BACKDOOR, { head: BACKDOOR, before: BASE, logins: ['mallory'], emails: [], at: 'now' }],
      ]),
      promoted: [{ environment: 'ops', sha: README, runId: 'run-ops', sequence: 2, at: '2026-01-03T00:00:00Z' }],
    });
    const html = renderChange(view);
    expect(html.match(/<tr><td data-label="Commit"><code>/g)).toHaveLength(2);
    expect(html).toContain(
      '<td data-label="Author">@mallory</td><td data-label="Pushed by">@mallory</td>' +
        '<td data-label="Applied">ops at 2026-01-03T00:00:00Z</td>',
    );
    expect(html).toContain('2 commits since apps last applied');
  });

  it('shows the head as held by ops when this run found nothing to change there, once per environment', () => {
    const { view } = resolveChange({
      environment: 'apps',
      head: README,
      applied: { environment: 'apps', sha: BASE, runId: 'r', sequence: 1, at: 'then' },
      history: { kind: 'range', commits: github.commits.slice(1), pullRequests: [] },
      pushes: new Map(),
      promoted: [
        { environment: 'ops', sha: BACKDOOR, runId: 'run-m', sequence: 1, at: '2026-01-02T00:00:00Z' },
        { environment: 'ops', sha: README, runId: 'run-c', sequence: 2, at: '2026-01-03T00:00:00Z', unchanged: true },
      ],
    });
    const html = renderChange(view);
    expect(html).toMatch(
      new RegExp(
        `${README.slice(0, 12)}.*?<td data-label="Applied">ops at 2026-01-03T00:00:00Z \\(nothing to change\\)</td>`,
      ),
    );
    expect(html).toMatch(
      new RegExp(`${BACKDOOR.slice(0, 12)}.*?<td data-label="Applied">ops at 2026-01-02T00:00:00Z</td>`),
    );
  });
});

describe('attacks on the range', () => {
  it('a force-push back and forth does not launder who first pushed a commit (forged author)', async () => {
    // (BASE is all zeros, which a push's `after` means as a deleted branch.)
    const ROOT = sha('9');
    // Mallory writes her backdoor under Carol's address, so GitHub names Carol as its author.
    github = new FakeGitHub([
      aCommit(ROOT, undefined, 'Initial infrastructure', { email: 'erin@example.com', login: 'erin' }),
      aCommit(BACKDOOR, ROOT, 'Tune the network module', { email: 'carol@example.com', login: 'carol' }),
      aCommit(README, BACKDOOR, 'README: typo', { email: 'carol@example.com', login: 'carol' }),
    ]);
    await dynamo.stores.ledger.recordApplied(REPO, {
      environment: 'apps',
      sha: ROOT,
      runId: 'run-base',
      sequence: 0,
      at: '2026-01-01T00:00:00.000Z',
    });
    const pushed = await deliver(push('mallory', ROOT, BACKDOOR, 'Tune the network module'));
    // She force-pushes the branch back to ROOT (a replay of what apps holds: nothing starts) ...
    expect((await deliver(push('mallory', BACKDOOR, ROOT, 'Initial infrastructure'))).ignored).toMatch(/^replay/);
    // ... and Carol, who had fetched the backdoor, pushes her README on top of it: GitHub says "before: ROOT".
    const carol = await deliver(push('carol', ROOT, README, 'README: typo'));
    expect(carol.runId).toBeDefined();
    expect(pushed.runId).toBeDefined();
    const approvalId = await reachApps(carol.runId as string);
    const tried = await decide(mallory, approvalId);
    expect(tried.status).toBe(403);
    expect(tried.page).toMatch(/<strong>@mallory<\/strong>: pushed aaaaaaa/);
    expect((await decide(malloryByMail, approvalId)).status).toBe(403);
    expect((await decide(bob, approvalId)).status).toBe(200);
  });

  it('a forged commits list and pusher casing change nobody out of the change', async () => {
    await dynamo.stores.ledger.recordApplied(REPO, {
      environment: 'apps',
      sha: BASE,
      runId: 'run-base',
      sequence: 0,
      at: '2026-01-01T00:00:00.000Z',
    });
    await deliver({ ...push('MALLORY', BASE, BACKDOOR, 'Tune the network module'), commits: [] });
    // Carol's push claims, in its commits list and head commit, that Dana wrote everything.
    const dana = { name: 'dana', email: 'dana@example.com', username: 'dana' };
    const carol = await deliver({
      ...push('carol', BACKDOOR, README, 'README: typo'),
      commits: [{ author: dana, committer: dana }],
      head_commit: { message: 'README: typo', author: dana, committer: dana },
    });
    const approvalId = await reachApps(carol.runId as string);
    for (const who of [mallory, malloryByMail]) expect((await decide(who, approvalId)).status).toBe(403);
    const approval = await dynamo.stores.approvals.get(approvalId);
    expect(approval?.people?.logins).toEqual(expect.arrayContaining(['carol', 'mallory', 'dana']));
  });

  it('re-runs of a commit from another branch and of a superseded run start nothing without --rollback', async () => {
    const rerun = () =>
      createRerunHandler({
        intake: intake(),
        identify: async (request) => (request.identity ? `@${request.identity.login}` : undefined),
        rerunner: approversMayRerun(undefined),
        rollbacks: { change: change(), heads: github },
      });
    const { malloryRun, carolRun } = await malloryThenCarol();
    await dynamo.stores.runs.updateRun(malloryRun, { status: 'superseded' }, new Date());
    await dynamo.stores.runs.updateRun(carolRun, { status: 'succeeded' }, new Date());
    // A commit that only ever was on another branch: GitHub's push of it to main was force-pushed away since.
    const elsewhere = await deliver(push('carol', README, sha('d'), 'Experiment'));
    await dynamo.stores.runs.updateRun(elsewhere.runId as string, { status: 'failed' }, new Date());
    const started = starter.started.length;
    for (const [runId, why] of [
      [malloryRun, /is not the head of main/],
      [elsewhere.runId as string, /ddddddd is not the head of main/],
    ] as const) {
      const refused = await rerun()(request(bob, 'POST', `/runs/${runId}/rerun`, '{}', true));
      expect(refused.status, runId).toBe(409);
      expect(JSON.parse(refused.body).error).toMatch(why);
    }
    expect(starter.started.length).toBe(started);
    // As a rollback, the foreign commit's range is unresolved: nobody may approve it alone.
    const asked = await rerun()(
      request(bob, 'POST', `/runs/${elsewhere.runId}/rerun`, '{"rollback":true,"reason":"try it"}', true),
    );
    expect(asked.status).toBe(202);
    const approvalId = await reachApps(JSON.parse(asked.body).runId as string);
    const dana: SignedInPerson = { via: 'github', login: 'dana', emails: ['dana@example.com'], sessionId: 'd' };
    const tried = await decide(dana, approvalId);
    expect(tried.status).toBe(403);
    expect(tried.page).toContain('id="change-unresolved"');
  });
});
