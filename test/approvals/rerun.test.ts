/** Issue 11.5: one deploy run per commit; a re-run is a deliberate, authenticated action recorded with who. */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { HttpRequest } from '../../lambdas/core/http.js';
import { runCli } from '../support/cli-process.js';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { configYaml, pushChange, runForSha, startTestStack, statePath, terraformFiles, type TestStack, waitForRun } from '../support/local-stack.js';
import { createHmac } from 'node:crypto';

let stack: TestStack | undefined;

afterEach(async () => {
  await stack?.cleanup();
  stack = undefined;
});

function rerunRequest(stack: TestStack, runId: string, init: { headers?: Record<string, string> } = {}): Promise<Response> {
  return fetch(`${stack.url}/runs/${runId}/rerun`, { method: 'POST', headers: { 'content-type': 'application/json', ...init.headers }, body: '{}' });
}

async function replayPush(stack: TestStack, sha: string): Promise<Record<string, unknown>> {
  const body = JSON.stringify({
    ref: 'refs/heads/main',
    after: sha,
    repository: { full_name: 'acme/infrastructure', clone_url: 'https://evil.example/acme.git' },
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
  return (await response.json()) as Record<string, unknown>;
}

describe('re-running a deploy run', () => {
  it('a replayed push starts nothing; `tfgate rerun` starts the commit again, recorded with who asked', async () => {
    stack = await startTestStack({ config: configYaml({ approval: false }) });
    const sha = await pushChange(stack, terraformFiles({ network: 'n' }));
    const first = await waitForRun(stack, (await runForSha(stack, sha)).id);
    expect(first.status).toBe('succeeded');
    // Plans and state are the owner's alone (0600), whoever wrote them.
    for (const file of [path.join(stack.dataDir, 'artifacts', 'runs', first.id, 'ops', 'plan', 'tfplan'), statePath(stack, 'ops')]) {
      expect((await stat(file)).mode & 0o077, file).toBe(0);
    }
    expect((await stat(path.join(stack.dataDir, 'secrets'))).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(stack.dataDir, 'secrets', 'link-key'))).mode & 0o777).toBe(0o600);

    expect(await replayPush(stack, sha)).toMatchObject({ ignored: expect.stringContaining('already has a deploy run'), runId: first.id });

    const cli = await runCli(['rerun', first.id, '--url', stack.url, '--json']);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    const answer = JSON.parse(cli.stdout) as { runId: string; rerunOf: string; requestedBy: string };
    expect(answer).toMatchObject({ rerunOf: first.id, requestedBy: expect.stringMatching(/@local$/) });
    const again = await waitForRun(stack, answer.runId);
    expect(again).toMatchObject({ sha, trigger: 'manual', rerunOf: first.id, requestedBy: answer.requestedBy, status: 'succeeded' });
    const shown = (await (await fetch(`${stack.url}/runs/${again.id}`, { headers: { accept: 'application/json' } })).json()) as Record<string, unknown>;
    expect(shown).toMatchObject({ trigger: 'manual', rerunOf: first.id, requestedBy: answer.requestedBy });
  }, 120_000);

  it('refuses without a signed-in person, across sites, without JSON, and for runs still in flight', async () => {
    // Sign-in stand-in: nobody is signed in unless identify says so (never a header the caller sets).
    let signedIn: string | undefined;
    stack = await startTestStack({ config: configYaml({ approval: '1h' }), identify: async (_request: HttpRequest) => signedIn });
    const sha = await pushChange(stack, terraformFiles({ network: 'n' }));
    const run = await runForSha(stack, sha);

    expect((await rerunRequest(stack, run.id)).status).toBe(401);
    signedIn = 'alice@example.com';
    expect((await rerunRequest(stack, run.id, { headers: { origin: 'https://evil.example' } })).status).toBe(403);
    const form = await fetch(`${stack.url}/runs/${run.id}/rerun`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'x=1' });
    expect(form.status).toBe(415);
    const inFlight = await rerunRequest(stack, run.id);
    expect(inFlight.status).toBe(409);
    expect(((await inFlight.json()) as { error: string }).error).toMatch(/is still (running|awaiting_approval)/);
    expect((await rerunRequest(stack, 'no-such-run')).status).toBe(404);
    expect((await stack.runs.list()).filter((r) => r.sha === sha)).toHaveLength(1);
  }, 120_000);
});
