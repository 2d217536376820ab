import { readFileSync } from 'node:fs';
import os from 'node:os';
import { TfgateError } from '../../src/domain/errors.js';
import { localCredentialFile } from '../../src/local-mode/secrets.js';
import { serverInfoFile } from './server-info.js';

/** The commands that read or decide work through a running tfgate local's HTTP API. */

export class CliError extends TfgateError {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export interface ClientOptions {
  url?: string;
  data: string;
  json?: boolean;
}

export function baseUrl(options: ClientOptions): string {
  if (options.url) return options.url.replace(/\/+$/, '');
  try {
    const info = JSON.parse(readFileSync(serverInfoFile(options.data), 'utf8')) as { url?: string };
    if (info.url) return info.url;
  } catch {
    // No running tfgate local recorded there: the documented default.
  }
  return 'http://127.0.0.1:8787';
}

/**
 * Every route but /webhook needs a sign-in; the CLI on the machine running `tfgate local` presents
 * the local credential from the data directory (a file only its owner can read).
 */
function credentialHeader(data: string): Record<string, string> {
  try {
    const credential = readFileSync(localCredentialFile(data), 'utf8').trim();
    return credential ? { authorization: `Bearer ${credential}` } : {};
  } catch {
    return {};
  }
}

async function call(url: string, init: RequestInit & { data: string }): Promise<{ status: number; body: unknown }> {
  let response: Response;
  const { data, ...rest } = init;
  try {
    response = await fetch(url, {
      ...rest,
      headers: { accept: 'application/json', ...credentialHeader(data), ...rest.headers },
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    throw new CliError(
      `cannot reach tfgate at ${new URL(url).origin}: ${(error as Error).message}. Is tfgate local running? ` +
        `(--url or --data tell where)`,
    );
  }
  const text = await response.text();
  if (response.status === 401) {
    throw new CliError(
      `tfgate at ${new URL(url).origin} wants a sign-in: the local credential in ${localCredentialFile(data)} is ` +
        `missing or not this server's (--data names the data directory of the running tfgate local)`,
    );
  }
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: keep the text.
  }
  return { status: response.status, body };
}

interface RunJson {
  id: string;
  repository: string;
  sha: string;
  trigger: string;
  status: string;
  createdAt: string;
  error?: string;
  notes?: string[];
  stop?: { environment: string; by: string; reason: string; at: string; fence: number };
  pullRequest?: number;
  drift?: { detected: boolean; environments: string[] };
  locations?: Record<string, string>;
  stages: Array<{
    environment: string;
    status: string;
    plan?: { add: number; change: number; destroy: number; hasChanges?: boolean };
    approval?: {
      id: string;
      status: string;
      by?: string;
      reason?: string;
      required?: number;
      approvals?: Array<{ by: string; at: string }>;
    };
    error?: string;
    files?: Record<string, string>;
  }>;
}

function planText(plan: RunJson['stages'][number]['plan']): string {
  if (!plan) return '';
  if (plan.hasChanges === false) return 'no changes';
  return `+${plan.add} ~${plan.change} -${plan.destroy}`;
}

export async function listRuns(options: ClientOptions): Promise<void> {
  const { status, body } = await call(`${baseUrl(options)}/runs`, { data: options.data });
  if (status !== 200) throw new CliError(`listing runs failed (${status}): ${JSON.stringify(body)}`);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    return;
  }
  const runs = (body as { runs: RunJson[] }).runs;
  if (runs.length === 0) process.stdout.write('no runs yet\n');
  for (const run of runs) {
    const stages = run.stages.map((s) => `${s.environment}:${s.status}`).join(' ');
    const trigger = run.drift
      ? `drift${run.drift.detected ? `(found:${run.drift.environments.join(',')})` : ''}`
      : run.pullRequest !== undefined
        ? `${run.trigger}#${run.pullRequest}`
        : run.trigger;
    process.stdout.write(
      `${run.id}  ${run.createdAt}  ${run.repository}@${run.sha.slice(0, 8)}  ${trigger}  ${run.status}  ${stages}\n`,
    );
  }
}

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
/** A prefix shorter than this is too likely to match several runs to be worth a guess. */
export const MIN_RUN_PREFIX = 8;
const RUNS_PAGE = 100;

/**
 * `RUN` as the commands take it: a whole run id, or a unique prefix of at least 8 characters (the
 * runs page and `tfgate runs` show ids in full; people copy the first few characters). The server
 * is asked for the id as given first; a prefix is then looked for in the run list, page by page.
 */
export async function resolveRunId(given: string, options: ClientOptions): Promise<{ id: string; run?: RunJson }> {
  if (!RUN_ID.test(given)) throw new CliError(`${JSON.stringify(given)} is not a run id`, 2);
  const base = baseUrl(options);
  const exact = await call(`${base}/runs/${encodeURIComponent(given)}`, { data: options.data });
  if (exact.status === 200) return { id: given, run: exact.body as RunJson };
  if (exact.status !== 404)
    throw new CliError(`reading run ${given} failed (${exact.status}): ${JSON.stringify(exact.body)}`);
  if (given.length < MIN_RUN_PREFIX)
    throw new CliError(
      `no run ${given}: give the whole run id or a prefix of at least ${MIN_RUN_PREFIX} characters (tfgate runs ` +
        'lists them)',
    );
  const wanted = given.toLowerCase();
  const matches: RunJson[] = [];
  let before: string | undefined;
  do {
    const query = `limit=${RUNS_PAGE}${before ? `&before=${encodeURIComponent(before)}` : ''}`;
    const page = await call(`${base}/runs?${query}`, { data: options.data });
    if (page.status !== 200) throw new CliError(`listing runs failed (${page.status}): ${JSON.stringify(page.body)}`);
    const { runs, next } = page.body as { runs: RunJson[]; next?: string };
    matches.push(...runs.filter((run) => run.id.toLowerCase().startsWith(wanted)));
    before = next;
  } while (before && matches.length < 10);
  if (matches.length === 0) throw new CliError(`no run ${given} (no run id starts with it)`);
  if (matches.length > 1) {
    const listed = matches
      .map((run) => `  ${run.id}  ${run.createdAt}  ${run.repository}@${run.sha.slice(0, 8)}  ${run.status}`)
      .join('\n');
    throw new CliError(
      `${given} is the start of more than one run id; give more characters:\n${listed}` +
        (before ? '\n  (and maybe more)' : ''),
      2,
    );
  }
  return { id: matches[0]!.id };
}

export async function showRun(given: string, options: ClientOptions): Promise<void> {
  const resolved = await resolveRunId(given, options);
  let body: unknown = resolved.run;
  if (!body) {
    const answer = await call(`${baseUrl(options)}/runs/${encodeURIComponent(resolved.id)}`, { data: options.data });
    if (answer.status === 404) throw new CliError(`no run ${resolved.id}`);
    if (answer.status !== 200)
      throw new CliError(`showing the run failed (${answer.status}): ${JSON.stringify(answer.body)}`);
    body = answer.body;
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    return;
  }
  const run = body as RunJson;
  const base = baseUrl(options);
  const trigger = `${run.trigger}${run.pullRequest !== undefined ? ` #${run.pullRequest}` : ''}`;
  const lines = [
    `run ${run.id}: ${run.status}`,
    `  ${run.repository} ${run.sha} (${trigger})`,
    `  created ${run.createdAt}`,
  ];
  if (run.pullRequest !== undefined) lines.push(`  pull request: #${run.pullRequest}`);
  if (run.drift)
    lines.push(`  drift: ${run.drift.detected ? `found in ${run.drift.environments.join(', ')}` : 'none found'}`);
  if (run.error) lines.push(`  error: ${run.error}`);
  if (run.stop) lines.push(`  stopped by ${run.stop.by} at ${run.stop.at}: ${run.stop.reason}`);
  for (const stage of run.stages) {
    const approval = stage.approval
      ? ` approval ${stage.approval.id} ${stage.approval.status}` +
        ((stage.approval.required ?? 1) > 1
          ? ` (${stage.approval.approvals?.length ?? 0} of ${stage.approval.required}` +
            `${stage.approval.approvals?.length ? `: ${stage.approval.approvals.map((a) => a.by).join(', ')}` : ''})`
          : stage.approval.by
            ? ` by ${stage.approval.by}`
            : '') +
        (stage.approval.reason ? `: ${JSON.stringify(stage.approval.reason)}` : '')
      : '';
    lines.push(`  ${stage.environment}: ${stage.status} ${planText(stage.plan)}${approval}`);
    if (stage.error) lines.push(`    ${stage.error.split('\n').join('\n    ')}`);
    for (const [what, where] of Object.entries(stage.files ?? {}))
      lines.push(`    ${what}: ${where.startsWith('/runs/') ? `${base}${where}` : where}`);
  }
  for (const note of run.notes ?? []) lines.push(`  note: ${note}`);
  for (const [what, where] of Object.entries(run.locations ?? {})) lines.push(`  ${what}: ${where}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

export async function approveOrReject(
  decision: 'approve' | 'reject',
  approvalId: string,
  options: ClientOptions & { as?: string; reason?: string },
): Promise<void> {
  if (!/^[0-9a-f]{32}$/.test(approvalId))
    throw new CliError('an approval id is 32 hexadecimal characters (the last part of the approval link)', 2);
  const pageUrl = `${baseUrl(options)}/approvals/${approvalId}`;
  // The same route a person uses: read the page's anti-forgery field, then post the decision. The local
  // credential proves the operator of this machine; --as names which listed approver they are.
  const page = await call(`${pageUrl}${options.as ? `?as=${encodeURIComponent(options.as)}` : ''}`, {
    data: options.data,
  });
  if (page.status === 404) throw new CliError(`no approval ${approvalId}`);
  if (page.status !== 200) throw new CliError(`reading the approval failed (${page.status})`);
  const approval = page.body as {
    formToken: string;
    canDecide: boolean;
    reason?: string;
    environment: string;
    runId: string;
  };
  const form = new URLSearchParams({
    decision,
    form_token: approval.formToken,
    ...(options.as ? { as: options.as } : {}),
  });
  if (options.reason) form.set('reason', options.reason);
  const result = await call(pageUrl, {
    data: options.data,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  const message = (result.body as { message?: string }).message ?? JSON.stringify(result.body);
  if (result.status === 403 && !options.as) {
    throw new CliError(
      `${decision} refused (${result.status}): ${message} Say which approver you are with --as EMAIL (tfgate ` +
        `${decision} ${approvalId} --as EMAIL).`,
    );
  }
  if (result.status !== 200) throw new CliError(`${decision} refused (${result.status}): ${message}`);
  process.stdout.write(`${message}\n`);
}

/** The account running the CLI (a service without USER set still has one). */
function accountName(): string | undefined {
  try {
    return os.userInfo().username || undefined;
  } catch {
    return undefined;
  }
}

export async function unlockEnvironment(
  repository: string,
  environment: string,
  options: ClientOptions & { reason: string; force?: boolean },
): Promise<void> {
  const by = process.env.USER || process.env.LOGNAME || accountName() || 'tfgate unlock';
  const result = await call(`${baseUrl(options)}/local/unlock`, {
    data: options.data,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ repository, environment, reason: options.reason, by, force: options.force === true }),
  });
  const body = result.body as {
    released?: boolean;
    holder?: string;
    holderWasAlive?: boolean;
    holderStatus?: string;
    stopped?: { runId: string; status: string; error?: string };
    error?: string;
  };
  if (result.status === 409) throw new CliError(`unlock refused: ${body.error ?? JSON.stringify(body)}`);
  if (result.status !== 200)
    throw new CliError(`unlock failed (${result.status}): ${body.error ?? JSON.stringify(body)}`);
  if (!body.released) {
    process.stdout.write(`the ${environment} lock of ${repository} was not held\n`);
    return;
  }
  process.stdout.write(`freed the ${environment} lock of ${repository} (held by run ${body.holder})\n`);
  if (body.stopped) {
    process.stdout.write(
      `run ${body.stopped.runId} was still ${body.holderStatus}: it is now ${body.stopped.status} and plans or ` +
        `applies nothing more, restarts included (${body.stopped.error ?? 'stopped by the operator'})\n`,
    );
  } else if (body.holderWasAlive) {
    process.stdout.write(`run ${body.holder} ended on its own meanwhile (${body.holderStatus})\n`);
  }
}

/** `tfgate rerun RUN`: a deliberate re-run of a deploy run's commit, recorded with who asked. */
export async function rerunRun(
  given: string,
  options: ClientOptions & { as?: string; rollback?: boolean; reason?: string },
): Promise<void> {
  if (options.rollback && !options.reason?.trim())
    throw new CliError('a rollback needs a reason: tfgate rerun RUN --rollback --reason TEXT');
  if (options.reason && !options.rollback) throw new CliError('--reason goes with --rollback');
  const runId = (await resolveRunId(given, options)).id;
  // Only an approver of the repository may re-run; the local credential proves the operator, --as names which approver.
  const as = options.as ? `?as=${encodeURIComponent(options.as)}` : '';
  const { status, body } = await call(`${baseUrl(options)}/runs/${encodeURIComponent(runId)}/rerun${as}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(options.rollback ? { rollback: true, reason: options.reason } : {}),
    data: options.data,
  });
  const answer = (typeof body === 'object' && body !== null ? body : {}) as {
    runId?: string;
    rollback?: { reason: string };
    rerunOf?: string;
    requestedBy?: string;
    error?: string;
  };
  if (status !== 202 || !answer.runId)
    throw new CliError(`could not re-run ${runId}: ${answer.error ?? `HTTP ${status}`}`);
  if (options.json) process.stdout.write(`${JSON.stringify(answer)}\n`);
  else
    process.stdout.write(
      `run ${answer.runId} started: a ${answer.rollback ? 'rollback' : 're-run'} of ${answer.rerunOf}, requested by ` +
        `${answer.requestedBy}${answer.rollback ? ' (every environment it changes waits for an approval)' : ''}\n`,
    );
}
