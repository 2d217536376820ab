import { beforeEach, describe, expect, it } from 'vitest';
import { EnvironmentLocks } from '../../src/domain/locks.js';
import { lockKeyFor } from '../../src/adapters/dynamo/table-layout.js';
import type { HttpHandler, HttpResponse } from '../../src/http.js';
import { createWebhookHandler } from '../../lambdas/webhook/handler.js';
import { ALREADY_DEPLOYED, headClaimKey } from '../../src/application/intake.js';
import { useDynalite } from '../support/dynalite.js';
import { RecordingCallbacks, RecordingLogger, RecordingStarter } from './fakes.js';
import {
  example,
  newDeliveryId,
  ping,
  PREVIOUS_SECRET,
  pullRequest,
  pushToMaster,
  SECRET,
  signatureOf,
  tagPush,
  testConfig,
  webhookRequest,
} from './fixtures.js';

const REPOSITORY = 'Codertocat/Hello-World';
const MASTER_SHA = '6113728f27ae82c7b1a177c8d03f9e96e0adf246';

const dynamo = useDynalite();
let starter: RecordingStarter;
let logger: RecordingLogger;
let handle: HttpHandler;

function build(options: { secrets?: string[]; config?: ReturnType<typeof testConfig> } = {}): HttpHandler {
  const { runs, deliveries, sequences, locks } = dynamo.stores;
  return createWebhookHandler({
    config: options.config ?? testConfig(),
    secrets: options.secrets ?? [SECRET],
    stores: { runs, deliveries, sequences },
    locks: new EnvironmentLocks({ locks, runs, callbacks: new RecordingCallbacks() }),
    starter,
    logger,
  });
}

function body(response: HttpResponse): Record<string, unknown> {
  return JSON.parse(response.body) as Record<string, unknown>;
}

async function queued(environment: string): Promise<string[]> {
  return (await dynamo.stores.locks.listQueue(lockKeyFor(REPOSITORY, environment))).map((entry) => entry.runId);
}

beforeEach(async () => {
  starter = new RecordingStarter();
  logger = new RecordingLogger();
  handle = build();
});

describe('POST /webhook: one deploy run per commit', () => {
  it('starts exactly one run for the same signed push body delivered under five new delivery ids', async () => {
    const payload = JSON.stringify(pushToMaster());
    const answers = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const response = await handle(webhookRequest('push', JSON.parse(payload), { deliveryId: newDeliveryId() }));
        return { status: response.status, body: body(response) };
      }),
    );
    const started = answers.filter((answer) => !('ignored' in answer.body));
    expect(started).toHaveLength(1);
    expect(starter.started).toHaveLength(1);
    const runId = started[0]!.body.runId;
    for (const answer of answers.filter((a) => 'ignored' in a.body)) {
      expect(answer.status).toBe(202);
      expect(answer.body.ignored).toBe(ALREADY_DEPLOYED);
      // A twin arriving while the first is still being started may not learn its id yet.
      if (answer.body.runId !== undefined) expect(answer.body.runId).toBe(runId);
    }
    expect((await dynamo.stores.runs.list()).filter((run) => run.sha === MASTER_SHA)).toHaveLength(1);
    expect(await queued('ops')).toEqual([runId]);
    // Once started, a replay answers which run it was.
    const late = await handle(webhookRequest('push', JSON.parse(payload), { deliveryId: newDeliveryId() }));
    expect(body(late)).toEqual({ ignored: ALREADY_DEPLOYED, runId });
  });

  it('still plans every pull request update of the same commit, and a push of another commit runs', async () => {
    expect(body(await handle(webhookRequest('push', pushToMaster()))).runId).toBeDefined();
    expect(
      body(await handle(webhookRequest('push', Object.assign(pushToMaster(), { after: 'c'.repeat(40) })))).runId,
    ).toBeDefined();
    expect(starter.started).toHaveLength(2);
  });
});

describe('POST /webhook: events', () => {
  it('answers ping with 200 and the zen', async () => {
    const response = await handle(webhookRequest('ping', ping()));
    expect(response.status).toBe(200);
    expect(body(response)).toEqual({ ok: true, zen: 'Anything added dilutes everything else.' });
  });

  it('starts a deploy run for a push to the tracked branch', async () => {
    const deliveryId = newDeliveryId();
    const response = await handle(webhookRequest('push', pushToMaster(), { deliveryId }));

    expect(response.status).toBe(202);
    const { runId } = body(response) as { runId: string };
    expect(runId).toMatch(/^[0-9a-f-]{36}$/);

    const run = await dynamo.stores.runs.get(runId);
    expect(run).toMatchObject({
      id: runId,
      repository: REPOSITORY,
      sha: MASTER_SHA,
      ref: 'refs/heads/master',
      trigger: 'push',
      mode: 'deploy',
      status: 'running',
      sequence: 1,
      executionName: `gh-${deliveryId}`,
      deliveryId,
      pusher: '21031067+Codertocat@users.noreply.github.com',
      author: { name: 'Codertocat', email: '21031067+Codertocat@users.noreply.github.com', login: 'Codertocat' },
      message: 'Initial commit',
    });
    expect(run!.stages.map((stage) => [stage.environment, stage.status])).toEqual([
      ['ops', 'pending'],
      ['apps', 'pending'],
    ]);

    expect(starter.started).toEqual([
      {
        name: `gh-${deliveryId}`,
        input: {
          runId,
          mode: 'deploy',
          repository: REPOSITORY,
          sha: MASTER_SHA,
          sequence: 1,
          planBuild: 'plan',
          directory: 'infra',
          environments: [
            { name: 'ops', requiresApproval: false, approvalTimeoutSeconds: 0 },
            { name: 'apps', requiresApproval: true, approvalTimeoutSeconds: 7200 },
          ],
          environmentCount: 2,
          environmentNames: 'ops,apps',
          // Plans on Lambda compute stop at 15 minutes; each task waits for queue (30m) + build + 600 s.
          planTimeoutSeconds: 3300,
          applyTimeoutSeconds: 7800,
          lockWaitSeconds: 43200,
          builds: {
            plan: { timeoutMinutes: 15, queuedTimeoutMinutes: 30, taskTimeoutSeconds: 3300 },
            apply: { timeoutMinutes: 90, queuedTimeoutMinutes: 30, taskTimeoutSeconds: 7800 },
          },
        },
      },
    ]);
    expect(await queued('ops')).toEqual([runId]);
    expect(await queued('apps')).toEqual([runId]);
    expect(await dynamo.stores.deliveries.get(deliveryId)).toMatchObject({ deliveryId, runId });
  });

  it('numbers pushes in the order they arrive and queues them in that order', async () => {
    const first = body(await handle(webhookRequest('push', pushToMaster()))).runId as string;
    const second = body(await handle(webhookRequest('push', Object.assign(pushToMaster(), { after: 'b'.repeat(40) }))))
      .runId as string;
    expect((await dynamo.stores.runs.get(second))!.sequence).toBe(2);
    expect(await queued('ops')).toEqual([first, second]);
  });

  it('never hands a payload URL to the pipeline: the source is fetched from the configuration', async () => {
    const payload = pushToMaster();
    payload.repository.clone_url = 'https://evil.example/other.git';
    expect((await handle(webhookRequest('push', payload))).status).toBe(202);
    expect(JSON.stringify(starter.started[0]!.input)).not.toContain('evil.example');
  });

  it.each([
    [
      'a push to another branch',
      () => Object.assign(pushToMaster(), { ref: 'refs/heads/feature' }),
      'push to branch feature is not tracked (tracks master)',
    ],
    ['a tag push', tagPush, 'tag push'],
    [
      'a branch deletion',
      () => Object.assign(pushToMaster(), { deleted: true, created: false, after: '0'.repeat(40), head_commit: null }),
      'branch deleted',
    ],
  ])('ignores %s with the reason', async (_what, payload, reason) => {
    const response = await handle(webhookRequest('push', payload()));
    expect(response.status).toBe(202);
    expect(body(response)).toEqual({ ignored: reason });
    expect(starter.started).toEqual([]);
    expect(await dynamo.stores.runs.list()).toEqual([]);
  });

  it.each(['opened', 'synchronize', 'reopened'])(
    'starts a plan_only run for pull_request %s, without lock queue entries',
    async (action) => {
      const response = await handle(webhookRequest('pull_request', pullRequest(action)));
      expect(response.status).toBe(202);
      const { runId } = body(response) as { runId: string };
      expect(await dynamo.stores.runs.get(runId)).toMatchObject({
        mode: 'plan_only',
        trigger: 'pull_request',
        sha: 'ec26c3e57ca3a959ca5aad62de7213c562f8c821',
        ref: 'refs/pull/2/head',
        pullRequest: 2,
        pusher: 'Codertocat',
        status: 'running',
      });
      expect(starter.started.map((execution) => execution.input.mode)).toEqual(['plan_only']);
      expect(await queued('ops')).toEqual([]);
      expect(await queued('apps')).toEqual([]);
    },
  );

  it.each(['closed', 'labeled', 'review_requested', 'edited'])('ignores pull_request %s', async (action) => {
    const payload =
      action === 'edited' ? Object.assign(pullRequest('opened'), { action: 'edited' }) : pullRequest(action);
    const response = await handle(webhookRequest('pull_request', payload));
    expect(response.status).toBe(202);
    expect(body(response)).toEqual({ ignored: `pull_request action ${action} starts nothing` });
    expect(starter.started).toEqual([]);
  });

  it('ignores other events', async () => {
    const response = await handle(
      webhookRequest(
        'issues',
        example('issues', (p) => p.action === 'opened'),
      ),
    );
    expect(response.status).toBe(202);
    expect(body(response)).toEqual({ ignored: 'event issues starts nothing' });
  });

  it('ignores repositories that are not configured', async () => {
    handle = build({
      config: testConfig(`repositories:\n  - name: acme/infrastructure\n    environments: [{ name: ops }]\n`),
    });
    const response = await handle(webhookRequest('push', pushToMaster()));
    expect(response.status).toBe(202);
    expect(body(response)).toEqual({ ignored: 'repository not configured' });
    expect(starter.started).toEqual([]);
  });

  it('refuses a payload whose commit id is not a commit id', async () => {
    const response = await handle(webhookRequest('push', Object.assign(pushToMaster(), { after: 'main' })));
    expect(response.status).toBe(400);
    expect(body(response).error).toMatch(/after: must be a 40-character hexadecimal commit id/);
    expect(starter.started).toEqual([]);
  });

  it('accepts a form-encoded delivery', async () => {
    const form = Buffer.from(new URLSearchParams({ payload: JSON.stringify(pushToMaster()) }).toString());
    const response = await handle(
      webhookRequest('push', undefined, {
        body: form,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
    );
    expect(response.status).toBe(202);
    expect(starter.started).toHaveLength(1);
    expect(starter.started[0]!.input.sha).toBe(MASTER_SHA);
  });

  it('accepts application/json with a charset', async () => {
    const response = await handle(
      webhookRequest('ping', ping(), { headers: { 'content-type': 'application/json; charset=utf-8' } }),
    );
    expect(response.status).toBe(200);
  });
});

describe('POST /webhook: refusals', () => {
  it('refuses other methods with 405', async () => {
    const response = await handle({ ...webhookRequest('ping', ping()), method: 'GET' });
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('POST');
  });

  it('refuses a 26 MiB body with 413 before verifying anything', async () => {
    const huge = Buffer.alloc(26 * 1024 * 1024, 0x20);
    const response = await handle({
      method: 'POST',
      path: '/webhook',
      query: {},
      headers: { 'content-type': 'application/json' },
      body: huge,
    });
    expect(response.status).toBe(413);
  });

  it('accepts a body of exactly 25 MiB as far as the size goes', async () => {
    const payload = ping();
    const text = JSON.stringify(payload);
    const padded = Buffer.from(`${text.slice(0, -1)},"padding":"${'x'.repeat(25 * 1024 * 1024 - text.length - 13)}"}`);
    expect(padded.length).toBe(25 * 1024 * 1024);
    expect((await handle(webhookRequest('ping', undefined, { body: padded }))).status).toBe(200);
  });

  it('refuses an unknown content type with 415', async () => {
    const response = await handle(webhookRequest('ping', ping(), { headers: { 'content-type': 'text/plain' } }));
    expect(response.status).toBe(415);
    const missing = await handle(webhookRequest('ping', ping(), { headers: { 'content-type': undefined } }));
    expect(missing.status).toBe(415);
  });

  it.each([
    ['X-GitHub-Event', { 'x-github-event': undefined }],
    ['X-GitHub-Delivery', { 'x-github-delivery': undefined }],
    ['X-GitHub-Event', { 'x-github-event': 'push\nforged: line' }],
    ['X-GitHub-Delivery', { 'x-github-delivery': 'id with spaces' }],
  ])('refuses a missing or malformed %s header with 400', async (header, headers) => {
    const response = await handle(webhookRequest('push', pushToMaster(), { headers }));
    expect(response.status).toBe(400);
    expect(body(response).error).toContain(header);
    expect(starter.started).toEqual([]);
  });

  it('refuses a missing signature with 401', async () => {
    const response = await handle(
      webhookRequest('push', pushToMaster(), { headers: { 'x-hub-signature-256': undefined } }),
    );
    expect(response.status).toBe(401);
    expect(starter.started).toEqual([]);
  });

  it('refuses a signature made with another secret with 401', async () => {
    expect((await handle(webhookRequest('push', pushToMaster(), { secret: 'not-the-secret' }))).status).toBe(401);
    expect(starter.started).toEqual([]);
  });

  it('refuses a body changed after signing with 401', async () => {
    const request = webhookRequest('push', pushToMaster());
    const tampered = Buffer.from(request.body.toString('utf8').replace('refs/heads/master', 'refs/heads/mastex'));
    expect((await handle({ ...request, body: tampered })).status).toBe(401);
    expect(starter.started).toEqual([]);
  });

  it('refuses a legacy SHA-1 signature on its own with 401', async () => {
    const request = webhookRequest('push', pushToMaster(), { headers: { 'x-hub-signature-256': undefined } });
    const { createHmac } = await import('node:crypto');
    request.headers['x-hub-signature'] = `sha1=${createHmac('sha1', SECRET).update(request.body).digest('hex')}`;
    expect((await handle(request)).status).toBe(401);
    expect(starter.started).toEqual([]);
  });

  it('accepts the previous secret during rotation, and not after it is dropped', async () => {
    handle = build({ secrets: [SECRET, PREVIOUS_SECRET] });
    expect((await handle(webhookRequest('push', pushToMaster(), { secret: PREVIOUS_SECRET }))).status).toBe(202);
    handle = build({ secrets: [SECRET] });
    expect((await handle(webhookRequest('push', pushToMaster(), { secret: PREVIOUS_SECRET }))).status).toBe(401);
  });

  it('refuses a signed body that is not JSON with 400', async () => {
    const response = await handle(webhookRequest('push', undefined, { body: Buffer.from('<xml>not json</xml>') }));
    expect(response.status).toBe(400);
    expect(body(response).error).toMatch(/not valid JSON/);
  });

  it('refuses an empty body with 400', async () => {
    const empty = Buffer.alloc(0);
    const response = await handle(
      webhookRequest('push', undefined, { body: empty, headers: { 'x-hub-signature-256': signatureOf(empty) } }),
    );
    expect(response.status).toBe(400);
  });

  it('refuses a form body without a payload field with 400', async () => {
    const response = await handle(
      webhookRequest('push', undefined, {
        body: Buffer.from('data=1'),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
    );
    expect(response.status).toBe(400);
  });
});

describe('POST /webhook: deliveries', () => {
  it('never starts a second run for a repeated delivery', async () => {
    const deliveryId = newDeliveryId();
    const first = await handle(webhookRequest('push', pushToMaster(), { deliveryId }));
    const { runId } = body(first);
    const again = await handle(webhookRequest('push', pushToMaster(), { deliveryId }));
    expect(again.status).toBe(202);
    expect(body(again)).toEqual({ ignored: 'duplicate delivery', runId });
    expect(starter.started).toHaveLength(1);
    expect(await dynamo.stores.runs.list()).toHaveLength(1);
  });

  it('starts exactly one run for 20 concurrent copies of one delivery', async () => {
    const deliveryId = newDeliveryId();
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => handle(webhookRequest('push', pushToMaster(), { deliveryId }))),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(20).fill(202));
    const started = responses.map(body).filter((answer) => answer.ignored === undefined);
    expect(started).toHaveLength(1);
    expect(responses.map(body).filter((answer) => answer.ignored === 'duplicate delivery')).toHaveLength(19);
    expect(starter.started).toHaveLength(1);
    expect(await dynamo.stores.runs.list()).toHaveLength(1);
    expect(await queued('ops')).toEqual([started[0]!.runId]);
  });

  it('marks the run failed, frees its queue entries and releases the delivery when starting fails', async () => {
    const deliveryId = newDeliveryId();
    starter.failure = new Error('Step Functions is unavailable');
    const response = await handle(webhookRequest('push', pushToMaster(), { deliveryId }));

    expect(response.status).toBe(500);
    const { runId } = body(response) as { runId: string };
    const run = await dynamo.stores.runs.get(runId);
    expect(run?.status).toBe('failed');
    expect(run?.error).toContain('Step Functions is unavailable');
    expect(await queued('ops')).toEqual([]);
    expect(await queued('apps')).toEqual([]);
    expect(await dynamo.stores.deliveries.get(deliveryId)).toBeUndefined();

    // GitHub's "Redeliver" now gets a run.
    starter.failure = undefined;
    const retry = await handle(webhookRequest('push', pushToMaster(), { deliveryId }));
    expect(retry.status).toBe(202);
    expect(body(retry).runId).not.toBe(runId);
    expect(starter.started).toHaveLength(1);
  });

  it('starts no twin when the execution name is already taken, even if the delivery record is gone', async () => {
    const deliveryId = newDeliveryId();
    const first = body(await handle(webhookRequest('push', pushToMaster(), { deliveryId }))).runId as string;
    await dynamo.stores.deliveries.release(deliveryId);
    // The commit's own claim gone too: only the execution name is left to refuse the twin.
    await dynamo.stores.deliveries.release(headClaimKey(REPOSITORY, 'refs/heads/master', MASTER_SHA));

    const again = await handle(webhookRequest('push', pushToMaster(), { deliveryId }));
    expect(again.status).toBe(202);
    expect(body(again)).toEqual({ ignored: 'duplicate delivery' });
    expect(starter.started).toHaveLength(1);
    expect(starter.refused).toEqual([`gh-${deliveryId}`]);
    const twin = (await dynamo.stores.runs.list()).find((run) => run.id !== first);
    expect(twin?.status).toBe('failed');
    expect(await queued('ops')).toEqual([first]);
  });

  it('derives a valid execution name from any delivery id', async () => {
    const deliveryId = `ghe:delivery/${'x'.repeat(150)}`;
    expect((await handle(webhookRequest('push', pushToMaster(), { deliveryId }))).status).toBe(202);
    expect(starter.started[0]!.name).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
  });
});

describe('POST /webhook: logging', () => {
  it('logs delivery, event, repository and decision, never the secret, the signature or the payload', async () => {
    const marker = 'payload-marker-5e1f9a';
    const push = pushToMaster();
    push.head_commit.message = marker;
    push.pusher.name = marker;
    const deliveryId = newDeliveryId();
    const requests = [
      webhookRequest('push', push, { deliveryId }),
      webhookRequest('push', push, { deliveryId }),
      webhookRequest('push', Object.assign(structuredClone(push), { ref: 'refs/heads/other' })),
      webhookRequest('push', push, { secret: 'wrong-secret' }),
      webhookRequest('push', Object.assign(structuredClone(push), { after: marker })),
      webhookRequest('push', undefined, { body: Buffer.from(`{"broken": "${marker}"`) }),
      webhookRequest('issues', { marker }),
    ];
    const signatures = requests.map((request) => request.headers['x-hub-signature-256']!);
    for (const request of requests) await handle(request);
    starter.failure = new Error('boom');
    await handle(webhookRequest('push', push));

    const logged = logger.text();
    expect(logged).toContain(deliveryId);
    expect(logged).toContain(REPOSITORY);
    expect(logged).toContain('"decision":"run"');
    expect(logged).toContain('"decision":"ignored"');
    expect(logged).not.toContain(SECRET);
    expect(logged).not.toContain(marker);
    for (const signature of signatures) {
      expect(logged).not.toContain(signature);
      expect(logged).not.toContain(signature.slice('sha256='.length));
    }
  });
});
