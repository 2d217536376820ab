import { median, measureProcess, round } from './common.js';
import { finished, pushThroughHook, startBenchStack } from './pipeline.js';

/**
 * What a person feels on every push besides the pipeline: the bare repository's post-receive hook
 * (git push waits for it) and a CLI call (`tfgate runs --json`), each a whole process of its own:
 * wall time and CPU (the process and everything it started). Also on its own:
 * `node bin/run-ts.js bench/user-facing.ts [samples]`.
 */

export interface UserFacingFigures {
  /** post-receive → webhook accepted (the hook's exit), median. */
  postReceiveMs: number;
  postReceiveCpuMs: number;
  /** `tfgate runs --json` against a running local stack, the whole process, median. */
  cliMs: number;
  cliCpuMs: number;
  samples: number;
}

const REPOSITORY = 'acme/infrastructure';

export async function benchUserFacing(samples: number): Promise<UserFacingFigures> {
  // Approval off: the runs the hook starts end on their own with noop-terraform, in the background.
  const bench = await startBenchStack([REPOSITORY], { approval: false, commitsPerRepository: samples + 1 });
  try {
    const hook: Array<{ wallMs: number; cpuMs: number }> = [];
    for (let i = 0; i < samples; i++) {
      const push = await pushThroughHook(bench, REPOSITORY);
      hook.push(push);
      await finished(bench, push.runId);
    }
    const cli: Array<{ wallMs: number; cpuMs: number }> = [];
    // Once to fill the caches a clone's first call fills (tsx's compile cache); then measured.
    for (let i = 0; i <= samples; i++) {
      const call = await measureProcess(
        [process.execPath, 'bin/tfgate.js', 'runs', '--json', '--url', bench.stack.url, '--data', bench.stack.dataDir],
        { env: { ...process.env, NODE_NO_WARNINGS: '1' } },
      );
      if (call.code !== 0 || !call.stdout.includes('"runs"'))
        throw new Error(`tfgate runs --json failed (exit ${call.code}): ${call.stderr}`);
      if (i > 0) cli.push(call);
    }
    return {
      postReceiveMs: round(median(hook.map((h) => h.wallMs)), 1),
      postReceiveCpuMs: round(median(hook.map((h) => h.cpuMs)), 1),
      cliMs: round(median(cli.map((c) => c.wallMs)), 1),
      cliCpuMs: round(median(cli.map((c) => c.cpuMs)), 1),
      samples,
    };
  } finally {
    await bench.close();
  }
}

if (process.argv[1]?.endsWith('user-facing.ts')) {
  const figures = await benchUserFacing(Number(process.argv[2] ?? 5));
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
}
