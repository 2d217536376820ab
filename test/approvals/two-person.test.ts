import { beforeEach, describe, expect, it } from 'vitest';
import { bindPeople, type SignedInPerson } from '../../src/auth/person.js';
import { parseConfig } from '../../src/config/load.js';
import type { ArtifactStore, Notifier, TaskCallbacks } from '../../src/domain/ports.js';
import type { ChangePeople } from '../../src/domain/run.js';
import type { HttpRequest } from '../../src/http.js';
import { publicRun } from '../../src/web/public-run.js';
import { createApprovalRequester } from '../../lambdas/approval-request/handler.js';
import { createApprovalsHandler } from '../../lambdas/web/handler.js';
import { aPlanSummary, aRun, aStage } from '../support/builders.js';
import { MemoryApprovalStore, MemoryRunStore } from '../support/memory-stores.js';

/**
 * The two-person rule through the approvals handler the local server and the AWS function both run
 * (identity as the sign-in gate sets it): N distinct approvers, none of them the change's people; the same
 * person twice counts once, however they signed in; the Nth approval resumes the run with the saved plan's
 * sha256; a reject by any approver rejects; unknown people need `required: 2`.
 */

const PLAN_SHA = 'c'.repeat(64);
const SESSION_KEY = 'k'.repeat(32);

function config(required: number, approvers = '[alice@example.com, "@bob", carol@example.com, dave@example.com]') {
  return parseConfig(
    [
      'repositories:',
      '  - name: acme/infrastructure',
      '    environments:',
      '      - name: apps',
      '        approval:',
      `          approvers: ${approvers}`,
      `          required: ${required}`,
      '',
    ].join('\n'),
  );
}

const alice: SignedInPerson = { via: 'github', login: 'alice', emails: ['alice@example.com'], sessionId: 'alice-gh' };
/** Alice again, by an emailed link this time: the same person (people: binds the address to @alice). */
const aliceByMail: SignedInPerson = { via: 'email', emails: ['alice@example.com'], sessionId: 'alice-mail' };
const bob: SignedInPerson = { via: 'github', login: 'bob', emails: ['bob@corp.example'], sessionId: 'bob-gh' };
const carol: SignedInPerson = { via: 'email', emails: ['carol@example.com'], sessionId: 'carol-mail' };
const dave: SignedInPerson = { via: 'email', emails: ['dave@example.com'], sessionId: 'dave-mail' };

let runs: MemoryRunStore;
let approvals: MemoryApprovalStore;
let successes: unknown[];
let failures: Array<{ error: string; cause: string }>;

const artifacts: ArtifactStore = { put: async () => undefined, get: async () => undefined };
const callbacks: TaskCallbacks = {
  sendTaskSuccess: async (_token, output) => {
    successes.push(output);
    return { delivered: true };
  },
  sendTaskFailure: async (_token, error, cause) => {
    failures.push({ error, cause });
    return { delivered: true };
  },
};
const notifier: Notifier = { approvalRequested: async () => undefined, runNotice: async () => undefined };

beforeEach(() => {
  runs = new MemoryRunStore();
  approvals = new MemoryApprovalStore();
  successes = [];
  failures = [];
});

/** A run of Dave's change waiting in apps, and its approval asked for as the state machine asks. */
async function waitingRun(required: number, people?: ChangePeople): Promise<string> {
  await runs.create(
    aRun({
      id: 'run-2p',
      status: 'running',
      people,
      stages: [aStage('apps', { status: 'planned', plan: aPlanSummary({ sha256: PLAN_SHA }) })],
    }),
  );
  const ask = createApprovalRequester({
    config: config(required),
    runs,
    approvals,
    artifacts,
    notifier,
    publicUrl: '',
  });
  const { approvalId } = await ask({
    action: 'requestApproval',
    runId: 'run-2p',
    repository: 'acme/infrastructure',
    environment: 'apps',
    taskToken: 'token-2p',
    planSha256: PLAN_SHA,
    timeoutSeconds: 3600,
  });
  return approvalId;
}

/** `people:` ties each address to a login, so an emailed sign-in is compared as the person it is. */
const people = bindPeople(
  ['alice', 'carol', 'dave', 'mallory'].map((name) => ({ github: name, emails: [`${name}@example.com`] })),
);

const handler = () =>
  createApprovalsHandler({
    runs,
    approvals,
    artifacts,
    callbacks,
    sessionKey: SESSION_KEY,
    people,
    log: () => undefined,
  });

function request(person: SignedInPerson, method: string, path: string, body = '', json = false): HttpRequest {
  return {
    method,
    path,
    query: {},
    headers: {
      ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      ...(json ? { accept: 'application/json' } : {}),
    },
    body: Buffer.from(body),
    identity: person,
  };
}

/** Opens the page as `person` and posts its form: what a person does in the browser. */
async function decide(person: SignedInPerson, approvalId: string, decision: 'approve' | 'reject') {
  const page = await handler()(request(person, 'GET', `/approvals/${approvalId}`));
  const token = /name="form_token" value="([^"]+)"/.exec(page.body)?.[1];
  if (!token) {
    const why = /class="notice[^"]*">([^<]*)/.exec(page.body)?.[1] ?? '';
    return { status: 403, body: why, page: page.body };
  }
  const answer = await handler()(
    request(
      person,
      'POST',
      `/approvals/${approvalId}`,
      new URLSearchParams({ decision, form_token: token }).toString(),
    ),
  );
  return { status: answer.status, body: answer.body, page: page.body };
}

async function appsStage() {
  const run = await runs.get('run-2p');
  return publicRun(run!).stages as Array<Record<string, unknown>>;
}

describe('required: 2', () => {
  it('one approval leaves the run waiting (1 of 2); the same person twice counts once; a second applies', async () => {
    const approvalId = await waitingRun(2, { logins: ['mallory'], emails: ['mallory@example.com'] });

    const first = await decide(alice, approvalId, 'approve');
    expect(first.status).toBe(200);
    expect(first.body).toContain('Approved: 1 of 2');
    expect(first.body).toMatch(/waits for 1 more distinct approver before apps is applied/);
    expect(successes).toEqual([]);
    expect((await approvals.get(approvalId))?.status).toBe('pending');
    const [stage] = await appsStage();
    expect(stage).toMatchObject({
      status: 'awaiting_approval',
      approval: { id: approvalId, status: 'pending', required: 2, approvals: [{ by: '@alice' }] },
    });
    expect((await runs.get('run-2p'))?.status).toBe('awaiting_approval');

    // The page and its JSON show who approved so far.
    const page = await handler()(request(bob, 'GET', `/approvals/${approvalId}`));
    expect(page.body).toContain('<span id="approval-count">1 of 2</span>');
    expect(page.body).toMatch(/<ul id="approved-by"><li>@alice <small>/);
    const json = JSON.parse((await handler()(request(bob, 'GET', `/approvals/${approvalId}`, '', true))).body);
    expect(json).toMatchObject({ status: 'pending', required: 2, approvals: [{ by: '@alice' }], canDecide: true });

    // Alice again, by GitHub and then by an emailed link: the same person, a clear page, still 1 of 2.
    for (const again of [alice, aliceByMail]) {
      const twice = await decide(again, approvalId, 'approve');
      expect(twice.status).toBe(200);
      expect(twice.body).toContain('Already approved by you');
      expect(twice.body).toContain('1 of 2 approvals so far');
    }
    expect((await approvals.get(approvalId))?.approvals).toHaveLength(1);
    expect(successes).toEqual([]);
    const mine = JSON.parse((await handler()(request(aliceByMail, 'GET', `/approvals/${approvalId}`, '', true))).body);
    expect(mine).toMatchObject({ approvedByYou: true });

    // A second person: approved, and the run resumes with the exact saved plan.
    const second = await decide(bob, approvalId, 'approve');
    expect(second.status).toBe(200);
    expect(second.body).toContain('Approved by @alice and @bob');
    expect(successes).toEqual([{ approvalId, approvedBy: '@alice and @bob', planSha256: PLAN_SHA }]);
    const [applied] = await appsStage();
    expect(applied).toMatchObject({
      status: 'applying',
      approval: { status: 'approved', by: '@bob', required: 2, approvals: [{ by: '@alice' }, { by: '@bob' }] },
    });
    // A third approver finds it decided.
    const late = await decide(carol, approvalId, 'approve');
    expect(late.status).toBe(403);
    expect(late.body).toContain('already approved by @alice and @bob');
  });

  it('a reject by any allowed approver rejects, even after an approval', async () => {
    const approvalId = await waitingRun(2, { logins: [], emails: ['mallory@example.com'] });
    expect((await decide(alice, approvalId, 'approve')).status).toBe(200);
    const rejected = await decide(carol, approvalId, 'reject');
    expect(rejected.status).toBe(200);
    expect(failures).toEqual([{ error: 'tfgate.Rejected', cause: 'by @carol' }]);
    expect(successes).toEqual([]);
    const [stage] = await appsStage();
    expect(stage).toMatchObject({
      status: 'rejected',
      approval: { status: 'rejected', approvals: [{ by: '@alice' }] },
    });
  });

  it("none of the change's people may be one of the approvers", async () => {
    const approvalId = await waitingRun(2, { logins: ['bob'], emails: ['dave@example.com'] });
    for (const person of [bob, dave]) {
      const refused = await decide(person, approvalId, 'approve');
      expect(refused.status).toBe(403);
      expect(refused.body).toMatch(/You pushed or wrote this change/);
    }
    expect((await approvals.get(approvalId))?.approvals).toEqual([]);
  });

  it('of approvers deciding at the same moment exactly two count, and the run resumes once', async () => {
    const approvalId = await waitingRun(2, { logins: [], emails: [] });
    const pages = await Promise.all(
      [alice, bob, carol, dave].map((person) => handler()(request(person, 'GET', `/approvals/${approvalId}`))),
    );
    const answers = await Promise.all(
      [alice, bob, carol, dave].map((person, index) => {
        const token = /name="form_token" value="([^"]+)"/.exec(pages[index]!.body)![1]!;
        return handler()(
          request(
            person,
            'POST',
            `/approvals/${approvalId}`,
            `decision=approve&form_token=${encodeURIComponent(token)}`,
          ),
        );
      }),
    );
    expect(successes).toHaveLength(1);
    expect((await approvals.get(approvalId))?.approvals).toHaveLength(2);
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(2);
    expect(answers.filter((answer) => answer.status === 409)).toHaveLength(2);
  });
});

describe('unknown people (fail closed)', () => {
  const unknown: ChangePeople = {
    logins: ['mallory'],
    emails: [],
    unknown: 'the range since apps last applied is unknown',
  };

  it('with required 1 nobody may approve, and the page names required: 2 as the way through', async () => {
    const approvalId = await waitingRun(1, unknown);
    const refused = await decide(alice, approvalId, 'approve');
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('the range since apps last applied is unknown');
    expect(refused.body).toContain('approval.required: 2');
    expect(successes).toEqual([]);
  });

  it('with required 2 two distinct listed approvers may approve; a known person of the change may not', async () => {
    const approvalId = await waitingRun(2, unknown);
    const mallory: SignedInPerson = { via: 'github', login: 'mallory', emails: [], sessionId: 'm' };
    expect((await decide(mallory, approvalId, 'approve')).status).toBe(403);
    expect((await decide(alice, approvalId, 'approve')).body).toContain('1 of 2');
    expect((await decide(aliceByMail, approvalId, 'approve')).body).toContain('Already approved by you');
    expect(successes).toEqual([]);
    expect((await decide(bob, approvalId, 'approve')).status).toBe(200);
    expect(successes).toHaveLength(1);
  });

  it('a change nobody resolved at all (no people recorded) is treated the same way', async () => {
    const single = await waitingRun(1, undefined);
    expect((await decide(alice, single, 'approve')).body).toContain('approval.required: 2');
  });
});
