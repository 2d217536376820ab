import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { renderPlanComment } from '../../src/domain/pr-comment.js';
import type { Run } from '../../src/domain/run.js';
import {
  configYaml,
  decideThroughPage,
  nextApproval,
  operatorHeaders,
  pushChange,
  runForSha,
  startTestStack,
  waitForRun,
  type TestStack,
} from '../support/local-stack.js';

/**
 * Plan output and terraform errors carrying HTML and terminal control sequences (colours, OSC window
 * titles and hyperlinks, a bell): what people see in a browser or on GitHub shows them as text.
 */

const HTML = '<script>alert(1)</script><img src=x onerror=alert(2)>';
const ESC = '\u001b';
const CSI = `${ESC}[31m`;
const OSC_TITLE = `${ESC}]0;owned${String.fromCharCode(7)}`;
const OSC_LINK = `${ESC}]8;;https://evil.example/${ESC}\\click${ESC}]8;;${ESC}\\`;
const HOSTILE = `${HTML}${CSI}red${ESC}[0m${OSC_TITLE}${OSC_LINK}`;

let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.cleanup();
  stack = undefined;
});

function expectInert(html: string): void {
  expect(html).not.toContain('<script>alert(1)');
  expect(html).not.toContain('<img src=x');
  expect(html).not.toContain(ESC);
  expect(html).not.toContain('\u0007');
  expect(html).not.toContain('\u009b');
}

function hcl(text: string): string {
  // HCL string escapes: the double (like terraform) turns \uNNNN back into the character.
  return text
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/[\u0000-\u001f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(/\$\{/g, '$${');
}

describe('hostile plan output', () => {
  it('is shown escaped and without terminal sequences on the approval page and the run page', async () => {
    stack = await startTestStack({ config: configYaml({ environments: ['ops'] }) });
    const approval = nextApproval(stack);
    await pushChange(
      stack,
      { 'main.tf': `resource "terraform_data" "x" {\n  input = "${hcl(HOSTILE)}"\n}\n` },
      { message: `deploy ${HTML}${CSI}${OSC_TITLE}` },
    );
    const request = await approval;
    // The plan really carries the HTML (terraform itself writes control characters in values as
    // \u escapes; raw sequences reach the pages through commit messages and error source lines below).
    const planText = await readFile(
      path.join(stack.dataDir, 'artifacts', 'runs', request.run.id, 'ops', 'plan', 'plan.txt'),
      'utf8',
    );
    expect(planText).toContain(HTML);
    expect(request.run.message).toContain(CSI);

    const page = await (await fetch(request.url, { headers: operatorHeaders(stack) })).text();
    expectInert(page);
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).toContain('red');
    expect((await decideThroughPage(request.url, 'reject', `${HTML}${CSI}`)).status).toBe(200);
    // The reason travels into the run's error, raw: the run page has to clean it.
    expect((await waitForRun(stack, request.run.id)).error).toContain(`${HTML}${CSI}`);

    const sha = await pushChange(stack, {
      'main.tf': `resource "terraform_data" "x" {\n  input = var.missing # ${HTML}${CSI}${OSC_TITLE}\n}\n`,
    });
    const failed = await waitForRun(stack, (await runForSha(stack, sha)).id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toContain('undeclared input variable');
    for (const url of [`${stack.url}/runs/${failed.id}`, `${stack.url}/runs/${request.run.id}`, `${stack.url}/runs`]) {
      const html = await (await fetch(url, { headers: operatorHeaders(stack) })).text();
      expectInert(html);
    }
    expect(await (await fetch(`${stack.url}/runs/${failed.id}`, { headers: operatorHeaders(stack) })).text()).toContain(
      '&lt;script&gt;alert(1)&lt;/script&gt;',
    );
  }, 300_000);

  it('is kept inside its code block and stripped of terminal sequences in the pull request comment', () => {
    const run = {
      id: 'r1',
      repository: 'acme/infra',
      sha: 'a'.repeat(40),
      ref: 'refs/pull/1/head',
      trigger: 'pull_request',
      mode: 'plan_only',
      pullRequest: 1,
      status: 'succeeded',
      createdAt: '2026-01-01T00:00:00Z',
      updatedAt: '2026-01-01T00:00:00Z',
      sequence: 1,
      executionName: 'x',
      stages: [
        {
          environment: 'ops',
          status: 'planned',
          transitions: [],
          plan: {
            add: 1,
            change: 0,
            destroy: 0,
            replace: 0,
            hasChanges: true,
            sha256: 'b'.repeat(64),
            addresses: { add: ['terraform_data.x'], change: [], destroy: [], replace: [] },
          },
        },
      ],
    } as unknown as Run;
    const plan =
      `  + resource "terraform_data" "x" {\n      + input = "${HOSTILE}"\n    ` +
      `}\n\`\`\`\n${HTML}\n\`\`\`\`\`\nPlan: 1 to add, 0 to change, 0 to destroy.\n`;
    const body = renderPlanComment({ run, planTexts: { ops: plan }, runUrl: 'https://tfgate.example/runs/r1' });
    expect(body).not.toContain(ESC);
    expect(body).not.toContain('\u0007');
    // Every line with the HTML sits between an opening fence and its closing fence.
    const lines = body.split('\n');
    let open: string | undefined;
    for (const line of lines) {
      const fence = /^(`{3,})/.exec(line)?.[1];
      if (fence && (open === undefined || line === open)) {
        open = open === undefined ? fence : undefined;
        continue;
      }
      if (line.includes('<script>')) expect(open, line).toBeDefined();
    }
    expect(open).toBeUndefined();
  });
});
