import { SendEmailCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSesNotifier } from '../../src/adapters/aws/ses-notifier.js';
import type { ApprovalRequest } from '../../src/domain/ports.js';
import type { Run } from '../../src/domain/run.js';
import { SlackDeliveryError, SlackNotifier } from '../../src/adapters/notify/slack.js';
import { createSmtpNotifier } from '../../src/adapters/notify/smtp.js';
import {
  slackButtons,
  startSlackReceiver,
  startSmtpReceiver,
  type SlackReceiver,
  type SmtpReceiver,
} from './receivers.js';
import { aPlanSummary, anApproval, aRun, aStage } from '../support/builders.js';

const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAT0psecret-task-token-must-never-leave-the-table';
const APPROVAL_ID = '0123456789abcdef0123456789abcdef';
const BASE = 'https://approvals.example.test';
const PLAIN_LINK = `${BASE}/approvals/${APPROVAL_ID}`;

/** A link may carry nothing but the approval page's path: no query (no identity, no signature, no token). */
function expectPlain(url: string): void {
  expect(url).toBe(PLAIN_LINK);
  expect(new URL(url).search).toBe('');
}

function request(options: { approvers?: string[] } = {}): ApprovalRequest {
  const approvers = options.approvers ?? ['alice@example.com', 'bob@example.com'];
  const run: Run = aRun({
    id: 'run-1',
    sha: 'abcdef0123456789abcdef0123456789abcdef01',
    status: 'awaiting_approval',
    createdAt: '2026-01-01T00:00:00.000Z',
    pusher: 'carol@example.com',
    author: { name: 'Carol <script>alert(1)</script>', email: 'carol@example.com' },
    message: 'Grow the <b>cluster</b> & ping <!channel>\n\nSecond line stays out of the title',
    sequence: 3,
    executionName: 'exec-1',
    stages: [
      aStage('apps', { status: 'awaiting_approval', plan: aPlanSummary({ add: 2, change: 1 }), transitions: [] }),
    ],
  });
  return {
    approval: anApproval({
      id: APPROVAL_ID,
      runId: run.id,
      repository: run.repository,
      environment: 'apps',
      sha: run.sha,
      planSha256: 'f'.repeat(64),
      createdAt: run.createdAt,
      expiresAt: 1_800_000_000,
      taskToken: TOKEN,
      approvers,
    }),
    run,
    stage: run.stages[0]!,
    url: PLAIN_LINK,
    planText:
      'Terraform will perform the following actions:\n  # terraform_data.cluster will be created <img src=x ' +
      'onerror=alert(1)>\n\u001b[1mPlan:\u001b[0m 2 to add, 1 to change, 0 to destroy.\n',
  };
}

describe('Slack notifier', () => {
  let slack: SlackReceiver;
  beforeEach(async () => {
    slack = await startSlackReceiver();
  });
  afterEach(async () => {
    await slack.close();
  });

  it(
    'posts one Block Kit message with one plain link (no identity, no secret), unfurling off, no ' + 'task token',
    async () => {
      await new SlackNotifier({ webhookUrl: slack.url }).approvalRequested(request());
      expect(slack.messages).toHaveLength(1);
      const message = slack.messages[0]!;
      expect(message.unfurl_links).toBe(false);
      expect(message.unfurl_media).toBe(false);
      expect(slack.requests[0]!.contentType).toMatch(/^application\/json/);
      const buttons = slackButtons(message);
      expect(buttons.map((b) => b.label)).toEqual(['Review and decide']);
      for (const button of buttons) expectPlain(button.url);
      const text = JSON.stringify(message);
      // Nobody's identity is in the message's links or labels: the page asks who is clicking.
      expect(text).not.toContain('alice@example.com');
      expect(text).not.toContain('?as=');
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain('taskToken');
      // Repository, short sha with the first line of the message, author, environment, plan summary.
      expect(text).toContain('acme/infrastructure');
      expect(text).toContain('`abcdef0` Grow the &lt;b&gt;cluster&lt;/b&gt; &amp; ping &lt;!channel&gt;');
      expect(text).not.toContain('Second line');
      expect(text).not.toContain('<!channel>');
      expect(text).toContain('Carol &lt;script&gt;');
      expect(text).toContain('*Environment*\\napps');
      expect(text).toContain('+2 ~1 -0');
    },
  );

  it('retries once after a 429 or a 5xx, then gives up without naming the webhook URL', async () => {
    slack.failWith.push(429);
    await new SlackNotifier({ webhookUrl: slack.url, retryDelayMs: 1 }).approvalRequested(request());
    expect(slack.requests).toHaveLength(2);
    expect(slack.messages).toHaveLength(1);

    slack.failWith.push(503, 502);
    const error = await new SlackNotifier({ webhookUrl: slack.url, retryDelayMs: 1 })
      .approvalRequested(request())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SlackDeliveryError);
    expect((error as Error).message).toContain('502');
    expect((error as Error).message).not.toContain('secret');
    expect(slack.requests).toHaveLength(4);
  });

  it('does not retry a 4xx other than 429, and a refused connection names no URL', async () => {
    slack.failWith.push(404);
    await expect(
      new SlackNotifier({ webhookUrl: slack.url, retryDelayMs: 1 }).approvalRequested(request()),
    ).rejects.toThrow(/answered 404: no_service/);
    expect(slack.requests).toHaveLength(1);
    await slack.close();
    const error = (await new SlackNotifier({ webhookUrl: slack.url, timeoutMs: 2000 })
      .approvalRequested(request())
      .catch((e: unknown) => e)) as Error;
    expect(error.message).toBe('Slack webhook: the request failed');
    expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain('XXXXsecretXXXX');
    slack = await startSlackReceiver();
  });
});

describe('SES notifier', () => {
  const ses = mockClient(SESv2Client);
  beforeEach(() => {
    ses.reset();
    ses.on(SendEmailCommand).resolves({ MessageId: 'm-1' });
  });

  it(
    'sends one message per approver named by address, each with the same plain link, HTML and text ' +
      'parts, everything escaped, no task token',
    async () => {
      const req = request({ approvers: ['alice@example.com', '@dave', '@acme/platform', 'bob@example.com'] });
      await createSesNotifier(new SESv2Client({ region: 'us-east-1' }), {
        from: 'tfgate@example.com',
      }).approvalRequested(req);
      const calls = ses.commandCalls(SendEmailCommand);
      expect(calls).toHaveLength(2);
      const sent = calls.map((call) => call.args[0].input);
      expect(sent.map((input) => input.Destination?.ToAddresses)).toEqual([['alice@example.com'], ['bob@example.com']]);
      for (const input of sent) {
        const to = input.Destination!.ToAddresses![0]!;
        const simple = input.Content!.Simple!;
        const html = simple.Body!.Html!.Data!;
        const text = simple.Body!.Text!.Data!;
        expect(input.FromEmailAddress).toBe('tfgate@example.com');
        expect(simple.Subject!.Data).toBe(
          '[tfgate] Approve apps of acme/infrastructure (+2 ~1 -0): abcdef0 Grow the <b>cluster</b> & ping <!channel>',
        );
        expect(text).toContain(req.url);
        expect(html).toContain(`href="${req.url}"`);
        // The one link is a well-formed button: an attribute split by a formatter once leaked `" +` into it.
        expect(html).toMatch(/<a href="[^"]+" style="[^"<>]+">Review and decide<\/a>/);
        expect(html).not.toContain('" +');
        // Every link in the mail is the plain page link (or the run page): no identity, no secret.
        for (const link of `${text} ${html}`.match(/https?:\/\/[^\s"<>]+/g) ?? [])
          expect(new URL(link).search).toBe('');
        expect(`${text}${html}`).not.toContain(to === 'alice@example.com' ? 'bob@example.com' : 'alice@example.com');
        expect(`${text}${html}${simple.Subject!.Data}`).not.toContain(TOKEN);
        expect(html).not.toMatch(/<script|<img|<b>cluster/);
        expect(html).toContain('Carol &lt;script&gt;alert(1)&lt;/script&gt;');
        expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
        expect(text).toContain('Plan: 2 to add, 1 to change, 0 to destroy.');
        expect(text).not.toContain('\u001b');
      }
    },
  );

  it('sends nothing when every approver is a GitHub login or team (there is no address to send to)', async () => {
    await createSesNotifier(new SESv2Client({ region: 'us-east-1' }), { from: 'tfgate@example.com' }).approvalRequested(
      request({ approvers: ['@alice', '@acme/platform'] }),
    );
    expect(ses.commandCalls(SendEmailCommand)).toHaveLength(0);
  });

  it('one failed send does not stop the others, and the failure is reported', async () => {
    ses.reset();
    ses
      .on(SendEmailCommand, { Destination: { ToAddresses: ['alice@example.com'] } })
      .rejects(new Error('MessageRejected: not verified'));
    ses.on(SendEmailCommand, { Destination: { ToAddresses: ['bob@example.com'] } }).resolves({ MessageId: 'm-2' });
    await expect(
      createSesNotifier(new SESv2Client({ region: 'us-east-1' }), { from: 'tfgate@example.com' }).approvalRequested(
        request(),
      ),
    ).rejects.toThrow(/alice@example.com: MessageRejected/);
    expect(ses.commandCalls(SendEmailCommand)).toHaveLength(2);
  });
});

describe('SMTP notifier', () => {
  let smtp: SmtpReceiver;
  beforeEach(async () => {
    smtp = await startSmtpReceiver();
  });
  afterEach(async () => {
    await smtp.close();
  });

  it('sends the same mail over SMTP, with the plain link', async () => {
    const req = request();
    await createSmtpNotifier({ host: smtp.host, port: smtp.port }, { from: 'tfgate@example.com' }).approvalRequested(
      req,
    );
    expect(smtp.mails.map((mail) => mail.to)).toEqual([['alice@example.com'], ['bob@example.com']]);
    for (const mail of smtp.mails) {
      expect(mail.from).toBe('tfgate@example.com');
      expect(mail.raw).toMatch(/Content-Type: text\/plain/i);
      expect(mail.raw).toMatch(/Content-Type: text\/html/i);
      expect(mail.decoded).toContain(req.url);
      expect(mail.decoded).not.toContain('?as=');
      expect(mail.decoded).not.toContain(TOKEN);
      const html = mail.decoded.slice(mail.decoded.search(/Content-Type: text\/html/i));
      expect(html).toContain('Carol &lt;script&gt;');
      expect(html).not.toContain('<script>');
    }
  });
});
