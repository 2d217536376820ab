import type { ApprovalRequest, Notifier } from '../../domain/ports.js';
import type { Run } from '../../domain/run.js';
import { approvalFacts } from './approval-facts.js';
import { escapeSlack, oneLine } from './escape.js';
import { TfgateError } from '../../domain/errors.js';

/**
 * Approval requests and notices posted to a Slack incoming webhook as Block Kit messages.
 *
 * One plain URL button to the approval page: no identity and no secret in it, because a channel shows
 * it to everyone. Opening it decides nothing (the decision is the page's POST, by whoever signed in),
 * and unfurling is turned off so Slack does not fetch the link into the channel.
 *
 * The webhook URL is a credential: it never appears in an error, a log line or a message.
 */

export interface SlackNotifierOptions {
  /** The webhook URL, or how to get it (Secrets Manager in AWS, read on first use). */
  webhookUrl: string | (() => Promise<string>);
  timeoutMs?: number;
  /** Wait before the one retry when Slack gives no Retry-After. */
  retryDelayMs?: number;
  /** Longest Retry-After honoured; longer waits fail instead of holding the Lambda open. */
  maxRetryAfterMs?: number;
  fetch?: typeof fetch;
}

export class SlackDeliveryError extends TfgateError {
  override name = 'SlackDeliveryError';
}

export interface SlackMessage {
  text: string;
  blocks: unknown[];
  unfurl_links: false;
  unfurl_media: false;
}

// Block Kit: 150 characters in a header, 2000 in a section field.
const HEADER_MAX = 150;
const FIELD_MAX = 1900;

function field(label: string, value: string): { type: 'mrkdwn'; text: string } {
  const text = `*${label}*\n${value}`;
  return { type: 'mrkdwn', text: text.length > FIELD_MAX ? `${text.slice(0, FIELD_MAX - 1)}…` : text };
}

/** The approval request as one message (a list kept for callers that post each). */
export function approvalMessages(request: ApprovalRequest): SlackMessage[] {
  const facts = approvalFacts(request);
  const header = oneLine(`Approval needed: ${facts.environment} of ${facts.repository}`, HEADER_MAX);
  // The fallback text shows in notifications and is parsed for mentions too.
  const fallback = escapeSlack(
    `${facts.repository}: ${facts.environment} is waiting for approval (${facts.summary}), commit ` +
      `${facts.shortSha} ${facts.title}`,
  );
  const blocks = [
    { type: 'header', text: { type: 'plain_text', text: header } },
    {
      type: 'section',
      fields: [
        field('Repository', escapeSlack(facts.repository)),
        field('Environment', escapeSlack(facts.environment)),
        field('Commit', `\`${escapeSlack(facts.shortSha)}\` ${escapeSlack(facts.title)}`),
        field('Author', escapeSlack(facts.author)),
        field('Plan', escapeSlack(facts.summary)),
        field('Expires', escapeSlack(facts.expiresAt)),
      ],
    },
    {
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text:
            'The button opens the approval page; approvers sign in there, and nothing is decided until they ' +
            'confirm.',
        },
      ],
    },
    {
      type: 'actions',
      block_id: 'approval',
      elements: [
        {
          type: 'button',
          action_id: 'review',
          style: 'primary',
          text: { type: 'plain_text', text: 'Review and decide' },
          url: request.url,
        },
      ],
    },
  ];
  return [{ text: fallback, blocks, unfurl_links: false, unfurl_media: false }];
}

export function noticeMessage(run: Run, message: string, runUrl: string): SlackMessage {
  const text = escapeSlack(`${run.repository}@${run.sha.slice(0, 7)}: ${oneLine(message, 1500)}`);
  return {
    text,
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text:
            `*${escapeSlack(run.repository)}* \`${escapeSlack(run.sha.slice(0, 7))}\`: ` +
            `${escapeSlack(oneLine(message, 1500))}`,
        },
      },
      {
        type: 'actions',
        elements: [
          { type: 'button', action_id: 'run', text: { type: 'plain_text', text: 'Open the run' }, url: runUrl },
        ],
      },
    ],
    unfurl_links: false,
    unfurl_media: false,
  };
}

export class SlackNotifier implements Notifier {
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;
  private readonly retryDelayMs: number;
  private readonly maxRetryAfterMs: number;

  constructor(private readonly options: SlackNotifierOptions) {
    this.fetch = options.fetch ?? globalThis.fetch;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retryDelayMs = options.retryDelayMs ?? 1000;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 10_000;
  }

  async approvalRequested(request: ApprovalRequest): Promise<void> {
    for (const message of approvalMessages(request)) await this.post(message);
  }

  async runNotice(run: Run, message: string, runUrl: string): Promise<void> {
    await this.post(noticeMessage(run, message, runUrl));
  }

  /** POSTs once, and once more after a 429 or 5xx; every error names Slack, never the URL. */
  async post(message: SlackMessage): Promise<void> {
    const url = typeof this.options.webhookUrl === 'string' ? this.options.webhookUrl : await this.options.webhookUrl();
    const body = JSON.stringify(message);
    for (let attempt = 1; ; attempt++) {
      let response: Response;
      try {
        response = await this.fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json; charset=utf-8' },
          body,
          signal: AbortSignal.timeout(this.timeoutMs),
          redirect: 'error',
        });
      } catch (error) {
        // fetch's own messages can carry the address; only the kind of failure is kept.
        const kind =
          (error as Error)?.name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : 'the request failed';
        throw new SlackDeliveryError(`Slack webhook: ${kind}`);
      }
      if (response.ok) {
        await response.body?.cancel().catch(() => undefined);
        return;
      }
      const detail = oneLine(await response.text().catch(() => ''), 200);
      const retryable = response.status === 429 || response.status >= 500;
      if (!retryable || attempt >= 2)
        throw new SlackDeliveryError(`Slack webhook answered ${response.status}${detail ? `: ${detail}` : ''}`);
      const wait = this.retryWait(response.headers.get('retry-after'));
      if (wait === undefined)
        throw new SlackDeliveryError(
          `Slack webhook answered ${response.status} and asked to wait longer than ${this.maxRetryAfterMs} ms`,
        );
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  private retryWait(retryAfter: string | null): number | undefined {
    if (retryAfter === null || !/^\d+$/.test(retryAfter.trim())) return this.retryDelayMs;
    const ms = Number(retryAfter.trim()) * 1000;
    return ms <= this.maxRetryAfterMs ? ms : undefined;
  }
}
