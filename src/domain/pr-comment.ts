/**
 * The pull request comment a plan-only run leaves: one per pull request, found again by its hidden
 * marker and edited in place for every new commit, so the conversation never fills with stale plans.
 * Pure: the caller reads the plan texts and posts the body.
 */
import { stripTerminalEscapes } from './sanitize.js';
import { renderSummaryLine } from './plan-summary.js';
import type { Run, Stage } from './run.js';

export const PLAN_COMMENT_MARKER = '<!-- tfgate:plan -->';
/** GitHub refuses issue comment bodies longer than this many characters. */
export const GITHUB_COMMENT_LIMIT = 65_536;

export interface PlanCommentInput {
  run: Run;
  /** plan.txt per environment, when the stage got that far. */
  planTexts: Record<string, string | undefined>;
  runUrl: string;
  /** Tests use a smaller one; never above GitHub's. */
  limit?: number;
}

/** The short body shown while a new commit is being planned: the previous plan is no longer the head's. */
export function renderPlanningComment(run: Run, runUrl: string): string {
  return [
    PLAN_COMMENT_MARKER,
    `### tfgate plan for \`${run.sha.slice(0, 12)}\``,
    '',
    `Planning ${run.stages.map((stage) => `**${stage.environment}**`).join(', ')}… ([run ${run.id}](${runUrl}))`,
    '',
  ].join('\n');
}

export function renderPlanComment(input: PlanCommentInput): string {
  const limit = Math.min(input.limit ?? GITHUB_COMMENT_LIMIT, GITHUB_COMMENT_LIMIT);
  const plans = input.run.stages.map((stage) => input.planTexts[stage.environment] ?? '');
  let budget = plans.reduce((total, text) => total + text.length, 0);
  // Each pass measures the real body; the notes added by cutting are what the next pass makes room for.
  for (let pass = 0; pass < 8; pass++) {
    const shown = shareBudget(plans, budget).map((share, index) => cutAtLine(plans[index]!, share));
    const body = render(input, shown);
    if (body.length <= limit) return body;
    budget = Math.max(0, shown.reduce((total, cut) => total + cut.text.length, 0) - (body.length - limit) - 64);
  }
  // Only a run with so many environments that their headings alone fill a comment gets here.
  const bare = render(
    input,
    plans.map((text) => ({ text: '', totalLines: lineCount(text), shownLines: 0, cut: text.length > 0 })),
  );
  return bare.length <= limit
    ? bare
    : `${bare.slice(0, Math.max(0, limit - 200)).replace(/\n[^\n]*$/, '')}\n\n_Cut to fit GitHub's limit: [the ` +
        `full plans are on the run page](${input.runUrl})._\n`;
}

interface ShownPlan {
  text: string;
  totalLines: number;
  shownLines: number;
  cut: boolean;
}

/** Splits `budget` characters so short plans are shown whole and the long ones share what is left. */
function shareBudget(plans: string[], budget: number): number[] {
  const shares = plans.map(() => 0);
  const order = plans.map((text, index) => ({ index, length: text.length })).sort((a, b) => a.length - b.length);
  let remaining = budget;
  order.forEach((entry, position) => {
    const fair = Math.floor(remaining / (order.length - position));
    shares[entry.index] = Math.min(entry.length, fair);
    remaining -= shares[entry.index]!;
  });
  return shares;
}

function cutAtLine(text: string, maxChars: number): ShownPlan {
  const totalLines = lineCount(text);
  if (text.length <= maxChars) return { text, totalLines, shownLines: totalLines, cut: false };
  const slice = text.slice(0, maxChars);
  const lastNewline = slice.lastIndexOf('\n');
  const kept = lastNewline >= 0 ? slice.slice(0, lastNewline) : '';
  return { text: kept, totalLines, shownLines: kept === '' ? 0 : lineCount(kept), cut: true };
}

function lineCount(text: string): number {
  if (text === '') return 0;
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

function render(input: PlanCommentInput, shown: ShownPlan[]): string {
  const { run, runUrl } = input;
  const lines = [
    PLAN_COMMENT_MARKER,
    `### tfgate plan for \`${run.sha.slice(0, 12)}\`: ${run.status}`,
    '',
    `[Run ${run.id}](${runUrl}) · ${run.repository} · plans only, nothing is applied from a pull request.`,
    '',
  ];
  for (const [index, stage] of run.stages.entries()) lines.push(...renderStage(stage, shown[index]!, runUrl));
  return lines.join('\n');
}

function renderStage(stage: Stage, plan: ShownPlan, runUrl: string): string[] {
  const heading = `#### ${stage.environment}: ${stageHeadline(stage)}`;
  const lines = [heading, ''];
  if (stage.error) lines.push(...fenced(stage.error, 'text'), '');
  if (plan.totalLines === 0 && !plan.cut) return lines;
  const withChanges = stage.plan?.hasChanges === true;
  lines.push(
    `<details><summary>Plan for ` +
      `${stage.environment}${plan.cut ? ` (cut: ${plan.shownLines} of ${plan.totalLines} lines)` : ''}</summary>`,
    '',
  );
  if (plan.text !== '')
    lines.push(...fenced(withChanges ? asDiff(plan.text) : plan.text, withChanges ? 'diff' : 'text'), '');
  if (plan.cut) {
    lines.push(
      `_The ${stage.environment} plan is cut at ${plan.shownLines} of ${plan.totalLines} lines to fit GitHub's ` +
        `comment limit: [see the full plan on the run page](${runUrl})._`,
      '',
    );
  }
  lines.push('</details>', '');
  return lines;
}

function stageHeadline(stage: Stage): string {
  if (stage.plan) return `\`${renderSummaryLine(stage.plan)}\``;
  return stage.status.replace(/_/g, ' ');
}

/**
 * GitHub colours a diff line by its first character, while terraform indents its + - ~ markers:
 * the marker moves to the front (and ~, which diff does not know, becomes !) so changes stand out.
 */
function asDiff(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      const match = /^(\s+)([+~-]|-\/\+|\+\/-)(\s)/.exec(line);
      if (!match) return line;
      const indent = match[1]!;
      const sign = match[2]!;
      const marker = sign.startsWith('-') ? '-' : sign === '~' ? '!' : '+';
      return `${marker}${indent}${' '.repeat(sign.length - 1)}${line.slice(indent.length + sign.length)}`;
    })
    .join('\n');
}

/** A fence longer than any backtick run inside, so plan text can never close it early. */
function fenced(raw: string, language: string): string[] {
  // Terraform output can carry colour codes and OSC sequences (provisioner output, source lines in
  // errors); GitHub would show them as garbage, so they go like on the approval page.
  const text = stripTerminalEscapes(raw);
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return [`${fence}${language}`, text.replace(/\n+$/, ''), fence];
}
