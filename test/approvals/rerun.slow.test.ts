/** Issue 11.5: one deploy run per commit; a re-run is a deliberate, authenticated action recorded with who. */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli-process.js';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import {
  configYaml,
  decideThroughPage,
  nextApproval,
  operatorHeaders,
  pushChange,
  runForSha,
  startTestStack,
  statePath,
  TEST_APPROVER,
  terraformFiles,
  type TestStack,
  waitForRun,
} from '../support/local-stack.js';
import { createHmac } from 'node:crypto';

let stack: TestStack | undefined;

afterEach(async () => {
  await stack?.cleanup();
  stack = undefined;
});

/** A re-run request; `as` signs in with the local credential (the CLI's) acting as that listed person. */
function rerunRequest(
  stack: TestStack,
  runId: string,
  init: { as?: string; headers?: Record<string, string> } = {},
): Promise<Response> {
  const signIn = init.as !== undefined ? operatorHeaders(stack) : {};
  const query = init.as ? `?as=${encodeURIComponent(init.as)}` : '';
  return fetch(`${stack.url}/runs/${runId}/rerun${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...signIn, ...init.headers },
    body: '{}',
  });
}

/** Two approvers on apps; carol is only a viewer (she may look at runs, not start them). */
const TWO_APPROVERS = [
  'repositories:',
  '  - name: acme/infrastructure',
  '    branch: main',
  '    environments:',
  '      - name: ops',
  '      - name: apps',
  '        approval:',
  '          approvers: [alice@example.com, bob@example.com]',
  '          timeout: 1h',
  'access:',
  '  viewers: [carol@example.com]',
].join('\n');

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
  it('a replayed push starts nothing; `tfgate rerun` by the approver starts the commit again, ' +
    'recorded with who asked', async () => {
    stack = await startTestStack({ config: configYaml({ approval: '1h' }) });
    const firstApproval = nextApproval(stack);
    const sha = await pushChange(stack, terraformFiles({ network: 'n' }));
    expect((await decideThroughPage((await firstApproval).url, 'approve')).status).toBe(200);
    const first = await waitForRun(stack, (await runForSha(stack, sha)).id);
    expect(first.status).toBe('succeeded');
    // Plans and state are the owner's alone (0600), whoever wrote them; so are tfgate's own secrets.
    for (const file of [
      path.join(stack.dataDir, 'artifacts', 'runs', first.id, 'ops', 'plan', 'tfplan'),
      statePath(stack, 'ops'),
    ]) {
      expect((await stat(file)).mode & 0o077, file).toBe(0);
    }
    expect((await stat(path.join(stack.dataDir, 'secrets'))).mode & 0o777).toBe(0o700);
    for (const secret of ['session-key', 'local-credential']) {
      expect((await stat(path.join(stack.dataDir, 'secrets', secret))).mode & 0o777, secret).toBe(0o600);
    }

    // Applied already: a replay whenever it arrives, named with the run that applied it.
    const replayed = await replayPush(stack, sha);
    expect(replayed.ignored).toMatch(/^replay: .* is what ops applied .*\(run [0-9a-f-]+\)/);
    expect(replayed.ignored).toContain(first.id);

    // The gate's only approver is whom the local operator can mean without --as.
    const cli = await runCli(['rerun', first.id, '--url', stack.url, '--data', stack.dataDir, '--json']);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    const answer = JSON.parse(cli.stdout) as { runId: string; rerunOf: string; requestedBy: string };
    expect(answer).toMatchObject({ rerunOf: first.id, requestedBy: TEST_APPROVER });
    // The same commit again finds nothing to change in apps, so its gate has nothing to ask.
    const again = await waitForRun(stack, answer.runId);
    expect(again).toMatchObject({
      sha,
      trigger: 'manual',
      rerunOf: first.id,
      requestedBy: TEST_APPROVER,
      status: 'succeeded',
    });
    const shown = (await (
      await fetch(`${stack.url}/runs/${again.id}`, {
        headers: { accept: 'application/json', ...operatorHeaders(stack) },
      })
    ).json()) as Record<string, unknown>;
    expect(shown).toMatchObject({ trigger: 'manual', rerunOf: first.id, requestedBy: TEST_APPROVER });
  }, 300_000);

  it('refuses without a signed-in person, across sites, without JSON, non-approvers, and runs still ' +
    'in flight', async () => {
    stack = await startTestStack({ config: TWO_APPROVERS });
    const sha = await pushChange(stack, terraformFiles({ network: 'n' }));
    const run = await runForSha(stack, sha);

    // Nobody signed in: the sign-in gate answers before the route.
    expect((await rerunRequest(stack, run.id)).status).toBe(401);
    // Signed in, but a page of another site made the request.
    expect(
      (await rerunRequest(stack, run.id, { as: 'alice@example.com', headers: { origin: 'https://evil.example' } }))
        .status,
    ).toBe(403);
    expect((await rerunRequest(stack, run.id, { as: 'alice@example.com', headers: { origin: 'null' } })).status).toBe(
      403,
    );
    const form = await fetch(`${stack.url}/runs/${run.id}/rerun?as=alice%40example.com`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...operatorHeaders(stack) },
      body: 'x=1',
    });
    expect(form.status).toBe(415);
    const inFlight = await rerunRequest(stack, run.id, { as: 'alice@example.com' });
    expect(inFlight.status).toBe(409);
    expect(((await inFlight.json()) as { error: string }).error).toMatch(/is still (running|awaiting_approval)/);
    expect((await rerunRequest(stack, 'no-such-run', { as: 'alice@example.com' })).status).toBe(404);

    // Once it has ended, only an approver of the repository may re-run it.
    const approval = nextApproval(stack);
    expect((await decideThroughPage((await approval).url, 'reject', 'not now', 'bob@example.com')).status).toBe(200);
    expect((await waitForRun(stack, run.id)).status).toBe('rejected');
    for (const [as, why] of [
      ['carol@example.com', /carol@example\.com is not an approver of acme\/infrastructure/],
      ['mallory@example.com', /mallory@example\.com is not an approver/],
      ['', /say which approver of acme\/infrastructure you are/],
    ] as const) {
      const refused = await rerunRequest(stack, run.id, { as });
      expect(refused.status, as).toBe(403);
      expect(((await refused.json()) as { error: string }).error).toMatch(why);
    }
    const cliRefused = await runCli([
      'rerun',
      run.id,
      '--url',
      stack.url,
      '--data',
      stack.dataDir,
      '--as',
      'carol@example.com',
    ]);
    expect(cliRefused.code).not.toBe(0);
    expect(cliRefused.stderr).toContain('carol@example.com is not an approver');
    expect((await stack.runs.list()).filter((r) => r.sha === sha)).toHaveLength(1);

    const byAlice = await rerunRequest(stack, run.id, { as: 'alice@example.com' });
    expect(byAlice.status).toBe(202);
    expect(await byAlice.json()).toMatchObject({ rerunOf: run.id, requestedBy: 'alice@example.com' });
    expect((await stack.runs.list()).filter((r) => r.sha === sha)).toHaveLength(2);
  }, 300_000);
});
