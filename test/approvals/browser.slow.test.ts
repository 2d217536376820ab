import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  nextApproval,
  pushChange,
  runForSha,
  startTestStack,
  terraformFiles,
  until,
  waitForRun,
  type TestStack,
} from '../support/local-stack.js';
import { slackButtons, startSlackReceiver, type SlackReceiver } from './receivers.js';

/**
 * A person's path in a real browser: the link from the Slack message, the sign-in page, the one-time
 * link from the console (no SMTP configured), the plan on the page, the Approve button, the
 * confirmation, and the run finishing. Debian's chromium (`apt-get install chromium`), headless;
 * screenshots are kept under test-artifacts/.
 */

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

let stack: TestStack | undefined;
let slack: SlackReceiver | undefined;
let context: BrowserContext | undefined;
let profile: string | undefined;

afterEach(async () => {
  await context?.close();
  await stack?.cleanup();
  await slack?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
  context = stack = slack = profile = undefined;
});

describe('approving in a browser', () => {
  it(
    'opens the link from Slack, signs in with the emailed link, shows the plan, approves, ' +
      'confirms, and the run finishes',
    async () => {
      slack = await startSlackReceiver();
      stack = await startTestStack({
        config: [
          'repositories:',
          '  - name: acme/infrastructure',
          '    environments:',
          '      - name: apps',
          '        approval:',
          '          approvers: [alice@example.com, bob@example.com]',
          // An email sign-in no binding ties to a login could be anyone, even the local pusher: Alice is bound.
          'people:',
          '  - github: alice',
          '    emails: [alice@example.com]',
          'notifications:',
          `  slack: { webhookUrl: "${slack.url}" }`,
          '',
        ].join('\n'),
      });
      const requested = nextApproval(stack);
      const sha = await pushChange(stack, terraformFiles({ cluster: 'browser-cluster', ingress: 'browser-ingress' }), {
        message: 'Add the ingress for the browser test',
      });
      const run = await runForSha(stack, sha);
      await requested;
      const receiver = slack;
      const button = await (async () => {
        for (let i = 0; i < 200 && receiver.messages.length === 0; i++)
          await new Promise((resolve) => setTimeout(resolve, 25));
        return slackButtons(receiver.messages[0]!).find((b) => b.label === 'Review and decide')!;
      })();

      profile = await mkdtemp(path.join(os.tmpdir(), 'tfgate-chromium-'));
      context = await chromium.launchPersistentContext(profile, {
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
        viewport: { width: 1100, height: 900 },
      });
      const page = context.pages()[0] ?? (await context.newPage());
      const scripts: string[] = [];
      page.on('console', (message) => scripts.push(message.text()));

      const opened = await page.goto(button.url);
      expect(opened?.status()).toBe(200);
      // Nobody is signed in yet: the sign-in page, then the link printed on the console, then back here.
      expect(await page.title()).toBe('Sign in to tfgate');
      await page.locator('input[name="email"]').fill('alice@example.com');
      await Promise.all([page.waitForNavigation(), page.locator('#email-sign-in').click()]);
      expect(await page.locator('#sign-in-message').innerText()).toContain('a sign-in link is on its way');
      const printed = await until('the sign-in link on the console', () =>
        stack!.lines.find((line) => line.startsWith('sign-in link for alice@example.com')),
      );
      await page.goto(/(http:\/\/\S+)$/.exec(printed)![1]!);
      await Promise.all([page.waitForNavigation(), page.locator('#confirm-sign-in').click()]);
      await expect.poll(() => page.title()).toBe('Approve apps for acme/infrastructure');
      expect(page.url()).toBe(button.url);
      const plan = await page.locator('#plan-text').innerText();
      expect(plan).toContain('terraform_data.cluster will be created');
      expect(plan).toContain('terraform_data.ingress will be created');
      expect(plan).toMatch(/Plan: 2 to add, 0 to change, 0 to destroy/);
      expect(await page.locator('#signed-in-as').innerText()).toBe('@alice');
      expect(await page.locator('#approval-status').innerText()).toBe('pending');
      await mkdir(ARTIFACTS, { recursive: true });
      const pageShot = path.join(ARTIFACTS, 'approval-page.png');
      await page.screenshot({ path: pageShot, fullPage: true });
      // Opening the page in a browser decides nothing either.
      expect((await stack.stores.approvals.get((await stack.runs.get(run.id))!.stages[0]!.approval!.id))?.status).toBe(
        'pending',
      );

      await page.getByRole('button', { name: 'Approve and apply' }).click();
      await page.waitForSelector('#decision-result');
      expect(await page.locator('h1').innerText()).toBe('Approved');
      expect(await page.locator('#decision-result').innerText()).toBe(
        'Approved by @alice. The saved plan is being applied to apps.',
      );
      const confirmationShot = path.join(ARTIFACTS, 'approval-confirmation.png');
      await page.screenshot({ path: confirmationShot, fullPage: true });

      const finished = await waitForRun(stack, run.id);
      expect(finished.status).toBe('succeeded');
      expect(finished.stages[0]).toMatchObject({
        status: 'applied',
        approval: { status: 'approved', by: '@alice' },
      });

      await page.getByRole('link', { name: 'See the run' }).click();
      await expect.poll(() => page.locator('#run-status').innerText()).toBe('succeeded');
      expect(scripts).toEqual([]);
      console.log(`approval page screenshot: ${pageShot}\nconfirmation screenshot: ${confirmationShot}`);
    },
  );
});
