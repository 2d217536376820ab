import { spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

/** What every part of the bench shares: GitHub's own example payloads, signing, percentiles. */

const require = createRequire(import.meta.url);
/** The fields of a push example the bench rewrites; the rest of GitHub's payload passes through untouched. */
interface PushExample {
  ref: string;
  deleted: boolean;
  after: string;
  repository: { full_name: string; name: string; [field: string]: unknown };
  [field: string]: unknown;
}

const groups = require('@octokit/webhooks-examples/api.github.com/index.json') as Array<{
  name: string;
  examples: PushExample[];
}>;

/** GitHub's documented push example (a real-sized payload, about 7 KB), aimed at `repository` and `branch`. */
export function pushPayload(repository: string, branch = 'main', sha?: string): PushExample {
  const example = groups
    .find((group) => group.name === 'push')
    ?.examples.find((p) => p.ref === 'refs/heads/master' && p.deleted === false);
  if (!example) throw new Error('the push example is missing from @octokit/webhooks-examples');
  const payload = structuredClone(example);
  payload.ref = `refs/heads/${branch}`;
  payload.repository.full_name = repository;
  payload.repository.name = repository.split('/')[1] ?? repository;
  if (sha) payload.after = sha;
  return payload;
}

export function signed(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function pushHeaders(
  body: string,
  secret: string,
  event = 'push',
  deliveryId: string = randomUUID(),
): Record<string, string> {
  return {
    'content-type': 'application/json',
    'x-github-event': event,
    'x-github-delivery': deliveryId,
    'x-hub-signature-256': signed(body, secret),
  };
}

/** Nearest-rank percentile of an ascending list. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

export const round = (value: number, digits = 2): number => Number(value.toFixed(digits));

/** CPU milliseconds (user + system) of this process so far. */
export function selfCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Clock ticks per second of /proc's times: 100 on every Linux the bench runs on (`getconf CLK_TCK`). */
const CLOCK_TICKS = 100;

/**
 * CPU milliseconds of this process's children that have ended and were waited for (and theirs, each
 * waited for by its parent): /proc/self/stat's cutime + cstime. Undefined where /proc is not there.
 */
export function childrenCpuMs(): number | undefined {
  let stat: string;
  try {
    stat = readFileSync('/proc/self/stat', 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces): state is field 3, cutime 16 and cstime 17.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / CLOCK_TICKS;
}

export interface ProcessCost {
  wallMs: number;
  /** CPU of the process and everything it started (bash's `times` for its children). */
  cpuMs: number;
  stdout: string;
  stderr: string;
  code: number;
}

/**
 * Runs a command under bash, whose `times` reports the CPU of the children it waited for, to the
 * millisecond: what the command cost the machine in all, whatever else this process runs meanwhile.
 */
export async function measureProcess(
  command: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<ProcessCost> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-bench-proc-'));
  try {
    const out = path.join(dir, 'out');
    const err = path.join(dir, 'err');
    const input = path.join(dir, 'in');
    await writeFile(input, options.input ?? '');
    const script = '"$@" <"$BENCH_IN" >"$BENCH_OUT" 2>"$BENCH_ERR"; code=$?; times; exit $code';
    const started = performance.now();
    const result = await new Promise<{ code: number; times: string }>((resolve, reject) => {
      const child = spawn('bash', ['-c', script, 'bench', ...command], {
        cwd: options.cwd,
        env: { ...(options.env ?? process.env), BENCH_IN: input, BENCH_OUT: out, BENCH_ERR: err },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let times = '';
      child.stdout.on('data', (chunk: Buffer) => {
        times += chunk.toString();
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? 1, times }));
    });
    const wallMs = performance.now() - started;
    // `times`: the shell's own user/system, then its children's: "0m0.123s 0m0.045s".
    const children = result.times.trim().split('\n')[1] ?? '';
    const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
    return {
      wallMs,
      cpuMs: seconds.reduce((a, b) => a + b, 0) * 1000,
      stdout: await readFile(out, 'utf8'),
      stderr: await readFile(err, 'utf8'),
      code: result.code,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
