import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { locateTerraform } from '../src/terraform-locator.js';
import { STARTER_FILES, STARTER_REPOSITORY } from '../src/local-mode/starter-repository.js';
import { median, round } from './common.js';
import { finished, sendPush, startBenchStack } from './pipeline.js';

const run = promisify(execFile);

/**
 * Part 8: tfgate's whole push run against the same terraform commands run by hand, on the starter
 * repository `tfgate demo` uses (a local module and terraform_data: real terraform works offline). By
 * hand: init, then per workspace (ops, apps) `workspace select -or-create`, `plan -out`, `apply` of that
 * plan. tfgate: a push to a fresh local stack, ops planned and applied, apps planned, approved at once
 * through the page, applied. Both start from empty state. The real terraform when one is on PATH,
 * else the test double (test/terraform-double): the figure says which.
 */

export interface RatioFigures {
  terraform: string;
  handRunMs: number;
  tfgateRunMs: number;
  overheadRatio: number;
  samples: number;
}

const WORKSPACES = ['ops', 'apps'];

async function handRun(terraform: string, env: NodeJS.ProcessEnv): Promise<number> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-bench-hand-'));
  try {
    for (const [name, body] of Object.entries(STARTER_FILES)) {
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await writeFile(path.join(dir, name), body);
    }
    const tf = (args: string[]) => run(terraform, args, { cwd: dir, env });
    const started = performance.now();
    await tf(['init', '-input=false', '-no-color']);
    for (const workspace of WORKSPACES) {
      await tf(['workspace', 'select', '-or-create', '-no-color', workspace]);
      await tf(['plan', '-input=false', '-no-color', `-out=${workspace}.tfplan`]);
      await tf(['apply', '-input=false', '-no-color', `${workspace}.tfplan`]);
    }
    return performance.now() - started;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function tfgateRun(terraform: string): Promise<number> {
  const bench = await startBenchStack([STARTER_REPOSITORY], {
    approval: true,
    commitsPerRepository: 1,
    terraform,
    files: STARTER_FILES,
  });
  try {
    const started = performance.now();
    const result = await finished(bench, await sendPush(bench, STARTER_REPOSITORY), 300_000);
    const ms = performance.now() - started;
    if (result.status !== 'succeeded') throw new Error(`the tfgate run ended ${result.status}: ${result.error ?? ''}`);
    return ms;
  } finally {
    await bench.close();
  }
}

export async function benchRatio(samples: number): Promise<RatioFigures> {
  const found = await locateTerraform({ env: process.env }).catch(() => undefined);
  const terraform = found?.path ?? path.resolve('test', 'terraform-double', 'terraform');
  const env = { ...process.env, TF_IN_AUTOMATION: '1', TF_INPUT: '0' };
  const hand: number[] = [];
  const tfgate: number[] = [];
  // Alternated, so a change in the machine's load falls on both.
  for (let i = 0; i < samples; i++) {
    hand.push(await handRun(terraform, env));
    tfgate.push(await tfgateRun(terraform));
  }
  const handRunMs = median(hand);
  const tfgateRunMs = median(tfgate);
  return {
    terraform: found ? `${found.path} (real)` : `${terraform} (double)`,
    handRunMs: round(handRunMs, 1),
    tfgateRunMs: round(tfgateRunMs, 1),
    overheadRatio: round(tfgateRunMs / handRunMs, 2),
    samples,
  };
}
