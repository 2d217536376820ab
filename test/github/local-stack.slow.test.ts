import { createHmac, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FEEDBACK_FAILED_NOTE } from '../../src/domain/feedback.js';
import type { Notifier } from '../../src/domain/ports.js';
import { GITHUB_COMMENT_LIMIT, PLAN_COMMENT_MARKER } from '../../src/domain/pr-comment.js';
import type { Run } from '../../src/domain/run.js';
import { lockKeyFor } from '../../src/adapters/dynamo/table-layout.js';
import { GITHUB_FEEDBACK_OFF } from '../../src/adapters/github/index.js';
import { bareRepositoryPath, commitAndPush } from '../../src/local-mode/git-repos.js';
import type { LocalStack } from '../../src/local-mode/runtime.js';
import {
  pushChange,
  runForSha,
  startTestStack,
  statePath,
  terraformFiles,
  until,
  waitForRun,
  type TestStack,
} from '../support/local-stack.js';
import { startFakeGitHub, type FakeGitHub } from './fake-github.js';
import { aRun, aStage } from '../support/builders.js';

const REPO = 'acme/infrastructure';
const DRIFTY = 'acme/drifty';
const FAST_RETRY = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 };

function repositoryYaml(dataDir: string, name: string, environments: string[], extra: string[] = []): string[] {
  return [
    `  - name: ${name}`,
    '    branch: main',
    `    cloneUrl: ${JSON.stringify(bareRepositoryPath(dataDir, name))}`,
    '    environments:',
    ...environments.map((env) => `      - name: ${env}`),
    ...extra,
  ];
}

async function sendPullRequest(
  stack: LocalStack,
  number: number,
  sha: string,
  action: 'opened' | 'synchronize',
): Promise<string> {
  const body = JSON.stringify({
    action,
    number,
    pull_request: { head: { sha, repo: { full_name: REPO } } },
    sender: { login: 'alice' },
    repository: { full_name: REPO, clone_url: 'https://github.com/acme/infrastructure.git' },
  });
  const signature = `sha256=${createHmac('sha256', stack.webhookSecret).update(body).digest('hex')}`;
  const response = await fetch(stack.webhookUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'pull_request',
      'x-github-delivery': randomUUID(),
      'x-hub-signature-256': signature,
    },
    body,
  });
  const answer = (await response.json()) as { runId?: string };
  expect(response.status).toBe(202);
  return answer.runId!;
}

async function pushToFeature(stack: LocalStack, files: Record<string, string>, message: string): Promise<string> {
  const remote = stack.remotes.find((r) => r.repository === REPO)!.remote;
  return commitAndPush(remote, { files, message, branch: 'feature', quiet: true });
}

async function finished(stack: TestStack, runId: string): Promise<Run> {
  await waitForRun(stack, runId);
  await stack.feedback.drain();
  return (await stack.runs.get(runId))!;
}

describe('GitHub feedback through github.apiUrl (fake GitHub Enterprise)', () => {
  let fake: FakeGitHub;
  let stack: TestStack;
  const notices: Array<{ run: Run; message: string; runUrl: string }> = [];
  const recorder: Notifier = {
    approvalRequested: async () => undefined,
    runNotice: async (run, message, runUrl) => void notices.push({ run, message, runUrl }),
  };

  beforeAll(async () => {
    fake = await startFakeGitHub();
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-github-'));
    const config = [
      'repositories:',
      ...repositoryYaml(dataDir, REPO, ['ops', 'apps']),
      ...repositoryYaml(dataDir, DRIFTY, ['ops'], ['    drift:', '      schedule: rate(6 hours)']),
      'github:',
      `  apiUrl: ${fake.apiUrl}`,
    ].join('\n');
    stack = await startTestStack({
      dataDir,
      config,
      github: { credentials: { kind: 'token', token: 'test-token' }, retry: FAST_RETRY },
      driftIntervalMs: 300,
      notifiers: [recorder],
    });
  });

  afterAll(async () => {
    await stack?.cleanup();
    await fake?.close();
  });

  it(
    'a push run: pending statuses per environment while it works, success with the plan summary at ' +
      'the end, linked to the run page',
    async () => {
      expect(stack.githubFeedback).toBe(true);
      const sha = await pushChange(stack, terraformFiles({ network: 'n', cluster: 'c1' }), { repository: REPO });
      const run = await finished(stack, (await runForSha(stack, sha)).id);
      expect(run.status).toBe('succeeded');

      const statuses = fake.statusesFor(sha);
      const runUrl = `${stack.url}/runs/${run.id}`;
      expect(statuses.every((s) => s.target_url === runUrl)).toBe(true);
      const of = (context: string) =>
        statuses.filter((s) => s.context === context).map((s) => `${s.state}: ${s.description}`);
      const lifecycle = (env: string) => [
        'pending: queued',
        `pending: waiting for the ${env} lock`,
        'pending: planning',
        'pending: +2 ~0 -0: planned',
        'pending: +2 ~0 -0: applying',
        'success: applied +2 ~0 -0',
      ];
      expect(of('tfgate/ops')).toEqual(lifecycle('ops'));
      expect(of('tfgate/apps')).toEqual(lifecycle('apps'));
      // Order across environments: both queued at the start, ops done before apps begins, apps last.
      const order = statuses.map((s) => `${s.context} ${s.state}: ${s.description}`);
      expect(order.slice(0, 2)).toEqual(['tfgate/ops pending: queued', 'tfgate/apps pending: queued']);
      expect(order.indexOf('tfgate/ops success: applied +2 ~0 -0')).toBeLessThan(
        order.indexOf('tfgate/apps pending: waiting for the apps lock'),
      );
      expect(order.at(-1)).toBe('tfgate/apps success: applied +2 ~0 -0');
      expect(
        fake.calls
          .filter((c) => c.path.includes(`/statuses/${sha}`))
          .every((c) => c.authorization === 'token test-token'),
      ).toBe(true);
    },
  );

  it('a pull request run: plan-only statuses and one plan comment, edited in place for the next commit', async () => {
    const first = await pushToFeature(stack, terraformFiles({ network: 'n', cluster: 'c2' }), 'change the cluster');
    const firstRun = await finished(stack, await sendPullRequest(stack, 7, first, 'opened'));
    expect(firstRun.status).toBe('succeeded');
    expect(
      fake
        .statusesFor(first)
        .filter((s) => s.context === 'tfgate/ops')
        .map((s) => `${s.state}: ${s.description}`),
    ).toEqual(['pending: queued', 'pending: planning', 'success: plan: +0 ~1 -0 (not applied)']);
    const comments = fake.comments.get(7)!;
    expect(comments).toHaveLength(1);
    const commentId = comments[0]!.id;
    expect(comments[0]!.body.startsWith(PLAN_COMMENT_MARKER)).toBe(true);
    expect(comments[0]!.body).toContain(`tfgate plan for \`${first.slice(0, 12)}\``);
    expect(comments[0]!.body).toContain('#### ops: `+0 ~1 -0`');
    expect(comments[0]!.body).toContain('<details><summary>Plan for apps</summary>');
    expect(comments[0]!.body).toMatch(/```diff\n[\s\S]*c2-ops/);

    const second = await pushToFeature(
      stack,
      terraformFiles({ network: 'n', cluster: 'c3', ingress: 'i' }),
      'add an ingress',
    );
    const secondRun = await finished(stack, await sendPullRequest(stack, 7, second, 'synchronize'));
    expect(secondRun.status).toBe('succeeded');
    const after = fake.comments.get(7)!;
    expect(after).toHaveLength(1);
    expect(after[0]!.id).toBe(commentId);
    expect(after[0]!.body).toContain(`tfgate plan for \`${second.slice(0, 12)}\``);
    expect(after[0]!.body).toContain('#### ops: `+1 ~1 -0`');
    expect(after[0]!.body).not.toContain(first.slice(0, 12));
    const commentWrites = fake.calls
      .filter((c) => c.path.includes('/issues/') && c.method !== 'GET')
      .map((c) => `${c.method} ${c.path}`);
    expect(commentWrites.filter((w) => w.startsWith('POST'))).toEqual([
      'POST /repos/acme/infrastructure/issues/7/comments',
    ]);
    expect(
      commentWrites
        .filter((w) => w.startsWith('PATCH'))
        .every((w) => w === `PATCH /repos/acme/infrastructure/issues/comments/${commentId}`),
    ).toBe(true);
  });

  it(
    "a plan of 300,000 characters is cut at a line below GitHub's limit, with a note and a link to " + 'the full plan',
    async () => {
      const resources = Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`r${i}`, `${'v'.repeat(480)}${i}`]));
      const sha = await pushToFeature(stack, terraformFiles(resources), 'a very large change');
      const run = await finished(stack, await sendPullRequest(stack, 7, sha, 'synchronize'));
      expect(run.status).toBe('succeeded');
      const planText = await stack.runs
        .get(run.id)
        .then(() => import('node:fs/promises'))
        .then((fs) =>
          fs.readFile(path.join(stack.dataDir, 'artifacts', 'runs', run.id, 'ops', 'pr-plan', 'plan.txt'), 'utf8'),
        );
      expect(planText.length).toBeGreaterThan(300_000);
      const body = fake.comments.get(7)![0]!.body;
      expect(body.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
      expect(body).toContain(`tfgate plan for \`${sha.slice(0, 12)}\``);
      expect(body).toContain(
        `lines to fit GitHub's comment limit: [see the full plan on the run page](${stack.url}/runs/${run.id})`,
      );
    },
  );

  it(
    'GitHub answering 500, then 403 rate-limited, to every call: the runs still complete and say ' +
      'feedback failed, once',
    async () => {
      for (const failure of [
        { status: 500, message: 'Internal Server Error' },
        {
          status: 403,
          message: 'API rate limit exceeded',
          headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600) },
        },
      ]) {
        fake.failWith = failure;
        try {
          const before = fake.calls.length;
          const sha = await pushChange(stack, terraformFiles({ network: 'n', cluster: `c-${failure.status}` }), {
            repository: REPO,
          });
          const run = await finished(stack, (await runForSha(stack, sha)).id);
          expect(run.status).toBe('succeeded');
          expect(run.stages.map((s) => s.status)).toEqual(['applied', 'applied']);
          const notes = (run.notes ?? []).filter((note) => note.startsWith(FEEDBACK_FAILED_NOTE));
          expect(notes).toHaveLength(1);
          expect(notes[0]).toContain(String(failure.status));
          // Each status was tried three times before giving up.
          const attempts = fake.calls
            .slice(before)
            .filter(
              (c) =>
                c.path.endsWith(`/statuses/${sha}`) &&
                c.body?.context === 'tfgate/ops' &&
                c.body?.description === 'queued',
            );
          expect(attempts).toHaveLength(3);
        } finally {
          fake.failWith = undefined;
        }
      }
    },
  );

  it(
    'drift: the schedule plans the branch head, finds the state differs from the code, and ' +
      'notifies with the run link',
    async () => {
      const remote = stack.remotes.find((r) => r.repository === DRIFTY)!.remote;
      const sha = await commitAndPush(remote, {
        files: terraformFiles({ bucket: 'b' }),
        message: 'a bucket',
        branch: 'main',
      });
      const deploy = await finished(stack, (await runForSha(stack, sha)).id);
      expect(deploy.status).toBe('succeeded');
      const statusesBefore = fake.statusesFor(sha).length;

      // Someone removed what tfgate applied: the state no longer matches the code.
      await rm(statePath(stack, 'ops', DRIFTY), { force: true });
      fake.branches.set(`${DRIFTY}/main`, sha);

      const notice = await until('a drift notice', () => notices.find((n) => n.run.repository === DRIFTY));
      const drift = (await stack.runs.get(notice.run.id))!;
      expect(drift).toMatchObject({ trigger: 'drift', mode: 'plan_only', sha, status: 'succeeded' });
      expect(drift.stages[0]!.status).toBe('planned');
      expect(drift.stages[0]!.plan?.hasChanges).toBe(true);
      expect(notice.message).toBe(
        `Drift in ${DRIFTY} (main at ${sha.slice(0, 8)}): the infrastructure differs from the code in ops (ops +1 ` +
          `~0 -0).`,
      );
      expect(notice.runUrl).toBe(`${stack.url}/runs/${drift.id}`);
      // Nothing was applied, and the deploy run's statuses on that commit were left alone.
      const state = await import('node:fs').then((fs) => fs.existsSync(statePath(stack, 'ops', DRIFTY)));
      expect(state).toBe(false);
      await stack.feedback.drain();
      expect(fake.statusesFor(sha)).toHaveLength(statusesBefore);
    },
  );
});

describe('the reconciler in tfgate local without GitHub credentials', () => {
  let stack: TestStack;

  beforeAll(async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-reconcile-'));
    stack = await startTestStack({
      dataDir,
      config: ['repositories:', ...repositoryYaml(dataDir, REPO, ['ops', 'apps'])].join('\n'),
      github: { credentials: null },
      reconcileIntervalMs: 250,
      // A missed head is first left to its delivery for a second, then run.
      headGraceSeconds: 1,
    });
  });

  afterAll(async () => {
    await stack?.cleanup();
  });

  it('says once, at start, that GitHub feedback is off', () => {
    expect(stack.githubFeedback).toBe(false);
    expect(stack.lines.filter((line) => line === GITHUB_FEEDBACK_OFF)).toHaveLength(1);
  });

  it('runs a push whose webhook never arrived', async () => {
    const first = await pushChange(stack, terraformFiles({ network: 'n' }), { repository: REPO });
    expect((await waitForRun(stack, (await runForSha(stack, first)).id)).status).toBe('succeeded');

    const missed = await pushChange(stack, terraformFiles({ network: 'n', cluster: 'c' }), {
      repository: REPO,
      quiet: true,
    });
    const caughtUp = await waitForRun(stack, (await runForSha(stack, missed)).id);
    expect(caughtUp).toMatchObject({
      trigger: 'reconcile',
      mode: 'deploy',
      ref: 'refs/heads/main',
      status: 'succeeded',
    });
    expect(caughtUp.stages.map((s) => s.status)).toEqual(['applied', 'applied']);
    expect(stack.lines.some((line) => line.includes(`was pushed without a webhook; started run ${caughtUp.id}`))).toBe(
      true,
    );
    // Later passes see the head has its run: no twin. Two passes run here rather than waiting for the schedule's.
    await stack.reconciler.reconcile();
    await stack.reconciler.reconcile();
    expect((await stack.runs.list({ limit: 50 })).filter((run) => run.sha === missed)).toHaveLength(1);
  });

  it('frees a lock whose holder execution is not running and marks that run interrupted', async () => {
    const head = (await stack.runs.list({ limit: 1 }))[0]!.sha;
    const sequence = await stack.stores.sequences.next(REPO);
    const at = new Date(Date.now() - 10 * 60_000).toISOString();
    const dead: Run = aRun({
      id: `dead-${randomUUID()}`,
      repository: REPO,
      sha: head,
      createdAt: at,
      sequence,
      executionName: 'gh-crashed-long-ago',
      stages: [
        aStage('ops', { status: 'planning', transitions: [{ status: 'planning', at }] }),
        aStage('apps', { transitions: [{ status: 'pending', at }] }),
      ],
    });
    const lockKey = lockKeyFor(REPO, 'ops');
    // What a lost execution-ended event leaves behind: a running run holding a lock, its execution gone.
    await stack.stores.runs.create(dead);
    await stack.stores.locks.enqueue(lockKey, {
      runId: dead.id,
      sequence,
      executionName: dead.executionName,
      enqueuedAt: at,
    });
    const acquired = await stack.stores.locks.tryAcquire(
      lockKey,
      {
        runId: dead.id,
        sequence,
        executionName: dead.executionName,
        acquiredAt: at,
        leaseExpiresAt: Math.floor(Date.now() / 1000) + 86_400,
      },
      Math.floor(Date.now() / 1000),
    );
    expect(acquired.acquired).toBe(true);

    const interrupted = await until('the dead run to be interrupted', async () => {
      const run = await stack.runs.get(dead.id);
      return run?.status === 'interrupted' ? run : undefined;
    });
    const reason = 'holder execution gh-crashed-long-ago is not running';
    expect(interrupted.error).toBe(`ops: ${reason}`);
    expect(interrupted.stages.map((s) => s.status)).toEqual(['interrupted', 'skipped']);
    expect(await stack.stores.locks.get(lockKey)).toBeUndefined();
    const events = await stack.stores.locks.listEvents(lockKey);
    expect(events.find((e) => e.kind === 'forced_release' && e.runId === dead.id)).toMatchObject({
      by: 'reconciler',
      reason,
    });

    // The environment is usable again.
    const next = await pushChange(stack, terraformFiles({ network: 'n', cluster: 'c2' }), { repository: REPO });
    expect((await waitForRun(stack, (await runForSha(stack, next)).id)).status).toBe('succeeded');
  });
});
