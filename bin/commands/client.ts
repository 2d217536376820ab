import { readFileSync } from 'node:fs';
import { TfgateError } from '../../src/domain/errors.js';
import { localCredentialFile } from '../../src/local-mode/secrets.js';
import { serverInfoFile } from './local.js';

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

export async function showRun(runId: string, options: ClientOptions): Promise<void> {
  const { status, body } = await call(`${baseUrl(options)}/runs/${encodeURIComponent(runId)}`, { data: options.data });
  if (status === 404) throw new CliError(`no run ${runId}`);
  if (status !== 200) throw new CliError(`showing the run failed (${status}): ${JSON.stringify(body)}`);
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

export async function unlockEnvironment(
  repository: string,
  environment: string,
  options: ClientOptions & { reason: string; force?: boolean },
): Promise<void> {
  const by = process.env.USER || process.env.LOGNAME || 'tfgate unlock';
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
  if (body.holderWasAlive) {
    process.stdout.write(
      `run ${body.holder} (${body.holderStatus}) was still alive: it is stopped before its ${environment} apply, ` +
        `which refuses to start without the lock\n`,
    );
  }
}

/** `tfgate rerun RUN`: a deliberate re-run of a deploy run's commit, recorded with who asked. */
export async function rerunRun(runId: string, options: ClientOptions & { as?: string }): Promise<void> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(runId))
    throw new CliError(`${JSON.stringify(runId)} is not a run id`, 2);
  // Only an approver of the repository may re-run; the local credential proves the operator, --as names which approver.
  const as = options.as ? `?as=${encodeURIComponent(options.as)}` : '';
  const { status, body } = await call(`${baseUrl(options)}/runs/${encodeURIComponent(runId)}/rerun${as}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
    data: options.data,
  });
  const answer = (typeof body === 'object' && body !== null ? body : {}) as {
    runId?: string;
    rerunOf?: string;
    requestedBy?: string;
    error?: string;
  };
  if (status !== 202 || !answer.runId)
    throw new CliError(`could not re-run ${runId}: ${answer.error ?? `HTTP ${status}`}`);
  if (options.json) process.stdout.write(`${JSON.stringify(answer)}\n`);
  else
    process.stdout.write(
      `run ${answer.runId} started: a re-run of ${answer.rerunOf}, requested by ${answer.requestedBy}\n`,
    );
}
