import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stageArtifactKey } from '../../src/domain/plan-summary.js';
import type { ApprovalRequest } from '../../src/domain/ports.js';
import {
  decideThroughPage,
  operatorHeaders,
  nextApproval,
  pushChange,
  runForSha,
  startTestStack,
  statePath,
  terraformFiles,
  until,
  waitForRun,
  waitForStage,
  type TestStack,
} from '../support/local-stack.js';
import {
  slackButtons,
  startSlackReceiver,
  startSmtpReceiver,
  type SlackReceiver,
  type SmtpReceiver,
} from './receivers.js';

/**
 * The approval flow through the whole local stack: a real push (post-receive hook → signed webhook →
 * the state machine file in the local engine → build runner with the terraform double), with Slack
 * and SMTP notifications configured from tfgate.yaml and received by local stand-ins.
 */

const CLI = fileURLToPath(new URL('../../bin/tfgate.js', import.meta.url));

function config(slack: SlackReceiver, smtp: SmtpReceiver, environments: string[] = ['ops', 'apps']): string {
  const lines = ['repositories:', '  - name: acme/infrastructure', '    branch: main', '    environments:'];
  for (const env of environments) {
    lines.push(`      - name: ${env}`);
    if (env === 'apps')
      lines.push(
        '        approval:',
        '          approvers: [alice@example.com, bob@example.com]',
        '          timeout: 1h',
      );
  }
  lines.push(
    'notifications:',
    `  slack: { webhookUrl: "${slack.url}" }`,
    `  email: { from: tfgate@example.com, smtp: { host: ${smtp.host}, port: ${smtp.port} } }`,
    '',
  );
  return lines.join('\n');
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { timeout: 30_000, env: { ...process.env, NO_COLOR: '1' } },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** Pushes a change and waits until its run asks for approval of apps; returns the run and the request. */
async function pushAndAwaitApproval(
  stack: TestStack,
  marker: string,
): Promise<{ sha: string; runId: string; request: ApprovalRequest }> {
  const requested = nextApproval(stack);
  const sha = await pushChange(stack, terraformFiles({ marker }), { message: `Set the marker to ${marker}\n\nbody` });
  const run = await runForSha(stack, sha);
  const request = await requested;
  expect(request.run.id).toBe(run.id);
  return { sha, runId: run.id, request };
}

let slack: SlackReceiver;
let smtp: SmtpReceiver;
let stack: TestStack | undefined;

beforeEach(async () => {
  slack = await startSlackReceiver();
  smtp = await startSmtpReceiver();
});

afterEach(async () => {
  await stack?.cleanup();
  stack = undefined;
  await slack.close();
  await smtp.close();
});

describe('approval links from Slack and email against the local stack', () => {
  it('fetching the link any number of times leaves it pending; approve applies; approving again is 409', async () => {
    stack = await startTestStack({ config: config(slack, smtp, ['apps']) });
    const { runId, request } = await pushAndAwaitApproval(stack, 'first');
    const approvalId = request.approval.id;
    await until('the Slack message and both mails', () =>
      slack.messages.length === 1 && smtp.mails.length === 2 ? true : undefined,
    );

    // One plain link everywhere: no identity, no secret; the page decides who is clicking from the sign-in.
    const buttons = slackButtons(slack.messages[0]!);
    expect(buttons.map((b) => b.label)).toEqual(['Review and decide']);
    const link = buttons[0]!.url;
    expect(link).toBe(`${stack.url}/approvals/${approvalId}`);
    const alice = link;
    const bob = link;
    const { taskToken } = (await stack.stores.approvals.get(approvalId))!;
    expect(taskToken.length).toBeGreaterThan(20);
    expect(JSON.stringify(slack.messages)).not.toContain(taskToken);
    expect(smtp.mails.map((mail) => mail.raw).join('\n')).not.toContain(taskToken);
    for (const mail of smtp.mails) {
      expect(mail.decoded).toContain(link);
      expect(mail.decoded).not.toContain('?as=');
    }

    // What Slack's unfurler, mail scanners and curious people do before anyone decides.
    const agents = [
      'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)',
      'Mozilla/5.0 (compatible; BarracudaCentral)',
      'Mozilla/5.0 Chrome',
    ];
    for (let i = 0; i < 20; i++) {
      // Without a sign-in the page only points to the sign-in, and says nothing about the run.
      const anonymous = await fetch(link, {
        method: i % 4 === 0 ? 'HEAD' : 'GET',
        headers: { 'user-agent': agents[i % 3]! },
        redirect: 'manual',
      });
      expect(anonymous.status).toBe(303);
      expect(anonymous.headers.get('location')).toBe(
        `/auth/sign-in?next=${encodeURIComponent(`/approvals/${approvalId}`)}`,
      );
      expect(await anonymous.text()).not.toContain(runId);
      const signedIn = await fetch(link, {
        method: i % 4 === 0 ? 'HEAD' : 'GET',
        headers: { 'user-agent': agents[i % 3]!, ...operatorHeaders(stack) },
      });
      expect(signedIn.status).toBe(200);
      await signedIn.arrayBuffer();
    }
    expect((await stack.stores.approvals.get(approvalId))?.status).toBe('pending');
    const waiting = await stack.runs.get(runId);
    expect(waiting?.status).toBe('awaiting_approval');
    expect(waiting?.stages.find((s) => s.environment === 'apps')?.status).toBe('awaiting_approval');

    const approved = await decideThroughPage(alice, 'approve', undefined, 'alice@example.com');
    expect(approved.status).toBe(200);
    expect(approved.body).toContain('Approved by alice@example.com');
    const finished = await waitForRun(stack, runId);
    expect(finished.status).toBe('succeeded');
    expect(finished.stages.map((s) => [s.environment, s.status])).toEqual([['apps', 'applied']]);
    expect(finished.stages[0]!.approval).toMatchObject({ id: approvalId, status: 'approved', by: 'alice@example.com' });
    expect(await readFile(statePath(stack, 'apps'), 'utf8')).toContain('first-apps');

    for (const who of ['alice@example.com', 'bob@example.com']) {
      const again = await decideThroughPage(link, 'approve', undefined, who).catch((error: Error) => ({
        status: 0,
        body: error.message,
      }));
      // The page no longer offers a form; posting the old one anyway is a 409.
      expect(again.body).toMatch(/no form on the approval page \(200\)/);
      const page = await (await fetch(link, { headers: operatorHeaders(stack) })).text();
      expect(page).toContain('This approval was already approved by alice@example.com');
    }
    const token = JSON.parse(
      await (
        await fetch(`${bob}?as=bob@example.com`, { headers: { accept: 'application/json', ...operatorHeaders(stack) } })
      ).text(),
    ).formToken as string;
    const late = await fetch(bob, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...operatorHeaders(stack) },
      body: new URLSearchParams({ decision: 'approve', form_token: token, as: 'bob@example.com' }).toString(),
    });
    expect(late.status).toBe(409);
    expect(await late.text()).toContain('already approved by alice@example.com');
  });

  it('apply refuses a saved plan whose sha256 differs from the approved one', async () => {
    stack = await startTestStack({ config: config(slack, smtp, ['apps']) });
    const { runId, request } = await pushAndAwaitApproval(stack, 'tamper');
    const planFile = path.join(stack.dataDir, 'artifacts', stageArtifactKey(runId, 'apps', 'tfplan', 'plan'));
    const original = await readFile(planFile);
    await writeFile(planFile, Buffer.concat([original, Buffer.from('\n')]));

    expect((await decideThroughPage(request.url, 'approve', undefined, 'alice@example.com')).status).toBe(200);
    const finished = await waitForRun(stack, runId);
    expect(finished.status).toBe('failed');
    expect(finished.error).toContain(
      `but the run recorded (and approved) ${request.approval.planSha256}; refusing to apply a plan nobody approved`,
    );
    expect(finished.stages[0]!.status).toBe('failed');
    await expect(readFile(statePath(stack, 'apps'), 'utf8')).rejects.toThrow(/ENOENT/);
  });

  it('a newer push supersedes the run waiting for approval; only the newer one is applied to apps', async () => {
    stack = await startTestStack({ config: config(slack, smtp, ['apps']) });
    const first = await pushAndAwaitApproval(stack, 'older');
    const firstLink = first.request.url;

    const second = await pushAndAwaitApproval(stack, 'newer');
    const superseded = await waitForRun(stack, first.runId);
    expect(superseded.status).toBe('superseded');
    expect(superseded.error).toBe(`apps: superseded by run ${second.runId} (${second.sha.slice(0, 12)})`);
    const apps = superseded.stages.find((s) => s.environment === 'apps')!;
    expect(apps.status).toBe('superseded');
    expect(apps.approval).toMatchObject({ id: first.request.approval.id, status: 'superseded' });
    expect(apps.transitions.map((t) => t.status)).not.toContain('applying');
    expect(await stack.stores.approvals.get(first.request.approval.id)).toMatchObject({
      status: 'superseded',
      reason: `superseded by run ${second.runId} (${second.sha.slice(0, 12)})`,
    });

    // The old link now explains itself, and deciding on it is a 409.
    const page = await (await fetch(firstLink, { headers: operatorHeaders(stack) })).text();
    expect(page).toContain(`This approval was superseded: superseded by run ${second.runId}`);
    const token = JSON.parse(
      await (
        await fetch(`${firstLink}?as=alice@example.com`, {
          headers: { accept: 'application/json', ...operatorHeaders(stack) },
        })
      ).text(),
    ).formToken as string;
    const late = await fetch(firstLink, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...operatorHeaders(stack) },
      body: new URLSearchParams({ decision: 'approve', form_token: token, as: 'alice@example.com' }).toString(),
    });
    expect(late.status).toBe(409);
    expect(await late.text()).toContain('superseded');

    expect((await decideThroughPage(second.request.url, 'approve', undefined, 'bob@example.com')).status).toBe(200);
    const done = await waitForRun(stack, second.runId);
    expect(done.status).toBe('succeeded');
    expect(done.stages.map((s) => s.status)).toEqual(['applied']);
    const appsState = await readFile(statePath(stack, 'apps'), 'utf8');
    expect(appsState).toContain('newer-apps');
    expect(appsState).not.toContain('older-apps');
    // The lock went to the newer run once the older one let go, and nothing is left holding it.
    expect(await stack.locks.grantNext('acme/infrastructure#apps')).toEqual({});
  });

  it(
    'tfgate approve / reject go through the same route, with the local credential and --as naming ' +
      'a listed approver',
    async () => {
      stack = await startTestStack({ config: config(slack, smtp, ['apps']) });
      const { runId, request } = await pushAndAwaitApproval(stack, 'cli');
      const id = request.approval.id;
      const common = ['--url', stack.url, '--data', stack.dataDir];

      // Refusals first, side by side (each spawn starts the CLI from scratch).
      const [bad, anonymous, outsider, elsewhere] = await Promise.all([
        cli(['approve', 'not-an-id', ...common]),
        cli(['approve', id, ...common]),
        cli(['approve', id, '--as', 'mallory@example.com', ...common]),
        cli([
          'approve',
          id,
          '--as',
          'alice@example.com',
          '--url',
          stack.url,
          '--data',
          path.join(stack.dataDir, 'nope'),
        ]),
      ]);
      expect(bad.code).toBe(2);
      expect(anonymous.code).toBe(1);
      expect(anonymous.stderr).toContain(
        'approve refused (403): Say which approver you are: tfgate approve ID --as WHO',
      );
      expect(outsider.code).toBe(1);
      expect(outsider.stderr).toContain('mallory@example.com is not an approver for apps');
      // Another data directory has no credential for this server: nothing is decided.
      expect(elsewhere.code).toBe(1);
      expect(elsewhere.stderr).toContain('wants a sign-in: the local credential');
      expect((await stack.stores.approvals.get(id))?.status).toBe('pending');

      const approve = await cli(['approve', id, '--as', 'alice@example.com', ...common]);
      expect(approve.stderr).toBe('');
      expect(approve.code).toBe(0);
      expect(approve.stdout).toContain('Approved by alice@example.com');
      expect((await waitForRun(stack, runId)).status).toBe('succeeded');

      const reject = await cli(['reject', id, '--as', 'bob@example.com', '--reason', 'too late', ...common]);
      expect(reject.code).toBe(1);
      expect(reject.stderr).toContain('reject refused (409): This approval was already approved by alice@example.com');
    },
  );

  it('tfgate reject stops the run before apps is applied', async () => {
    stack = await startTestStack({ config: config(slack, smtp, ['apps']) });
    const { runId, request } = await pushAndAwaitApproval(stack, 'rejected');
    const result = await cli([
      'reject',
      request.approval.id,
      '--as',
      'bob@example.com',
      '--reason',
      'not today',
      '--url',
      stack.url,
      '--data',
      stack.dataDir,
    ]);
    expect(result.code).toBe(0);
    const finished = await waitForRun(stack, runId);
    expect(finished.status).toBe('rejected');
    expect(finished.error).toContain('by bob@example.com: not today');
    await waitForStage(stack, runId, 'apps', 'rejected');
    await expect(readFile(statePath(stack, 'apps'), 'utf8')).rejects.toThrow(/ENOENT/);
  });
});
