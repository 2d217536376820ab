import { renderSummaryLine } from '../../domain/plan-summary.js';
import type { ApprovalRequest } from '../../domain/ports.js';
import { oneLine } from './escape.js';

/** The facts every approval notification shows, worked out once so Slack and email say the same. */
export interface ApprovalFacts {
  repository: string;
  environment: string;
  sha: string;
  shortSha: string;
  /** First line of the commit message, cut. */
  title: string;
  author: string;
  summary: string;
  expiresAt: string;
  /** The run page, beside the approval links (same server). */
  runUrl: string | undefined;
}

export function approvalFacts(request: ApprovalRequest): ApprovalFacts {
  const { run, stage, approval } = request;
  const firstLine = (run.message ?? '').split('\n')[0] ?? '';
  const author = run.author?.name ?? run.author?.login ?? run.author?.email ?? run.pusher ?? 'unknown';
  const authorEmail = run.author?.email && run.author.email !== author ? ` <${run.author.email}>` : '';
  const link = request.url;
  return {
    repository: run.repository,
    environment: approval.environment,
    sha: run.sha,
    shortSha: run.sha.slice(0, 7),
    title: oneLine(firstLine, 120) || '(no commit message)',
    author: oneLine(`${author}${authorEmail}`, 200),
    summary: stage.plan ? renderSummaryLine(stage.plan) : 'plan recorded',
    expiresAt: new Date(approval.expiresAt * 1000).toISOString(),
    runUrl: link ? runUrlBeside(link, run.id) : undefined,
  };
}

/** The approvals and runs routes share one base URL (which may carry a path prefix). */
function runUrlBeside(approvalLink: string, runId: string): string | undefined {
  const match = /^(.*)\/approvals\/[0-9a-f]{32}(?:\?.*)?$/.exec(approvalLink);
  return match ? `${match[1]}/runs/${encodeURIComponent(runId)}` : undefined;
}
