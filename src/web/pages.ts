import { createHash } from 'node:crypto';
import type { ApprovalRecord } from '../domain/ports.js';
import { isTerminalRun, type PlanSummary, type Run, type Stage } from '../domain/run.js';
import { escapeHtml, stripTerminalEscapes } from '../adapters/notify/escape.js';
import { driftOf, type RunFiles } from './public-run.js';
import type { PlanView } from '../domain/plan-view.js';
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

const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.4rem}table{border-collapse:collapse}
td,th{padding:.25rem .75rem .25rem 0;text-align:left;vertical-align:top}
pre{background:#f6f8fa;padding:1rem;overflow:auto;max-height:40rem;font-size:13px}
.status{font-weight:600}.buttons{display:flex;gap:1rem;margin:1.5rem 0}
button{font-size:1rem;padding:.6rem 1.4rem;border-radius:6px;border:1px solid #888;cursor:pointer}
button.approve{background:#1f883d;color:#fff;border-color:#1f883d}
button.reject{background:#fff;color:#cf222e;border-color:#cf222e}
.notice{padding:1rem;border-radius:6px;background:#fff8c5}.ok{background:#dafbe1}.bad{background:#ffebe9}
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
  /** The structured plan view (shown above the plan text), or why there is none. */
  planView?: PlanView;
  planViewProblem?: string;
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
    : `<p class="notice">${escapeHtml(stripTerminalEscapes(blockedReason))}</p>`;
  return layout(
    `Approve ${approval.environment} for ${run.repository}`,
    `<h1>Apply to ${escapeHtml(approval.environment)}: ${escapeHtml(run.repository)}</h1>
<table>${rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</table>
${renderPlanViewHtml(model.planView, model.planViewProblem)}
${addresses}
${decision}
<h2>Plan text</h2><pre id="plan-text">${escapeHtml(
      stripTerminalEscapes(model.planText ?? '(the plan text is ' + 'not available)'),
    )}</pre>
<p><a href="/runs/${escapeHtml(run.id)}">Run ${escapeHtml(run.id)}</a></p>`,
    `<style>${PLAN_VIEW_STYLE}</style>`,
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
    .map(
      (run) =>
        `<tr><td><a href="/runs/${escapeHtml(run.id)}">${escapeHtml(run.id)}</a></td>` +
        `<td>${escapeHtml(run.repository)}</td>` +
        `<td><code>${escapeHtml(run.sha.slice(0, 12))}</code></td>` +
        `<td>${escapeHtml(triggerText(run))}</td>` +
        `<td class="status">${escapeHtml(run.status)}</td>` +
        `<td>${escapeHtml(run.createdAt)}</td></tr>`,
    )
    .join('');
  const older = next ? `<p><a id="older-runs" href="/runs?before=${encodeURIComponent(next)}">Older runs</a></p>` : '';
  return layout(
    'tfgate runs',
    '<h1>Runs</h1><table>' +
      '<tr><th>Run</th><th>Repository</th><th>Commit</th><th>Trigger</th><th>Status</th><th>Created</th></tr>' +
      `${rows}</table>${older}`,
  );
}

function renderStageRow(stage: Stage): string {
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
      (stage.approval.reason ? `: <q>${escapeHtml(stripTerminalEscapes(stage.approval.reason))}</q>` : '')
    : '';
  const error = stage.error ? `<pre>${escapeHtml(stripTerminalEscapes(stage.error))}</pre>` : '';
  return (
    `<tr><td>${escapeHtml(stage.environment)}</td><td class="status">${escapeHtml(stage.status)}</td>` +
    `<td>${escapeHtml(summaryLine(stage.plan))}${stage.plan ? renderAddresses(stage.plan) : ''}</td>` +
    `<td class="approval">${approval}</td><td>${error}</td></tr>`
  );
}

function fileCell(where: string): string {
  // Links are the routes' own paths; anything else is a path on the machine running tfgate local.
  return where.startsWith('/runs/')
    ? `<a href="${escapeHtml(where)}">${escapeHtml(where)}</a>`
    : `<code>${escapeHtml(where)}</code>`;
}

export function runPage(run: Run, files?: RunFiles, logs: StageLogView[] = []): string {
  const stages = run.stages.map(renderStageRow).join('');
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
  const filesSection = fileRows ? `\n<h2>Files</h2><table id="run-files">${fileRows}</table>` : '';
  const liveScript = live ? `<script>${LIVE_LOG_SCRIPT}</script>` : '';
  return layout(
    `Run ${run.id}`,
    `<h1>Run ${escapeHtml(run.id)}</h1>
<table><tr><th>Repository</th><td>${escapeHtml(run.repository)}</td></tr>` +
      `<tr><th>Commit</th><td><code>${escapeHtml(run.sha)}</code></td></tr>
<tr><th>Ref</th><td>${escapeHtml(run.ref)}</td></tr>` +
      `<tr><th>Trigger</th><td id="run-trigger">${escapeHtml(run.trigger)}${pullRequest}</td></tr>${driftRow}
<tr><th>Status</th><td class="status" id="run-status">${escapeHtml(run.status)}</td></tr>${errorRow}</table>
<h2>Stages</h2><table>` +
      '<tr><th>Environment</th><th>Status</th><th>Plan</th><th>Approval</th><th>Error</th></tr>' +
      `${stages}</table>${logSection}${filesSection}${liveScript}`,
    live ? '<noscript><meta http-equiv="refresh" content="5"></noscript>' : '',
  );
}
