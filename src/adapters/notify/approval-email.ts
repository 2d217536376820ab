import { EMAIL } from '../../config/patterns.js';
import type { ApprovalRequest, Notifier } from '../../domain/ports.js';
import type { Run } from '../../domain/run.js';
import { approvalFacts } from './approval-facts.js';
import { escapeHtml, oneLine, stripTerminalEscapes } from './escape.js';

/**
 * Approval mail, rendered once for every transport (SES in AWS, SMTP locally). Every approver named
 * by address gets the same plain link to the approval page: it carries no identity and no secret, so a
 * forwarded mail gives nobody anything; the page decides who is clicking from their sign-in.
 */

export interface EmailMessage {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** A transport: SES SendEmail, or nodemailer over SMTP. */
export interface EmailSender {
  send(message: EmailMessage): Promise<void>;
}

// Mail clients clip long messages (Gmail at about 100 KB); the page always has the whole plan.
const MAX_PLAN_IN_MAIL = 40_000;

function planExcerpt(planText: string | undefined): string | undefined {
  if (planText === undefined) return undefined;
  const clean = stripTerminalEscapes(planText);
  if (clean.length <= MAX_PLAN_IN_MAIL) return clean;
  const cut = clean.lastIndexOf('\n', MAX_PLAN_IN_MAIL);
  return `${clean.slice(0, cut > 0 ? cut : MAX_PLAN_IN_MAIL)}\n… (cut: the approval page shows the whole plan)`;
}

export function renderApprovalEmail(request: ApprovalRequest, to: string, from: string): EmailMessage {
  const facts = approvalFacts(request);
  const plan = planExcerpt(request.planText);
  const subject = oneLine(
    `[tfgate] Approve ${facts.environment} of ${facts.repository} (${facts.summary}): ${facts.shortSha} ${facts.title}`,
    200,
  );
  const rows: Array<[string, string]> = [
    ['Repository', facts.repository],
    ['Environment', facts.environment],
    ['Commit', `${facts.shortSha} ${facts.title}`],
    ['Author', facts.author],
    ['Plan', facts.summary],
    ['Expires', facts.expiresAt],
  ];
  const text = [
    `${facts.environment} of ${facts.repository} is waiting for approval; you are one of its approvers.`,
    '',
    ...rows.map(([label, value]) => `${label}: ${value}`),
    '',
    `Review the plan and approve or reject it here (you will be asked to sign in): ${request.url}`,
    'Opening the link changes nothing; the decision is made with the buttons on the page, as the person you ' +
      'signed in as.',
    ...(facts.runUrl ? [`The run: ${facts.runUrl}`] : []),
    ...(plan !== undefined ? ['', 'Plan:', plan] : []),
    '',
  ].join('\n');
  const tableRows = rows
    .map(
      ([label, value]) =>
        `<tr><th align="left" style="padding-right:1em">${escapeHtml(label)}</th><td>${escapeHtml(value)}</td></tr>`,
    )
    .join('');
  const buttonStyle =
    'display:inline-block;padding:.6em 1.2em;background:#1f883d;color:#fff;border-radius:6px;text-decoration:none';
  const runLink = facts.runUrl ? ` <a href="${escapeHtml(facts.runUrl)}">The run</a>.` : '';
  const planBlock =
    plan !== undefined
      ? `<pre style="background:#f6f8fa;padding:1em;font-size:12px;white-space:pre-wrap">${escapeHtml(plan)}</pre>`
      : '';
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>
<body style="font-family:system-ui,sans-serif;color:#1b1f24">
<p><strong>${escapeHtml(facts.environment)}</strong> of <strong>${escapeHtml(facts.repository)}</strong>
is waiting for approval; you are one of its approvers.</p>
<table>${tableRows}</table>
<p><a href="${escapeHtml(request.url)}" style="${buttonStyle}">Review and decide</a></p>
<p style="color:#57606a">You will be asked to sign in. Opening the link changes nothing;
the decision is made with the buttons on the page.${runLink}</p>
${planBlock}
</body></html>`;
  return { from, to, subject, text, html };
}

export function renderNoticeEmail(run: Run, message: string, runUrl: string, from: string, to: string): EmailMessage {
  const subject = oneLine(`[tfgate] ${run.repository}@${run.sha.slice(0, 7)}: ${message}`, 200);
  return {
    from,
    to,
    subject,
    text: `${message}\n\nThe run: ${runUrl}\n`,
    html:
      `<!doctype html><html><head><meta charset="utf-8"></head><body><p>${escapeHtml(message)}</p><p><a ` +
      `href="${escapeHtml(runUrl)}">The run</a></p></body></html>`,
  };
}

export interface EmailNotifierOptions {
  from: string;
  /** Who gets run notices (drift, failures); approval mail goes to each approver named by address. */
  noticeRecipients?: string[];
}

export class EmailNotifier implements Notifier {
  constructor(
    private readonly sender: EmailSender,
    private readonly options: EmailNotifierOptions,
  ) {}

  async approvalRequested(request: ApprovalRequest): Promise<void> {
    // Approvers named by GitHub login or team are told through Slack or GitHub; mail goes to addresses.
    const recipients = [...new Set(request.approval.approvers.filter((entry) => EMAIL.test(entry)))];
    await sendEach(
      recipients.map((to) => renderApprovalEmail(request, to, this.options.from)),
      this.sender,
    );
  }

  async runNotice(run: Run, message: string, runUrl: string): Promise<void> {
    const recipients = [...new Set(this.options.noticeRecipients ?? [])];
    await sendEach(
      recipients.map((to) => renderNoticeEmail(run, message, runUrl, this.options.from, to)),
      this.sender,
    );
  }
}

/** One approver's mail failing must not keep it from the others; the failures are reported together. */
async function sendEach(messages: EmailMessage[], sender: EmailSender): Promise<void> {
  const failures: string[] = [];
  for (const message of messages) {
    try {
      await sender.send(message);
    } catch (error) {
      failures.push(`${message.to}: ${(error as Error)?.message ?? String(error)}`);
    }
  }
  if (failures.length > 0)
    throw new Error(
      `sending approval mail failed for ${failures.length} of ${messages.length}: ${failures.join('; ')}`,
    );
}
