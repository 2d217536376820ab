import { readFile, stat } from 'node:fs/promises';
import { CLI_LIMITS, planViewJson, planViewOfText, renderPlanViewText } from '../../src/domain/plan-view.js';
import { CliError } from './client.js';

/**
 * `tfgate plan show PLAN_JSON [--json]`: the structured view the approval page shows, from any saved
 * plan's `terraform show -json` output (`-` reads standard input). Offline; the same module as the
 * pipeline, with every resource named.
 */

/** A plan JSON larger than this is refused rather than read into memory. */
const MAX_PLAN_JSON_BYTES = 512 * 1024 * 1024;

async function readPlanJson(file: string): Promise<string> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of process.stdin) {
      size += (chunk as Buffer).length;
      if (size > MAX_PLAN_JSON_BYTES) throw new CliError('the plan JSON on standard input is larger than 512 MiB', 2);
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new CliError(`${file} is not a file`, 2);
    if (info.size > MAX_PLAN_JSON_BYTES) throw new CliError(`${file} is larger than 512 MiB`, 2);
    return await readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot read ${file}: ${(error as Error).message}`, 2);
  }
}

export async function runPlanShow(
  file: string,
  options: { json?: boolean },
  out: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  const text = await readPlanJson(file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not the parser's message: it quotes the text around the fault, which may be a secret.
    throw new CliError(
      `${file === '-' ? 'standard input' : file} is not JSON; give the output of ` + '`terraform show -json PLANFILE`',
      2,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !('format_version' in parsed))
    throw new CliError(
      `${file === '-' ? 'standard input' : file} is not a plan's JSON (no format_version); give the output of ` +
        '`terraform show -json PLANFILE`',
      2,
    );
  const view = planViewOfText(text, CLI_LIMITS);
  out.write(options.json ? `${JSON.stringify(planViewJson(view), null, 2)}\n` : renderPlanViewText(view));
}
