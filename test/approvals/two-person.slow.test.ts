import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decideThroughPage,
  nextApproval,
  operatorHeaders,
  pushChange,
  runForSha,
  runJson,
  startTestStack,
  statePath,
  waitForRun,
  waitForStage,
  type TestStack,
} from '../support/local-stack.js';
import { REAL_TERRAFORM } from '../support/real-terraform.js';

/**
 * `approval.required: 2` through the whole local stack with the real terraform: one approval leaves apps
 * waiting (the page and the run JSON say 1 of 2), the same approver again counts once, a restart of tfgate
 * local keeps the partial approval, and a second person applies it. Then a mixed change (update, destroy,
 * replacement, create, move, sensitive values) shows its structured view on the approval page, screenshotted
 * with headless Chromium into test-artifacts/.
 */

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const SECRETS = ['pw-first-4711', 'pw-second-0815'];

const CONFIG = [
  'repositories:',
  '  - name: acme/infrastructure',
  '    branch: main',
  '    environments:',
  '      - name: ops',
  '      - name: apps',
  '        approval:',
  '          approvers: [alice@example.com, bob@example.com, carol@example.com]',
  '          required: 2',
  '          timeout: 1h',
  '',
].join('\n');

const MODULE = `variable "name" { type = string }
resource "terraform_data" "node" { input = var.name }
`;

/** Terraform interpolation inside TypeScript text. */
const WORKSPACE = '$' + '{terraform.workspace}';

function files(generation: 1 | 2): Record<string, string> {
  const first = generation === 1;
  const legacyQueue = `resource "terraform_data" "legacy_queue" { input = "q-${WORKSPACE}" }`;
  const cache = `resource "terraform_data" "cache" { input = "redis-${WORKSPACE}" }`;
  const dns = `resource "terraform_data" "dns" { input = "dns-${WORKSPACE}" }`;
  const zone =
    `resource "terraform_data" "zone" { input = "dns-${WORKSPACE}" }\n` +
    'moved {\n  from = terraform_data.dns\n  to   = terraform_data.zone\n}';
  return {
    'modules/pool/main.tf': MODULE,
    'main.tf': `variable "db_password" {
  type      = string
  sensitive = true
  default   = "${SECRETS[generation - 1]}"
}
resource "terraform_data" "network" {
  input = { cidr = "10.${first ? 0 : 1}.0.0/16", tags = { team = "platform", tier = "${first ? 'a' : 'b'}" } }
}
resource "terraform_data" "database" {
  input            = { engine = "postgres", password = var.db_password }
  triggers_replace = ["${first ? '15' : '16'}"]
}
${first ? legacyQueue : ''}
${first ? '' : cache}
${first ? dns : zone}
module "pool" {
  source   = "./modules/pool"
  for_each = toset(["blue", "green"])
  name     = "\${each.key}-${first ? 'small' : 'large'}"
}
output "db_password" {
  value     = var.db_password
  sensitive = true
}
output "endpoint" { value = "db-${first ? 1 : 2}.internal" }
`,
  };
}

let stacks: TestStack[] = [];
let dataDir: string | undefined;
afterEach(async () => {
  for (const stack of stacks) await stack.cleanup();
  stacks = [];
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

async function approvalJson(stack: TestStack, approvalId: string, as: string) {
  const response = await fetch(`${stack.url}/approvals/${approvalId}?as=${encodeURIComponent(as)}`, {
    headers: { accept: 'application/json', ...operatorHeaders(stack) },
  });
  return (await response.json()) as Record<string, unknown>;
}

type StageJson = { environment: string; status: string; approval?: Record<string, unknown> };

describe.skipIf(!REAL_TERRAFORM)('two approvers, with the real terraform', () => {
  it('1 of 2 waits, the same person counts once, a restart keeps it, a second person applies', async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-two-person-'));
    const start = () =>
      startTestStack({ config: CONFIG, dataDir, keepData: true, inMemory: false, terraform: REAL_TERRAFORM! });
    let stack = await start();
    stacks.push(stack);

    const requested = nextApproval(stack, 240_000);
    const sha = await pushChange(stack, files(1), { message: 'Network, database and pools' });
    const run = await runForSha(stack, sha);
    const approval = (await requested).approval;
    await waitForStage(stack, run.id, 'apps', 'awaiting_approval', 240_000);
    const link = `${stack.url}/approvals/${approval.id}`;

    const first = await decideThroughPage(link, 'approve', undefined, 'alice@example.com');
    expect(first.status).toBe(200);
    expect(first.body).toContain('Approved: 1 of 2');
    const again = await decideThroughPage(link, 'approve', undefined, 'alice@example.com');
    expect(again.status).toBe(200);
    expect(again.body).toContain('Already approved by you');
    let json = await runJson(stack, run.id);
    expect(json.status).toBe('awaiting_approval');
    let apps = (json.stages as StageJson[]).find((s) => s.environment === 'apps')!;
    expect(apps.status).toBe('awaiting_approval');
    expect(apps.approval).toMatchObject({ status: 'pending', required: 2, approvals: [{ by: 'alice@example.com' }] });
    expect((apps.approval!.approvals as unknown[]).length).toBe(1);

    // tfgate local stops and starts again: the partial approval stands, on the same link.
    await stack.close();
    stacks = [];
    stack = await start();
    stacks.push(stack);
    expect(stack.resumed).toEqual([
      { runId: run.id, environment: 'apps', kind: 'approval', approvalUrl: `${stack.url}/approvals/${approval.id}` },
    ]);
    const afterRestart = await approvalJson(stack, approval.id, 'bob@example.com');
    expect(afterRestart).toMatchObject({ status: 'pending', required: 2, approvals: [{ by: 'alice@example.com' }] });
    const page = await fetch(`${stack.url}/approvals/${approval.id}?as=bob%40example.com`, {
      headers: operatorHeaders(stack),
    });
    expect(await page.text()).toContain('<span id="approval-count">1 of 2</span>');

    const second = await decideThroughPage(
      `${stack.url}/approvals/${approval.id}`,
      'approve',
      undefined,
      'bob@example.com',
    );
    expect(second.status).toBe(200);
    expect(second.body).toContain('Approved by alice@example.com and bob@example.com');
    const done = await waitForRun(stack, run.id, 240_000);
    expect(done.status).toBe('succeeded');
    json = await runJson(stack, run.id);
    apps = (json.stages as StageJson[]).find((s) => s.environment === 'apps')!;
    expect(apps).toMatchObject({ status: 'applied', approval: { status: 'approved', required: 2 } });
    expect((apps.approval!.approvals as Array<{ by: string }>).map((a) => a.by)).toEqual([
      'alice@example.com',
      'bob@example.com',
    ]);
    expect(await readFile(statePath(stack, 'apps'), 'utf8')).toContain('legacy_queue');

    // A mixed change: its approval page shows the structured view above the plan text.
    const mixedRequested = nextApproval(stack, 240_000);
    const mixedSha = await pushChange(stack, files(2), { message: 'Bigger pools, a cache, the queue retired' });
    const mixedRun = await runForSha(stack, mixedSha);
    const mixed = (await mixedRequested).approval;
    await waitForStage(stack, mixedRun.id, 'apps', 'awaiting_approval', 240_000);
    const mixedLink = `${stack.url}/approvals/${mixed.id}?as=carol%40example.com`;
    const html = await (await fetch(mixedLink, { headers: operatorHeaders(stack) })).text();
    expect(html.indexOf('id="plan-view"')).toBeGreaterThan(0);
    expect(html.indexOf('id="plan-view"')).toBeLessThan(html.indexOf('id="plan-text"'));
    expect(html).toContain('1 to create, 3 to update, 1 to replace, 1 to destroy, 1 moved');
    expect(html).toMatch(/Destroyed \(1\)<\/summary><ul><li><code>terraform_data\.legacy_queue<\/code>/);
    expect(html).toContain('<code>terraform_data.database</code>');
    expect(html).toContain('<tr><td>input.tags.tier</td><td>&quot;a&quot;</td><td>→</td><td>&quot;b&quot;</td></tr>');
    expect(html).toContain('<code>terraform_data.dns</code> → <code>terraform_data.zone</code>');
    // The view masks the sensitive password everywhere, also where terraform echoes it unmarked (terraform_data's
    // `output`); terraform's own plan text below it prints that echo, which is terraform's to fix.
    const viewSection = html.slice(html.indexOf('id="plan-view"'), html.indexOf('id="plan-text"'));
    expect(viewSection).toContain('(sensitive value)');
    for (const secret of SECRETS) expect(viewSection).not.toContain(secret);

    await mkdir(ARTIFACTS, { recursive: true });
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    try {
      const context = await browser.newContext({
        extraHTTPHeaders: operatorHeaders(stack),
        viewport: { width: 1100, height: 900 },
      });
      const tab = await context.newPage();
      await tab.goto(mixedLink);
      await expect(tab.locator('#plan-view-summary').textContent()).resolves.toContain('1 to destroy');
      await tab.screenshot({ path: path.join(ARTIFACTS, 'approval-plan-view.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  }, 600_000);
});
