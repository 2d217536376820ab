import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  configYaml,
  operatorHeaders,
  pushChange,
  runForSha,
  startTestStack,
  until,
  waitForRun,
  type TestStack,
} from '../support/local-stack.js';

/**
 * The run page shows a running build's output as it happens: a whole local stack, the terraform
 * double told to hold the plan and the apply for a few seconds, the log route read while the build
 * is still running and after it ended, and (where Debian's chromium is installed) the page's own
 * script updating the output in a real browser under the page's content security policy.
 */

const CHROMIUM = '/usr/bin/chromium';
const HOLD_MS = 3000;
const HOSTILE = '<script>alert(1)</script>';

interface LogView {
  status: string;
  mode: string;
  running: boolean;
  lines: string[];
}

let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.cleanup();
  stack = undefined;
});

async function logView(url: string, runId: string, environment: string, mode?: string): Promise<LogView> {
  const response = await fetch(`${url}/runs/${runId}/${environment}/log${mode ? `?mode=${mode}` : ''}`, {
    headers: { accept: 'application/json', ...operatorHeaders(url) },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as LogView;
}

describe('live build output on the run page', () => {
  it('shows output lines while the plan is still running, and the final output after', async () => {
    stack = await startTestStack({
      config: configYaml({ environments: ['ops'], approval: false }),
      buildEnv: { TFGATE_DOUBLE_DELAY_MS: String(HOLD_MS) },
    });
    const sha = await pushChange(stack, {
      'main.tf': `resource "terraform_data" "x" {\n  input = "${HOSTILE.replace(/"/g, '\\"')}"\n}\n`,
    });
    const run = await runForSha(stack, sha);
    const url = stack.url;

    // Behind the sign-in gate like every run route.
    const anonymous = await fetch(`${url}/runs/${run.id}/ops/log`, { headers: { accept: 'application/json' } });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).not.toContain('tfgate:');

    // While terraform holds the plan, the lines printed so far are there and the build is running.
    const during = await until(
      'plan output while planning',
      async () => {
        const view = await logView(url, run.id, 'ops');
        return view.running && view.lines.length > 0 ? view : undefined;
      },
      180_000,
    );
    expect(during).toMatchObject({ status: 'planning', mode: 'plan', running: true });
    expect(during.lines.join('\n')).toContain('tfgate: source');
    expect(during.lines.join('\n')).not.toContain('tfgate: plan for ops');
    const page = await (await fetch(`${url}/runs/${run.id}`, { headers: operatorHeaders(url) })).text();
    expect(page).toContain('data-running="true"');
    expect(page).toContain('tfgate: source');

    const ended = await waitForRun(stack, run.id, 60_000);
    expect(ended.status).toBe('succeeded');
    const plan = await logView(url, run.id, 'ops', 'plan');
    expect(plan.running).toBe(false);
    expect(plan.lines.join('\n')).toContain('tfgate: plan for ops: +1 ~0 -0');
    const apply = await logView(url, run.id, 'ops');
    expect(apply).toMatchObject({ mode: 'apply', running: false });
    expect(apply.lines.join('\n')).toContain('tfgate: applied ops');

    const final = await (await fetch(`${url}/runs/${run.id}`, { headers: operatorHeaders(url) })).text();
    expect(final).toContain('tfgate: applied ops');
    expect(final).not.toContain('data-running="true"');
    expect(final).not.toContain(HOSTILE);
  }, 300_000);

  it.skipIf(!existsSync(CHROMIUM))(
    "updates in a browser while the build runs, under the page's content security policy",
    async () => {
      // The apply prints one line, then waits for the test to have looked at the page; prints another, then
      // waits until the page showed it. Files gate it, not sleeps, so a loaded machine changes nothing.
      // (Arithmetic, so the command line itself, also in the log, names neither line.) The gate files
      // live in the test's directory, which a build's sandbox does not show: this test is about the page,
      // so its builds run unsandboxed (the sandbox has its own tests).
      const gates = await mkdtemp(path.join(os.tmpdir(), 'tfgate-live-gates-'));
      const second = path.join(gates, 'second');
      const finish = path.join(gates, 'finish');
      const waitFor = (file: string) => `while [ ! -e ${file} ]; do sleep 0.1; done`;
      stack = await startTestStack({
        config: configYaml({ environments: ['ops'], approval: false }),
        bwrap: path.join(gates, 'no-bwrap'),
      });
      const provisioner =
        `provisioner "local-exec" {\n    command = "echo live-$((10+1)); ${waitFor(second)}; ` +
        `echo live-$((20+2)); ${waitFor(finish)}"\n  }`;
      const sha = await pushChange(stack, {
        'main.tf': `resource "terraform_data" "x" {\n  input = "v"\n  ${provisioner}\n}\n`,
      });
      const run = await runForSha(stack, sha);
      const url = stack.url;
      await until(
        'the apply to be running with its first line',
        async () => {
          const view = await logView(url, run.id, 'ops');
          return view.running && view.mode === 'apply' && view.lines.some((line) => line.endsWith('live-11'))
            ? view
            : undefined;
        },
        180_000,
      );

      const profile = await mkdtemp(path.join(os.tmpdir(), 'tfgate-chromium-'));
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
        extraHTTPHeaders: operatorHeaders(url),
      });
      try {
        const page = context.pages()[0] ?? (await context.newPage());
        const console: string[] = [];
        const dialogs: string[] = [];
        page.on('console', (message) => console.push(message.text()));
        page.on('dialog', (dialog) => {
          dialogs.push(dialog.message());
          void dialog.dismiss();
        });
        let loads = 0;
        page.on('load', () => (loads += 1));
        await page.goto(`${url}/runs/${run.id}`);
        const output = page.locator('#log-ops pre');
        expect(await output.textContent()).toContain('live-11');
        expect(await output.textContent()).not.toContain('live-22');
        await writeFile(second, '');
        // The script reads the route and writes the new line in place: still the first load of the page.
        // (Polled from here: the page's policy forbids evaluating strings, and the test does not need to.)
        await until(
          'the script to show the second line',
          async () => ((await output.textContent())?.includes('live-22') ? true : undefined),
          180_000,
        );
        expect(loads).toBe(1);
        await writeFile(finish, '');
        // When the build ends the page reloads itself once for the final status.
        await until(
          'the page to reload to the final status',
          async () =>
            (await page
              .locator('#run-status')
              .textContent()
              .catch(() => null)) === 'succeeded'
              ? true
              : undefined,
          180_000,
        );
        expect(await page.locator('#log-ops pre').textContent()).toContain('tfgate: applied ops');
        expect(console.filter((line) => /Content Security Policy|Refused/i.test(line))).toEqual([]);
        expect(dialogs).toEqual([]);
      } finally {
        await context.close();
        await rm(profile, { recursive: true, force: true });
        // Never leaves the build waiting, whatever failed above.
        await writeFile(second, '').catch(() => undefined);
        await writeFile(finish, '').catch(() => undefined);
      }
      await until('the run to end', async () => ((await logView(url, run.id, 'ops')).running ? undefined : true));
      await rm(gates, { recursive: true, force: true });
    },
    600_000,
  );
});
