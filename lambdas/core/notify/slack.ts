import type { ApprovalLink, ApprovalRequest, Notifier } from '../domain/ports.js';
import type { Run } from '../domain/run.js';
import { approvalFacts } from './approval-facts.js';
import { escapeSlack, oneLine } from './escape.js';

/**
 * Approval requests and notices posted to a Slack incoming webhook as Block Kit messages.
 *
 * The buttons are plain URL buttons to the approval page: opening it decides nothing (the decision is
 * the page's POST), and unfurling is turned off so Slack does not fetch the links into the channel.
 * A link names its approver, and a shared channel shows every button to everyone, so each button says
 * whose it is; nobody should have to guess which one is theirs.
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

export class SlackDeliveryError extends Error {
  override name = 'SlackDeliveryError';
}

export interface SlackMessage {
  text: string;
  blocks: unknown[];
  unfurl_links: false;
  unfurl_media: false;
}

// Block Kit: 50 blocks a message, 150 characters in a header, 2000 in a section field, 75 in a button label.
const APPROVERS_PER_MESSAGE = 20;
const HEADER_MAX = 150;
const FIELD_MAX = 1900;
const BUTTON_LABEL_MAX = 75;

function field(label: string, value: string): { type: 'mrkdwn'; text: string } {
  const text = `*${label}*\n${value}`;
  return { type: 'mrkdwn', text: text.length > FIELD_MAX ? `${text.slice(0, FIELD_MAX - 1)}…` : text };
}

function buttonLabel(verb: string, approver: string | undefined): string {
  return oneLine(approver ? `${verb} as ${approver}` : verb, BUTTON_LABEL_MAX);
}

function approverBlocks(links: ApprovalLink[], offset: number): unknown[] {
  return links.map((link, index) => {
    const n = offset + index;
    return {
      type: 'actions',
      block_id: `approver-${n}`,
      elements: [
        { type: 'button', action_id: `approve-${n}`, style: 'primary', text: { type: 'plain_text', text: buttonLabel('Approve', link.approver) }, url: link.url },
        { type: 'button', action_id: `reject-${n}`, style: 'danger', text: { type: 'plain_text', text: buttonLabel('Reject', link.approver) }, url: link.url },
      ],
    };
  });
}

/** One message per group of approvers (Block Kit caps blocks per message); usually exactly one. */
export function approvalMessages(request: ApprovalRequest): SlackMessage[] {
  const facts = approvalFacts(request);
  const header = oneLine(`Approval needed: ${facts.environment} of ${facts.repository}`, HEADER_MAX);
  // The fallback text shows in notifications and is parsed for mentions too.
  const fallback = escapeSlack(`${facts.repository}: ${facts.environment} is waiting for approval (${facts.summary}), commit ${facts.shortSha} ${facts.title}`);
  const personal = request.links.some((link) => link.approver !== undefined);
  const intro = [
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
          text: personal
            ? 'Each button opens the approval page for the approver it names; use only your own. Nothing is decided until you confirm on that page.'
            : 'The buttons open the approval page; nothing is decided until you confirm there.',
        },
      ],
    },
  ];
  const messages: SlackMessage[] = [];
  for (let offset = 0; offset < request.links.length; offset += APPROVERS_PER_MESSAGE) {
    const group = request.links.slice(offset, offset + APPROVERS_PER_MESSAGE);
    messages.push({ text: fallback, blocks: [...intro, ...approverBlocks(group, offset)], unfurl_links: false, unfurl_media: false });
  }
  return messages;
}

export function noticeMessage(run: Run, message: string, runUrl: string): SlackMessage {
  const text = escapeSlack(`${run.repository}@${run.sha.slice(0, 7)}: ${oneLine(message, 1500)}`);
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${escapeSlack(run.repository)}* \`${escapeSlack(run.sha.slice(0, 7))}\`: ${escapeSlack(oneLine(message, 1500))}` } },
      { type: 'actions', elements: [{ type: 'button', action_id: 'run', text: { type: 'plain_text', text: 'Open the run' }, url: runUrl }] },
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
        const kind = (error as Error)?.name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : 'the request failed';
        throw new SlackDeliveryError(`Slack webhook: ${kind}`);
      }
      if (response.ok) {
        await response.body?.cancel().catch(() => undefined);
        return;
      }
      const detail = oneLine(await response.text().catch(() => ''), 200);
      const retryable = response.status === 429 || response.status >= 500;
      if (!retryable || attempt >= 2) throw new SlackDeliveryError(`Slack webhook answered ${response.status}${detail ? `: ${detail}` : ''}`);
      const wait = this.retryWait(response.headers.get('retry-after'));
      if (wait === undefined) throw new SlackDeliveryError(`Slack webhook answered ${response.status} and asked to wait longer than ${this.maxRetryAfterMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  private retryWait(retryAfter: string | null): number | undefined {
    if (retryAfter === null || !/^\d+$/.test(retryAfter.trim())) return this.retryDelayMs;
    const ms = Number(retryAfter.trim()) * 1000;
    return ms <= this.maxRetryAfterMs ? ms : undefined;
  }
}
