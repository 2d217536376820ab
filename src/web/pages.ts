import { createHash } from 'node:crypto';
import type { ApprovalRecord } from '../domain/ports.js';
import { describeStop, isTerminalRun, type PlanSummary, type Run, type Stage } from '../domain/run.js';
import { escapeHtml, stripTerminalEscapes } from '../adapters/notify/escape.js';
import { driftOf, type RunFiles } from './public-run.js';
import type { PlanView } from '../domain/plan-view.js';
import type { ChangeView } from '../domain/change-range.js';
import { PLAN_VIEW_STYLE, renderPlanViewHtml } from './plan-view-html.js';

export { escapeHtml, stripTerminalEscapes };

/**
 * Server-rendered pages, every value escaped. Plan text and build output come from user code and
 * terraform, so they are treated as hostile: escapes stripped, HTML escaped. The one script (the run
 * page's live build output) is fixed text allowed by its hash, and writes output only as text.
 */

export function summaryLine(plan: PlanSummary | undefined): string {
  if (!plan) return 'not planned yet';
  if (!plan.hasChanges) return 'no changes';
  const parts = [`${plan.add} to add`, `${plan.change} to change`, `${plan.destroy} to destroy`];
  if (plan.replace > 0) parts.push(`(${plan.replace} replaced)`);
  return parts.join(', ');
}

/** What a stage's plan column says when there is no plan: why there is none. */
export function planCell(stage: Stage): string {
  if (stage.plan) return summaryLine(stage.plan);
  switch (stage.status) {
    case 'pending':
    case 'waiting_for_lock':
      return 'not planned yet';
    case 'planning':
      return 'planning…';
    default:
      return 'not planned';
  }
}

const ENDED_VERB: Partial<Record<Stage['status'], string>> = {
  failed: 'failed',
  rejected: 'was rejected',
  expired: 'expired',
  superseded: 'was superseded',
  interrupted: 'was interrupted',
};

/**
 * A stage's status in words that say what happened: why a stage was skipped (an earlier environment
 * failed, an operator stopped the run) and who stopped an interrupted one.
 */
export function stageLabel(run: Run, stage: Stage): string {
  const stop = run.stop;
  switch (stage.status) {
    case 'skipped': {
      if (stop) return `skipped: the run was stopped by an operator (${stop.by})`;
      const earlier = run.stages.slice(0, run.stages.indexOf(stage)).reverse();
      const ended = earlier.find((other) => ENDED_VERB[other.status] !== undefined);
      if (ended) return `skipped because ${ended.environment} ${ENDED_VERB[ended.status]}`;
      return isTerminalRun(run.status) ? `skipped: the run ended (${run.status})` : 'skipped';
    }
    case 'interrupted':
      if (stop?.environment === stage.environment) return `stopped by an operator (${stop.by})`;
      if (stop) return 'stopped: the run was stopped by an operator';
      return 'interrupted';
    case 'awaiting_approval':
      return 'waiting for approval';
    case 'waiting_for_lock':
      return 'waiting for the environment lock';
    case 'no_changes':
      return 'no changes';
    default:
      return stage.status;
  }
}

/** The first line of the commit message, as a title (it is the author's text: escapes stripped). */
export function commitTitle(run: Run): string | undefined {
  const first = run.message?.split('\n')[0]?.trim();
  return first ? stripTerminalEscapes(first).slice(0, 200) : undefined;
}

/** The approvals of a run waiting for a decision now, each with its link. */
export function pendingApprovals(run: Run): Array<{ environment: string; id: string }> {
  if (isTerminalRun(run.status)) return [];
  return run.stages.flatMap((stage) =>
    stage.approval?.status === 'pending' ? [{ environment: stage.environment, id: stage.approval.id }] : [],
  );
}

function approvalLinks(run: Run): string {
  return pendingApprovals(run)
    .map(
      ({ environment, id }) =>
        `<a class="approval-link" href="/approvals/${escapeHtml(id)}">Decide ${escapeHtml(environment)}</a>`,
    )
    .join(' ');
}

const STYLE = `
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:64rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.4rem;overflow-wrap:anywhere}table{border-collapse:collapse;max-width:100%}
td,th{padding:.25rem .75rem .25rem 0;text-align:left;vertical-align:top}
td,code,a{overflow-wrap:break-word}th{white-space:nowrap}
pre{background:#f6f8fa;padding:1rem;overflow:auto;max-height:40rem;font-size:13px;max-width:100%}
td pre{white-space:pre-wrap;overflow-wrap:anywhere;padding:.5rem;margin:0}
.status{font-weight:600}.buttons{display:flex;flex-wrap:wrap;gap:1rem;margin:1.5rem 0}
.label{display:block;color:#57606a;font-size:13px}.title{display:block}
button{font-size:1rem;padding:.6rem 1.4rem;border-radius:6px;border:1px solid #888;cursor:pointer}
button.approve{background:#1f883d;color:#fff;border-color:#1f883d}
button.reject{background:#fff;color:#cf222e;border-color:#cf222e}
input[type=text]{max-width:100%}
.notice{padding:1rem;border-radius:6px;background:#fff8c5}.ok{background:#dafbe1}.bad{background:#ffebe9}
.next a{font-weight:600}span.next{display:block;margin-top:.2rem}
@media (max-width:40rem){
body{margin:1rem auto;font-size:14px}
table.cards,table.cards tbody,table.cards tr,table.cards td{display:block;width:100%}
table.cards tr:first-child{display:none}
table.cards tr{border-top:1px solid #d0d7de;padding:.5rem 0}
table.cards td{padding:.1rem 0;overflow-wrap:anywhere}table.cards td:empty{display:none}
table.cards td[data-label]::before{content:attr(data-label) ": ";color:#57606a;font-size:13px}
table.facts,table.facts tbody,table.facts tr{display:block}
table.facts th{display:block;padding-top:.5rem}table.facts td{display:block;overflow-wrap:anywhere}
td a,td code{overflow-wrap:anywhere}
}
`;

export function layout(title: string, body: string, head = ''): string {
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" ` +
    `content="width=device-width, initial-scale=1">` +
    `<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>${STYLE}</style>${head}</head>` +
    `<body>${body}</body></html>`
  );
}

/** A stage's build output as the run page and `GET /runs/{id}/{env}/log` show it (lines already without escapes). */
export interface StageLogView {
  environment: string;
  mode: 'plan' | 'apply';
  /** The build is running now: the page keeps reading its output. */
  running: boolean;
  /** false: that build has not started or printed nothing yet. */
  started?: boolean;
  lines: string[];
  truncated: boolean;
  /** The whole log: the CodeBuild console (https URL) in AWS, a file path locally. */
  location?: string;
  /** Why the output cannot be shown. */
  problem?: string;
}

/**
 * Reads the output of running builds every 2 s and writes it as text (never as HTML); when a build
 * ends the page reloads once for the final statuses. Without scripts, a refresh in <noscript> does it.
 */
const LIVE_LOG_SCRIPT = `(function () {
  var sections = document.querySelectorAll('section.build-log[data-running="true"]');
  Array.prototype.forEach.call(sections, function (section) {
    var pre = section.querySelector('pre');
    var url = section.getAttribute('data-log');
    function poll() {
      fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' })
        .then(function (response) {
          if (response.status === 401 || response.status === 403 || response.status === 404) return undefined;
          if (!response.ok) throw new Error(String(response.status));
          return response.json();
        })
        .then(function (view) {
          if (!view) return;
          var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
          pre.textContent = view.lines.join('\\n');
          if (atEnd) pre.scrollTop = pre.scrollHeight;
          if (view.running) setTimeout(poll, 2000);
          else location.reload();
        })
        .catch(function () { setTimeout(poll, 5000); });
    }
    setTimeout(poll, 2000);
  });
})();`;

/** The run page may run its one script (by hash) and fetch from its own origin; nothing else changes. */
const LIVE_LOG_SCRIPT_HASH = createHash('sha256').update(LIVE_LOG_SCRIPT).digest('base64');
export const RUN_PAGE_CSP =
  `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${LIVE_LOG_SCRIPT_HASH}'; connect-src 'self'; ` +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

function logLocation(location: string): string {
  // Links only to the CodeBuild console (https); a local path is shown as text.
  const shown = escapeHtml(location);
  return location.startsWith('https://') ? `<a href="${shown}" rel="noreferrer">${shown}</a>` : `<code>${shown}</code>`;
}

function renderStageLog(runId: string, view: StageLogView): string {
  // A build not found is either about to start or (in AWS) older than the builds CodeBuild lists.
  const state = view.problem
    ? 'unavailable'
    : view.running
      ? 'running'
      : view.started === false
        ? 'no output found'
        : 'finished';
  const empty = view.running ? '(waiting for output)' : '(no output)';
  const body = view.problem ?? (view.lines.length > 0 ? view.lines.join('\n') : empty);
  const route = escapeHtml(`/runs/${runId}/${view.environment}/log?mode=${view.mode}`);
  const environment = escapeHtml(view.environment);
  const cut = view.truncated ? '<p class="log-cut">Earlier lines are left out here.</p>' : '';
  const whole = view.location ? ` · whole log: ${logLocation(view.location)}` : '';
  return `<section class="build-log" id="log-${environment}" data-log="${route}" data-running="${view.running}">
<h3>${environment} ${view.mode}: <span class="log-state">${state}</span></h3>${cut}
<pre class="log-lines">${escapeHtml(stripTerminalEscapes(body))}</pre>
<p class="log-links"><a href="${route}">Text</a>${whole}</p></section>`;
}

export interface ApprovalPageModel {
  approval: ApprovalRecord;
  run: Run;
  stage: Stage | undefined;
  planText: string | undefined;
  approver: string | undefined;
  formToken: string;
  canDecide: boolean;
  blockedReason?: string;
  /** For a closed approval: the one to decide now, or the newer run on its way to one. */
  current?: CurrentDecision;
  /** The structured plan view (shown above the plan text), or why there is none. */
  planView?: PlanView;
  planViewProblem?: string;
}

export interface CurrentDecision {
  approvalId?: string;
  runId: string;
  sha: string;
}

function currentLink(current: CurrentDecision | undefined, environment: string): string {
  if (!current) return '';
  const commit = `<code>${escapeHtml(current.sha.slice(0, 12))}</code>`;
  return current.approvalId
    ? `<p class="notice next" id="current-approval">The ${escapeHtml(environment)} change to decide now is commit ` +
        `${commit}: <a href="/approvals/${escapeHtml(current.approvalId)}">open its approval</a>.</p>`
    : `<p class="notice next" id="current-approval">A newer run (commit ${commit}) is on its way to ` +
        `${escapeHtml(environment)}: <a href="/runs/${escapeHtml(current.runId)}">follow it</a>; its approval ` +
        'link appears there once it is planned.</p>';
}

export function approvalPage(model: ApprovalPageModel): string {
  const { approval, run, stage } = model;
  const plan = stage?.plan;
  const subject = run.message ? `<br>${escapeHtml(stripTerminalEscapes(run.message.split('\n')[0]!))}` : '';
  const rows: Array<[string, string]> = [
    ['Repository', escapeHtml(run.repository)],
    ['Commit', `<code>${escapeHtml(run.sha)}</code>${subject}`],
    ['Author', escapeHtml(stripTerminalEscapes(run.author?.name ?? run.author?.login ?? run.pusher ?? 'unknown'))],
    ['Environment', `<strong>${escapeHtml(approval.environment)}</strong>`],
    ['Plan', escapeHtml(summaryLine(plan))],
    ['Plan sha256', `<code>${escapeHtml(approval.planSha256)}</code>`],
    ['Status', `<span class="status" id="approval-status">${escapeHtml(approval.status)}</span>`],
    ['Approvals', approvalsCell(approval)],
    ['Expires', escapeHtml(new Date(approval.expiresAt * 1000).toISOString())],
  ];
  if (model.approver)
    rows.push(['You are', `<span id="signed-in-as">${escapeHtml(stripTerminalEscapes(model.approver))}</span>`]);
  // The structured view names every change; without one, the run record's (capped) address list stands in.
  const addresses = plan && !model.planView ? renderAddresses(plan) : '';
  const blockedReason = model.blockedReason ?? `This approval is ${approval.status}.`;
  const decision = model.canDecide
    ? `<form method="post" action="/approvals/${escapeHtml(approval.id)}">
<input type="hidden" name="form_token" value="${escapeHtml(model.formToken)}">
<p><label>Reason (optional) <input type="text" name="reason" maxlength="500" size="40"></label></p>
<div class="buttons"><button class="approve" type="submit" name="decision" value="approve">Approve and apply</button>
<button class="reject" type="submit" name="decision" value="reject">Reject</button></div></form>`
    : `<p class="notice">${escapeHtml(stripTerminalEscapes(blockedReason))}</p>${currentLink(
        model.current,
        approval.environment,
      )}`;
  return layout(
    `Approve ${approval.environment} for ${run.repository}`,
    `<h1>Apply to ${escapeHtml(approval.environment)}: ${escapeHtml(run.repository)}</h1>
<table class="facts">${rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</table>
${approval.change ? renderChange(approval.change) : ''}
${renderPlanViewHtml(model.planView, model.planViewProblem)}
${addresses}
${decision}
<h2>Plan text</h2><pre id="plan-text">${escapeHtml(
      stripTerminalEscapes(model.planText ?? '(the plan text is ' + 'not available)'),
    )}</pre>
<p><a href="/runs/${escapeHtml(run.id)}">Run ${escapeHtml(run.id)}</a></p>`,
    `<style>${PLAN_VIEW_STYLE}${CHANGE_STYLE}</style>`,
  );
}

// A narrow window stacks each commit's cells under their labels: five columns in 390 px broke titles mid-word.
const CHANGE_STYLE =
  '.change table.commits{border-collapse:collapse;width:100%;font-size:.9em}' +
  '.change table.commits td,.change table.commits th{border-bottom:1px solid #ddd;padding:.25em .5em;' +
  'text-align:left;vertical-align:top;overflow-wrap:anywhere}' +
  '@media (max-width:640px){.change table.commits,.change table.commits tbody,.change table.commits tr,' +
  '.change table.commits td{display:block}.change table.commits tr.head{display:none}' +
  '.change table.commits tr{border-bottom:1px solid #ddd;padding:.4em 0}' +
  '.change table.commits td{border:0;padding:.1em 0}' +
  '.change table.commits td::before{content:attr(data-label) ": ";font-weight:600}}';

/**
 * What is promoted: every commit since the environment's last apply (newest first) with its author and pusher, the
 * pull requests merged, which commits earlier environments applied and when, and who may not approve and why.
 */
export function renderChange(change: ChangeView): string {
  const text = (value: string) => escapeHtml(stripTerminalEscapes(value));
  const since = change.base
    ? `since ${escapeHtml(change.environment)} last applied <code>${escapeHtml(change.base.slice(0, 12))}</code>`
    : `${escapeHtml(change.environment)} has applied nothing yet`;
  const rollback = change.rerun?.rollback;
  const parts: string[] = [];
  parts.push(
    `<h2>What is promoted</h2><p id="change-summary">${change.commits.length + (change.omittedCommits ?? 0)} ` +
      `commit${change.commits.length + (change.omittedCommits ?? 0) === 1 ? '' : 's'} ${since}.` +
      (change.rerun
        ? ` ${rollback ? 'A rollback' : 'A re-run'} asked for by ${text(change.rerun.requestedBy)}` +
          (rollback ? `: ${text(rollback.reason)}` : '') +
          '.'
        : '') +
      '</p>',
  );
  if (change.unresolved)
    parts.push(
      `<p class="notice bad" id="change-unresolved">The change cannot be fully resolved: ${text(change.unresolved)}. ` +
        'Nobody may approve it alone; approval.required: 2 (two distinct approvers) is the way through.</p>',
    );
  if (rollback && rollback.undoes.length > 0)
    parts.push(
      `<p>It undoes ${rollback.undoes.length} commit${rollback.undoes.length === 1 ? '' : 's'}:</p>` +
        commitTable(rollback.undoes, 'rollback-commits'),
    );
  if (change.commits.length > 0) parts.push(commitTable(change.commits, 'change-commits'));
  if (change.omittedCommits)
    parts.push(`<p class="omitted">and ${escapeHtml(change.omittedCommits)} older commits (all counted below)</p>`);
  if (change.pullRequests.length > 0)
    parts.push(
      `<h3>Pull requests merged</h3><ul id="change-pulls">${change.pullRequests
        .map(
          (pull) =>
            `<li>#${escapeHtml(pull.number)} ${text(pull.title)}` +
            `${pull.author ? ` <small>by @${text(pull.author)}</small>` : ''}</li>`,
        )
        .join('')}</ul>`,
    );
  if (change.excluded.length > 0)
    parts.push(
      `<h3>Who may not approve</h3><ul id="change-excluded">${change.excluded
        .map((person) => `<li><strong>${text(person.who)}</strong>: ${text(person.why.join('; '))}</li>`)
        .join('')}${change.omittedExcluded ? `<li>and ${escapeHtml(change.omittedExcluded)} more</li>` : ''}</ul>`,
    );
  return `<section class="change">${parts.join('\n')}</section>`;
}

function commitTable(commits: ChangeView['commits'], id: string): string {
  const text = (value: string) => escapeHtml(stripTerminalEscapes(value));
  const rows = commits.map((commit) => {
    const applied =
      commit.appliedTo.length > 0
        ? commit.appliedTo
            .map(
              (where) =>
                `${text(where.environment)} at ${text(where.at)}${where.unchanged ? ' (nothing to change)' : ''}`,
            )
            .join(', ')
        : 'not yet';
    return (
      `<tr><td data-label="Commit"><code>${escapeHtml(commit.sha.slice(0, 12))}</code></td>` +
      `<td data-label="Title">${text(commit.title)}</td><td data-label="Author">${text(commit.author)}</td>` +
      `<td data-label="Pushed by">${text(commit.pushers.join(', ') || 'unknown')}</td>` +
      `<td data-label="Applied">${applied}</td></tr>`
    );
  });
  return (
    `<table class="commits" id="${id}"><tr class="head"><th>Commit</th><th>Title</th><th>Author</th>` +
    `<th>Pushed by</th><th>Applied</th></tr>${rows.join('')}</table>`
  );
}

/** "1 of 2: alice@example.com (at …)": how many distinct people approved, of how many needed, and who. */
function approvalsCell(approval: ApprovalRecord): string {
  const approvals = approval.approvals ?? [];
  const required = approval.required ?? 1;
  const who = approvals
    .map((grant) => `<li>${escapeHtml(stripTerminalEscapes(grant.by))} <small>${escapeHtml(grant.at)}</small></li>`)
    .join('');
  const need = required > 1 ? " <small>(distinct people, none of them among the change's people)</small>" : '';
  return (
    `<span id="approval-count">${approvals.length} of ${required}</span>${need}` +
    (who ? `<ul id="approved-by">${who}</ul>` : '')
  );
}

function renderAddresses(plan: PlanSummary): string {
  const groups: Array<[string, string[]]> = [
    ['create', plan.addresses.create],
    ['update', plan.addresses.update],
    ['replace', plan.addresses.replace],
    ['delete', plan.addresses.delete],
  ];
  const items = groups
    .filter(([, list]) => list.length > 0)
    .map(([label, list]) => `<li>${label}: ${list.map((a) => `<code>${escapeHtml(a)}</code>`).join(', ')}</li>`);
  if (plan.omittedAddresses)
    items.push(
      `<li class="omitted">and ${escapeHtml(plan.omittedAddresses)} more: the full list is in the plan text</li>`,
    );
  return items.length > 0 ? `<ul class="addresses">${items.join('')}</ul>` : '';
}

export function decisionPage(kind: 'ok' | 'bad', title: string, message: string, runId?: string): string {
  return layout(
    title,
    `<h1>${escapeHtml(title)}</h1><p class="notice ${kind}" ` +
      `id="decision-result">${escapeHtml(stripTerminalEscapes(message))}</p>` +
      (runId ? `<p><a href="/runs/${escapeHtml(runId)}">See the run</a></p>` : ''),
  );
}

/** The trigger as a list shows it: a pull request's number, whether a drift check found drift. */
function triggerText(run: Run): string {
  const drift = driftOf(run);
  if (drift)
    return drift.detected
      ? `drift (found in ${drift.environments.join(', ')})`
      : isTerminalRun(run.status)
        ? 'drift (none found)'
        : 'drift';
  return run.pullRequest !== undefined ? `${run.trigger} #${run.pullRequest}` : run.trigger;
}

export function runsPage(runs: Run[], next?: string): string {
  const rows = runs
    .map((run) => {
      const title = commitTitle(run);
      const links = approvalLinks(run);
      return (
        `<tr><td data-label="Run"><a href="/runs/${escapeHtml(run.id)}">${escapeHtml(run.id.slice(0, 8))}</a></td>` +
        `<td data-label="Commit"><code>${escapeHtml(run.sha.slice(0, 12))}</code>` +
        `${title ? `<span class="title">${escapeHtml(title)}</span>` : ''}` +
        `<span class="label">${escapeHtml(run.repository)}</span></td>` +
        `<td data-label="Trigger">${escapeHtml(triggerText(run))}</td>` +
        `<td data-label="Status"><span class="status">${escapeHtml(run.status)}</span>` +
        `${links ? `<span class="next">${links}</span>` : ''}</td>` +
        `<td data-label="Created">${escapeHtml(run.createdAt)}</td></tr>`
      );
    })
    .join('');
  const older = next ? `<p><a id="older-runs" href="/runs?before=${encodeURIComponent(next)}">Older runs</a></p>` : '';
  return layout(
    'tfgate runs',
    '<h1>Runs</h1><table class="cards" id="runs">' +
      '<tr><th>Run</th><th>Commit</th><th>Trigger</th><th>Status</th><th>Created</th></tr>' +
      `${rows}</table>${older}`,
  );
}

function renderStageRow(run: Run, stage: Stage): string {
  const grants = stage.approval?.approvals ?? [];
  const required = stage.approval?.required ?? 1;
  // With several approvers needed, "approved by" names them all, and a waiting stage says how far it got.
  const by =
    required > 1 && grants.length > 0
      ? `${stage.approval?.status === 'pending' ? ` (${grants.length} of ${required})` : ''} by ` +
        grants.map((grant) => escapeHtml(stripTerminalEscapes(grant.by))).join(', ')
      : stage.approval?.by
        ? ` by ${escapeHtml(stripTerminalEscapes(stage.approval.by))}`
        : '';
  const approval = stage.approval
    ? escapeHtml(stage.approval.status) +
      by +
      (stage.approval.reason ? `: <q>${escapeHtml(stripTerminalEscapes(stage.approval.reason))}</q>` : '') +
      (stage.approval.status === 'pending' && !isTerminalRun(run.status)
        ? ` <a class="approval-link" href="/approvals/${escapeHtml(stage.approval.id)}">Open the approval</a>`
        : '')
    : '';
  const error = stage.error ? `<pre>${escapeHtml(stripTerminalEscapes(stage.error))}</pre>` : '';
  const label = stageLabel(run, stage);
  const said = label === stage.status ? '' : `<span class="label">${escapeHtml(label)}</span>`;
  return (
    `<tr><td data-label="Environment">${escapeHtml(stage.environment)}</td>` +
    `<td data-label="Status"><span class="status">${escapeHtml(stage.status)}</span>${said}</td>` +
    `<td data-label="Plan">${escapeHtml(planCell(stage))}${stage.plan ? renderAddresses(stage.plan) : ''}</td>` +
    `<td class="approval" data-label="Approval">${approval}</td><td data-label="Error">${error}</td></tr>`
  );
}

function fileCell(where: string): string {
  // Links are the routes' own paths; anything else is a path on the machine running tfgate local.
  return where.startsWith('/runs/')
    ? `<a href="${escapeHtml(where)}">${escapeHtml(where)}</a>`
    : `<code>${escapeHtml(where)}</code>`;
}

export function runPage(run: Run, files?: RunFiles, logs: StageLogView[] = []): string {
  const stages = run.stages.map((stage) => renderStageRow(run, stage)).join('');
  const drift = driftOf(run);
  const driftText = drift?.detected ? `drift found in ${escapeHtml(drift.environments.join(', '))}` : 'no drift found';
  const driftRow = drift ? `<tr><th>Drift</th><td id="run-drift">${driftText}</td></tr>` : '';
  const fileRows = [
    ...run.stages.flatMap((stage) =>
      Object.entries(files?.stages[stage.environment] ?? {}).map(
        ([what, where]) =>
          `<tr><th>${escapeHtml(stage.environment)} ${escapeHtml(what)}</th><td>${fileCell(where)}</td></tr>`,
      ),
    ),
    ...Object.entries(files?.locations ?? {}).map(
      ([what, where]) => `<tr><th>${escapeHtml(what)}</th><td>${fileCell(where)}</td></tr>`,
    ),
  ].join('');
  const live = logs.some((view) => view.running);
  const logSections = logs.map((view) => renderStageLog(run.id, view)).join('\n');
  const logSection = logs.length > 0 ? `\n<h2>Build output</h2>${logSections}` : '';
  const pullRequest = run.pullRequest ? ` (pull request #${escapeHtml(run.pullRequest)})` : '';
  const errorRow = run.error
    ? `<tr><th>Error</th><td><pre>${escapeHtml(stripTerminalEscapes(run.error))}</pre></td></tr>`
    : '';
  const title = commitTitle(run);
  const stopRow = run.stop
    ? `<tr><th>Stopped</th><td id="run-stop">${escapeHtml(stripTerminalEscapes(describeStop(run.stop)))}</td></tr>`
    : '';
  // What a person can do next, first on the page: decide each pending approval.
  const next = pendingApprovals(run)
    .map(
      ({ environment, id }) =>
        `<p class="notice next">${escapeHtml(environment)} waits for a decision: ` +
        `<a class="approval-link" href="/approvals/${escapeHtml(id)}">open the ${escapeHtml(environment)} ` +
        'approval</a></p>',
    )
    .join('');
  const filesSection = fileRows ? `\n<h2>Files</h2><table class="facts" id="run-files">${fileRows}</table>` : '';
  const liveScript = live ? `<script>${LIVE_LOG_SCRIPT}</script>` : '';
  return layout(
    `Run ${run.id}`,
    `<h1>Run ${escapeHtml(run.id)}</h1>${next}
<table class="facts"><tr><th>Repository</th><td>${escapeHtml(run.repository)}</td></tr>` +
      `<tr><th>Commit</th><td><code>${escapeHtml(run.sha)}</code>` +
      `${title ? `<span class="title" id="run-title">${escapeHtml(title)}</span>` : ''}</td></tr>
<tr><th>Ref</th><td>${escapeHtml(run.ref)}</td></tr>` +
      `<tr><th>Trigger</th><td id="run-trigger">${escapeHtml(run.trigger)}${pullRequest}</td></tr>${driftRow}
<tr><th>Status</th><td class="status" id="run-status">${escapeHtml(run.status)}</td></tr>${stopRow}${errorRow}</table>
<h2>Stages</h2><table class="cards" id="stages">` +
      '<tr><th>Environment</th><th>Status</th><th>Plan</th><th>Approval</th><th>Error</th></tr>' +
      `${stages}</table>${logSection}${filesSection}${liveScript}`,
    live ? '<noscript><meta http-equiv="refresh" content="5"></noscript>' : '',
  );
}
