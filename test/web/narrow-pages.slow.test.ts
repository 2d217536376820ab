import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  nextApproval,
  operatorHeaders,
  pushChange,
  runForSha,
  startTestStack,
  terraformFiles,
  until,
  waitForRun,
  waitForStage,
  type TestStack,
} from '../support/local-stack.js';

/**
 * Issue 23 point 2, in a browser: the runs list and the run page lead to the pending approval, a
 * superseded approval leads to the current one, a failed run says why apps was skipped, and every
 * page fits a 390 px wide window (no sideways scrolling) as well as a 1280 px one. With
 * TFGATE_SCREENSHOTS=DIR the pages are saved there as PNGs, to be looked at.
 */

const CHROMIUM = '/usr/bin/chromium';
const WIDTHS = [390, 1280] as const;
const SHOTS = process.env.TFGATE_SCREENSHOTS;

let stack: TestStack;
let browser: Browser;
const pages: Record<string, string> = {};

beforeAll(async () => {
  stack = await startTestStack();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });

  // A run whose ops apply fails: apps is skipped because of it.
  const failing = await pushChange(
    stack,
    {
      'main.tf':
        'resource "terraform_data" "broken" {\n  input = "x"\n  provisioner "local-exec" {\n' +
        '    command = "echo provisioning fails on purpose, with a long line that a narrow window must wrap >&2; ' +
        'exit 1"\n  }\n}\n',
    },
    { message: 'Add a resource whose provisioner fails' },
  );
  const failed = await waitForRun(stack, (await runForSha(stack, failing, 60_000)).id, 180_000);
  pages.failed = `/runs/${failed.id}`;

  // Two pushes: the second supersedes the first's apps approval.
  const firstSeen = nextApproval(stack, 180_000);
  const first = await pushChange(stack, terraformFiles({ cluster: 'v1' }), {
    message: 'Upgrade the cluster to v1\n\nA longer body that no page shows.',
  });
  const firstRun = await runForSha(stack, first);
  const firstApproval = await firstSeen;
  await waitForStage(stack, firstRun.id, 'apps', 'awaiting_approval', 180_000);
  const secondSeen = nextApproval(stack, 180_000);
  const second = await pushChange(stack, terraformFiles({ cluster: 'v2' }), { message: 'Upgrade the cluster to v2' });
  const secondRun = await runForSha(stack, second);
  const secondApproval = await secondSeen;
  await waitForStage(stack, secondRun.id, 'apps', 'awaiting_approval', 180_000);
  await until(
    'the first run to read as superseded',
    async () => ((await stack.runs.get(firstRun.id))?.status === 'superseded' ? true : undefined),
    180_000,
  );
  pages.runs = '/runs';
  pages.run = `/runs/${secondRun.id}`;
  pages.approval = `/approvals/${secondApproval.approval.id}`;
  pages.superseded = `/approvals/${firstApproval.approval.id}`;
  pages.supersededRun = `/runs/${firstRun.id}`;
  if (SHOTS) await mkdir(SHOTS, { recursive: true });
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await stack?.cleanup();
});

/** The elements that reach past the window's right edge (for the failure message). */
const WIDE_ELEMENTS = `(() => {
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const right = el.getBoundingClientRect().right;
    if (right > window.innerWidth) out.push(el.tagName.toLowerCase() + '.' + el.className + ' ' + Math.round(right));
  }
  return out.slice(0, 8).join('; ');
})()`;

async function open(route: string, width: number): Promise<{ html: string; scrollWidth: number; wide: string }> {
  const context = await browser.newContext({
    viewport: { width, height: 900 },
    extraHTTPHeaders: operatorHeaders(stack),
  });
  try {
    const page = await context.newPage();
    const response = await page.goto(`${stack.url}${route}`);
    expect(response?.status()).toBe(200);
    const scrollWidth = await page.evaluate('document.documentElement.scrollWidth');
    return {
      html: await page.content(),
      scrollWidth: Number(scrollWidth),
      wide: String(await page.evaluate(WIDE_ELEMENTS)),
    };
  } finally {
    await context.close();
  }
}

async function shoot(name: string, route: string, width: number): Promise<void> {
  if (!SHOTS) return;
  const context = await browser.newContext({
    viewport: { width, height: 900 },
    extraHTTPHeaders: operatorHeaders(stack),
  });
  const page = await context.newPage();
  await page.goto(`${stack.url}${route}`);
  await page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
  await context.close();
}

describe('pages that lead to the decision', () => {
  it('the runs list shows commit titles and links each pending approval', async () => {
    const { html } = await open(pages.runs!, 1280);
    expect(html).toContain('Upgrade the cluster to v2');
    expect(html).toContain(`href="${pages.approval}"`);
    // The superseded run has no approval left to decide: no link to it.
    expect(html).not.toContain(`href="${pages.superseded}"`);
  });

  it('the run page links its pending approval and shows the commit title', async () => {
    const { html } = await open(pages.run!, 1280);
    expect(html).toContain(`href="${pages.approval}"`);
    expect(html).toContain('apps waits for a decision');
    expect(html).toContain('Upgrade the cluster to v2');
  });

  it('a superseded approval links to the current one', async () => {
    const { html } = await open(pages.superseded!, 1280);
    expect(html).toContain('superseded');
    expect(html).toContain(`href="${pages.approval}"`);
  });

  it("a failed run's stages say why apps was skipped", async () => {
    const { html } = await open(pages.failed!, 1280);
    expect(html).toContain('skipped because ops failed');
    expect(html).not.toContain('not planned yet');
  });

  for (const width of WIDTHS) {
    it(`every page fits a ${width} px wide window`, { timeout: 240_000 }, async () => {
      for (const [name, route] of Object.entries(pages)) {
        const { scrollWidth, wide } = await open(route, width);
        expect(scrollWidth, `${name} (${route}) is ${scrollWidth} px wide: ${wide}`).toBeLessThanOrEqual(width);
        await shoot(name, route, width);
      }
    });
  }
});
