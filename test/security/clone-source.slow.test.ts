/**
 * Issue 11.4: the source comes from configuration only. A signed delivery whose payload names another
 * clone URL builds the configured repository; the GitHub token goes to the configured GitHub host
 * only, never to the host the payload named (a capture server here).
 */
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAndPush } from '../../src/local-mode/git-repos.js';
import { startFakeGitHub, type FakeGitHub } from '../github/fake-github.js';
import {
  configYaml,
  REPOSITORY,
  startTestStack,
  terraformFiles,
  type TestStack,
  waitForRun,
} from '../support/local-stack.js';

const TOKEN = 'ghp_captureCanary0123456789abcdefghijklmn';

describe('a delivery naming another clone URL', () => {
  let stack: TestStack;
  let github: FakeGitHub;
  let capture: Server;
  let captureUrl: string;
  const captured: Array<{ method?: string; url?: string; headers: IncomingHttpHeaders }> = [];

  beforeAll(async () => {
    capture = createServer((request, response) => {
      captured.push({ method: request.method, url: request.url, headers: request.headers });
      response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => capture.listen(0, '127.0.0.1', resolve));
    captureUrl = `http://127.0.0.1:${(capture.address() as AddressInfo).port}`;
    github = await startFakeGitHub();
    stack = await startTestStack({
      config: configYaml({ approval: false, extra: `github:\n  apiUrl: ${github.apiUrl}\n` }),
      github: { credentials: { kind: 'token', token: TOKEN } },
    });
  });

  afterAll(async () => {
    await stack?.cleanup();
    await github?.close();
    await new Promise<void>((resolve) => capture.close(() => resolve()));
  });

  it('builds the configured repository, and the token reaches no other host', async () => {
    const remote = stack.remotes.find((r) => r.repository === REPOSITORY)!.remote;
    const sha = await commitAndPush(remote, {
      files: terraformFiles({ configured: 'from-the-configured-repository' }),
      message: 'real',
      branch: 'main',
      quiet: true,
    });
    const body = JSON.stringify({
      ref: 'refs/heads/main',
      after: sha,
      repository: {
        full_name: REPOSITORY,
        clone_url: `${captureUrl}/acme/infrastructure.git`,
        git_url: `${captureUrl.replace('http', 'git')}/acme/infrastructure.git`,
        ssh_url: `git@127.0.0.1:acme/infrastructure.git`,
        html_url: `${captureUrl}/acme/infrastructure`,
        url: `${captureUrl}/repos/acme/infrastructure`,
      },
      pusher: { name: 'mallory', email: 'mallory@example.com' },
    });
    const response = await fetch(stack.webhookUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': `sha256=${createHmac('sha256', stack.webhookSecret).update(body).digest('hex')}`,
      },
      body,
    });
    expect(response.status).toBe(202);
    const { runId } = (await response.json()) as { runId: string };
    const run = await waitForRun(stack, runId);
    await stack.feedback.drain();

    expect(run.status).toBe('succeeded');
    expect(run.stages.map((s) => s.plan?.addresses?.create)).toEqual([
      ['terraform_data.configured'],
      ['terraform_data.configured'],
    ]);
    expect(captured).toEqual([]);
    // The token went to the configured GitHub (commit statuses), and only there.
    expect(github.calls.length).toBeGreaterThan(0);
    expect(
      github.calls.every((call) => call.authorization === `token ${TOKEN}` || call.authorization === `Bearer ${TOKEN}`),
    ).toBe(true);
  }, 300_000);
});
