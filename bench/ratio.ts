import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { locateTerraform } from '../src/terraform-locator.js';
import { STARTER_FILES, STARTER_REPOSITORY } from '../src/local-mode/starter-repository.js';
import { childrenCpuMs, median, round, selfCpuMs } from './common.js';
import { finished, pushThroughHook, startBenchStack, stateFigures } from './pipeline.js';

const run = promisify(execFile);

/**
 * Part 8: tfgate's whole push run against the same terraform commands run by hand, on the starter
 * repository `tfgate demo` uses (a local module and terraform_data: real terraform works offline). By
 * hand: init, then per workspace (ops, apps) `workspace select -or-create`, `plan -out`, `apply` of that
 * plan. tfgate: a push to a fresh local stack through its bare repository's post-receive hook (as `git push`
 * runs it), ops planned and applied, apps planned, approved at once through the page, applied; measured as a
 * user sees it: push → apps applied, minus the approval wait. Both start from empty state with the same commit.
 * The real terraform when one is on PATH, else the test double (test/terraform-double): the figure says which.
 *
 * CPU: the hand run's is its terraform processes'; tfgate's is this process's (the local stack runs in it, as in
 * `tfgate local`; the bench's own part, approving through the page, is small) plus every child's (the hook, the
 * builds, their sandboxes and terraform), from /proc/self/stat.
 */

export interface RatioFigures {
  terraform: string;
  handRunMs: number;
  /** Push (the hook started) → apps applied, minus the approval wait (the bench approves at once). */
  tfgateRunMs: number;
  /** The AwaitApproval state's time, taken off tfgateRunMs. */
  approvalWaitMs: number;
  overheadRatio: number;
  handCpuMs?: number;
  /** tfgate's CPU for the run: the local stack and its children (builds, sandboxes, terraform), and the hook. */
  tfgateCpuMs?: number;
  hookCpuMs: number;
  /** tfgateCpuMs split: the local stack's process (engine, functions, dynalite, server) and its children. */
  tfgateSelfCpuMs: number;
  tfgateChildrenCpuMs?: number;
  cpuRatio?: number;
  samples: number;
}

const WORKSPACES = ['ops', 'apps'];

interface Sample {
  ms: number;
  cpuMs: number | undefined;
}

async function handRun(terraform: string, env: NodeJS.ProcessEnv): Promise<Sample> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-bench-hand-'));
  try {
    for (const [name, body] of Object.entries(STARTER_FILES)) {
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await writeFile(path.join(dir, name), body);
    }
    const tf = (args: string[]) => run(terraform, args, { cwd: dir, env });
    const started = performance.now();
    const cpuBefore = childrenCpuMs();
    await tf(['init', '-input=false', '-no-color']);
    for (const workspace of WORKSPACES) {
      await tf(['workspace', 'select', '-or-create', '-no-color', workspace]);
      await tf(['plan', '-input=false', '-no-color', `-out=${workspace}.tfplan`]);
      await tf(['apply', '-input=false', '-no-color', `${workspace}.tfplan`]);
    }
    const ms = performance.now() - started;
    const cpuAfter = childrenCpuMs();
    return { ms, cpuMs: cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function tfgateRun(
  terraform: string,
): Promise<Sample & { approvalWaitMs: number; hookCpuMs: number; selfCpuMs: number }> {
  const bench = await startBenchStack([STARTER_REPOSITORY], {
    approval: true,
    commitsPerRepository: 1,
    terraform,
    files: STARTER_FILES,
  });
  try {
    const started = performance.now();
    const selfBefore = selfCpuMs();
    const childrenBefore = childrenCpuMs();
    const push = await pushThroughHook(bench, STARTER_REPOSITORY);
    const result = await finished(bench, push.runId, 180_000);
    const ended = performance.now();
    const childrenAfter = childrenCpuMs();
    const selfMs = selfCpuMs() - selfBefore;
    if (result.status !== 'succeeded') throw new Error(`the tfgate run ended ${result.status}: ${result.error ?? ''}`);
    const { approvalWaitMs } = stateFigures(bench, result.executionName, ended);
    return {
      ms: ended - started - approvalWaitMs,
      approvalWaitMs,
      hookCpuMs: push.cpuMs,
      selfCpuMs: selfMs,
      cpuMs:
        childrenBefore === undefined || childrenAfter === undefined
          ? undefined
          : selfMs + childrenAfter - childrenBefore,
    };
  } finally {
    await bench.close();
  }
}

export async function benchRatio(samples: number): Promise<RatioFigures> {
  const found = await locateTerraform({ env: process.env }).catch(() => undefined);
  const terraform = found?.path ?? path.resolve('test', 'terraform-double', 'terraform');
  const env = { ...process.env, TF_IN_AUTOMATION: '1', TF_INPUT: '0' };
  const hand: Sample[] = [];
  const tfgate: Array<Awaited<ReturnType<typeof tfgateRun>>> = [];
  // Alternated, so a change in the machine's load falls on both.
  for (let i = 0; i < samples; i++) {
    hand.push(await handRun(terraform, env));
    tfgate.push(await tfgateRun(terraform));
  }
  const handRunMs = median(hand.map((s) => s.ms));
  const tfgateRunMs = median(tfgate.map((s) => s.ms));
  const cpu = (list: Sample[]) =>
    list.every((s) => s.cpuMs !== undefined) ? median(list.map((s) => s.cpuMs!)) : undefined;
  const handCpuMs = cpu(hand);
  const tfgateCpuMs = cpu(tfgate);
  return {
    terraform: found ? `${found.path} (real)` : `${terraform} (double)`,
    handRunMs: round(handRunMs, 1),
    tfgateRunMs: round(tfgateRunMs, 1),
    approvalWaitMs: round(median(tfgate.map((s) => s.approvalWaitMs)), 1),
    overheadRatio: round(tfgateRunMs / handRunMs, 2),
    ...(handCpuMs !== undefined && tfgateCpuMs !== undefined
      ? {
          handCpuMs: round(handCpuMs, 1),
          tfgateCpuMs: round(tfgateCpuMs, 1),
          cpuRatio: round(tfgateCpuMs / handCpuMs, 2),
        }
      : {}),
    hookCpuMs: round(median(tfgate.map((s) => s.hookCpuMs)), 1),
    tfgateSelfCpuMs: round(median(tfgate.map((s) => s.selfCpuMs)), 1),
    ...(tfgateCpuMs !== undefined
      ? { tfgateChildrenCpuMs: round(median(tfgate.map((s) => s.cpuMs! - s.selfCpuMs)), 1) }
      : {}),
    samples,
  };
}

if (process.argv[1]?.endsWith('ratio.ts')) {
  process.stdout.write(`${JSON.stringify(await benchRatio(Number(process.argv[2] ?? 1)), null, 2)}\n`);
}
