import { escapeHtml, stripTerminalEscapes } from '../adapters/notify/escape.js';
import { summaryText, type PlanView, type ResourceAction, type ResourceView } from '../domain/plan-view.js';

/**
 * The structured plan view as the approval page shows it, above the plan text. Destroys and replacements
 * come first, open and named; updates show each changed attribute (before → after); long groups fold into
 * <details>. Every value is escaped; the view is bounded where it is made (PAGE_LIMITS), so a 5,000-resource
 * plan makes a page of reasonable size.
 */

/** Groups longer than this start folded. */
const OPEN_GROUP_UP_TO = 25;

const GROUPS: Array<{ action: ResourceAction; title: string; className: string; open: 'always' | 'short' }> = [
  { action: 'delete', title: 'Destroyed', className: 'pv-delete', open: 'always' },
  { action: 'replace', title: 'Replaced (destroyed, then created)', className: 'pv-replace', open: 'always' },
  { action: 'update', title: 'Updated in place', className: 'pv-update', open: 'short' },
  { action: 'create', title: 'Created', className: 'pv-create', open: 'short' },
  { action: 'read', title: 'Read (data sources)', className: 'pv-read', open: 'short' },
  { action: 'forget', title: 'Forgotten (removed from state, not destroyed)', className: 'pv-forget', open: 'always' },
  { action: 'unknown', title: 'Changed in a way tfgate does not know', className: 'pv-unknown', open: 'always' },
];

export const PLAN_VIEW_STYLE = `
#plan-view .pv-summary{font-weight:600}
#plan-view details{margin:.35rem 0}#plan-view summary{cursor:pointer}
#plan-view table.pv-changes{font:12.5px ui-monospace,monospace;margin:.25rem 0 .5rem 1.2rem}
#plan-view table.pv-changes td{padding:.05rem .6rem .05rem 0;word-break:break-all}
#plan-view .pv-delete>summary,#plan-view .pv-replace>summary{color:#cf222e;font-weight:600}
#plan-view .pv-banner{padding:.6rem 1rem;border-radius:6px;background:#ffebe9}
#plan-view .pv-note{padding:.6rem 1rem;border-radius:6px;background:#fff8c5}
#plan-view code{font-size:12.5px}#plan-view ul{margin:.2rem 0}
`;

function text(value: unknown): string {
  return escapeHtml(stripTerminalEscapes(String(value ?? '')));
}

/** One row: what, before, →, after. */
function changeRow(path: unknown, before: unknown, after: unknown): string {
  return `<tr><td>${text(path)}</td><td>${text(before)}</td><td>→</td><td>${text(after)}</td></tr>`;
}

function changesTable(resource: ResourceView): string {
  if (!Array.isArray(resource.changes) || resource.changes.length === 0) return '';
  const rows = resource.changes.map((change) => changeRow(change.path, change.before, change.after)).join('');
  const more =
    resource.omittedChanges > 0 ? `<tr><td colspan="4">… and ${text(resource.omittedChanges)} more</td></tr>` : '';
  return `<table class="pv-changes">${rows}${more}</table>`;
}

function resourceItem(resource: ResourceView): string {
  const extra = [
    resource.deposed ? ` (deposed object ${text(resource.deposed)})` : '',
    resource.previousAddress ? ` (moved from <code>${text(resource.previousAddress)}</code>)` : '',
  ].join('');
  const because = resource.replacedBecause?.length
    ? `<div class="pv-because">because of ` +
      `${resource.replacedBecause.map((p) => `<code>${text(p)}</code>`).join(', ')}</div>`
    : '';
  const table = changesTable(resource);
  if (!table && !because) return `<li><code>${text(resource.address)}</code>${extra}</li>`;
  return `<li><code>${text(resource.address)}</code>${extra}${because}${table}</li>`;
}

function group(title: string, className: string, resources: ResourceView[], open: boolean): string {
  return (
    `<details class="${className}"${open ? ' open' : ''}><summary>${text(title)} (${resources.length})</summary>` +
    `<ul>${resources.map(resourceItem).join('')}</ul></details>`
  );
}

/** The section the approval page shows; `problem` when there is no view to show. */
export function renderPlanViewHtml(view: PlanView | undefined, problem?: string): string {
  if (!view)
    return (
      `<section id="plan-view"><h2>What this plan does</h2><p class="pv-note">` +
      `${text(problem ?? 'The structured view of this plan is not available; read the plan text below.')}</p></section>`
    );
  const resources = Array.isArray(view.resources) ? view.resources : [];
  const parts: string[] = ['<section id="plan-view"><h2>What this plan does</h2>'];
  if (view.errored)
    parts.push(
      '<p class="pv-banner">terraform stopped planning with an error: this plan is incomplete and cannot be ' +
        'applied.</p>',
    );
  if (view.incomplete) parts.push('<p class="pv-banner">Some changes were deferred to a later plan.</p>');
  if (view.refreshOnly)
    parts.push('<p class="pv-note">Refresh-only: this plan only updates the state to match the real objects.</p>');
  parts.push(`<p class="pv-summary" id="plan-view-summary">${text(summaryText(view.summary))}</p>`);
  for (const spec of GROUPS) {
    const members = resources.filter((resource) => resource.action === spec.action);
    if (members.length === 0) continue;
    parts.push(
      group(spec.title, spec.className, members, spec.open === 'always' || members.length <= OPEN_GROUP_UP_TO),
    );
  }
  const moved = resources.filter((resource) => resource.action === 'no-op' && resource.previousAddress);
  if (moved.length > 0)
    parts.push(
      `<details class="pv-moved"${moved.length <= OPEN_GROUP_UP_TO ? ' open' : ''}>` +
        '<summary>Moved, otherwise unchanged ' +
        `(${moved.length})</summary><ul>${moved
          .map((r) => `<li><code>${text(r.previousAddress)}</code> → <code>${text(r.address)}</code></li>`)
          .join('')}</ul></details>`,
    );
  if (view.omittedResources > 0)
    parts.push(
      `<p class="pv-omitted">… ${text(view.omittedResources)} more resource changes are not listed here` +
        (view.omittedDestructive > 0
          ? `, <strong>${text(view.omittedDestructive)} of them destroying or replacing</strong>`
          : '') +
        ': the plan text below has them all.</p>',
    );
  const outputs = Array.isArray(view.outputs) ? view.outputs : [];
  if (outputs.length > 0) {
    const rows = outputs.map((output) => changeRow(output.name, output.before, output.after)).join('');
    const more = view.omittedOutputs > 0 ? `<p>… and ${text(view.omittedOutputs)} more outputs</p>` : '';
    parts.push(
      `<details class="pv-outputs"${outputs.length <= OPEN_GROUP_UP_TO ? ' open' : ''}><summary>Output changes ` +
        `(${outputs.length})</summary><table class="pv-changes">${rows}</table>${more}</details>`,
    );
  }
  const drift = Array.isArray(view.drift) ? view.drift : [];
  if (drift.length > 0)
    parts.push(
      group('Changed outside Terraform since the last apply', 'pv-drift', drift, drift.length <= OPEN_GROUP_UP_TO),
    );
  if (Array.isArray(view.problems) && view.problems.length > 0)
    parts.push(
      `<div class="pv-note pv-problems">Not everything could be read:<ul>${view.problems
        .map((p) => `<li>${text(p)}</li>`)
        .join('')}</ul></div>`,
    );
  parts.push('</section>');
  return parts.join('\n');
}
