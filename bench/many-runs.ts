import { performance } from 'node:perf_hooks';
import { round } from './common.js';
import { applyOrderProblems, finished, sendPush, startBenchStack } from './pipeline.js';

/**
 * Parts 5 and 7, in a process of its own so its peak RSS is the local stack's (`tfgate local`: the
 * same startLocalStack, engine, stores and server) and nothing of the bench's: `RUNS` push runs across
 * `REPOSITORIES` repositories sent at once (approval off, noop-terraform), until every run has ended.
 * Prints one JSON line. Builds are child processes; their memory is not in the figure.
 *
 *   node bin/run-ts.js bench/many-runs.ts RUNS REPOSITORIES
 */

const [runsArg, repositoriesArg] = process.argv.slice(2);
const runCount = Number(runsArg);
const repositoryCount = Number(repositoriesArg);
if (!Number.isInteger(runCount) || !Number.isInteger(repositoryCount) || runCount < 1 || repositoryCount < 1) {
  process.stderr.write('usage: many-runs.ts RUNS REPOSITORIES\n');
  process.exit(2);
}

const repositories = Array.from({ length: repositoryCount }, (_, i) => `bench/repo-${String(i).padStart(2, '0')}`);
const stack = await startBenchStack(repositories, {
  approval: false,
  commitsPerRepository: Math.ceil(runCount / repositoryCount),
});
let peakRssBytes = process.memoryUsage().rss;
const sampler = setInterval(() => (peakRssBytes = Math.max(peakRssBytes, process.memoryUsage().rss)), 100);
try {
  const started = performance.now();
  const runIds = await Promise.all(
    Array.from({ length: runCount }, (_, i) => sendPush(stack, repositories[i % repositoryCount]!)),
  );
  // Generous for this machine (about one run a second at worst); a run not ended by then is reported as lost.
  const timeoutMs = Number(process.env.BENCH_RUN_TIMEOUT_MS) || Math.max(180_000, runCount * 3_000);
  const settled = await Promise.allSettled(runIds.map((id) => finished(stack, id, timeoutMs)));
  const lostRuns = await Promise.all(
    runIds
      .filter((_, i) => settled[i]!.status === 'rejected')
      .map(async (id) => {
        const run = await stack.stack.runs.get(id);
        return run
          ? `${run.repository}#${run.sequence} still ${run.status}: ` +
              `${run.stages.map((stage) => `${stage.environment} ${stage.status}`).join(', ')}`
          : `${id}: no run record`;
      }),
  );
  const seconds = (performance.now() - started) / 1000;
  const runs = settled.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
  const problems = applyOrderProblems(runs);
  // maxRSS (KiB) is the kernel's own high-water mark; the sampler is a cross-check.
  const peak = Math.max(peakRssBytes, process.resourceUsage().maxRSS * 1024);
  process.stdout.write(
    `${JSON.stringify({
      runs: runCount,
      repositories: repositoryCount,
      distinctRunIds: new Set(runIds).size,
      seconds: round(seconds, 1),
      runsPerMinute: round((runs.length / seconds) * 60, 1),
      succeeded: runs.filter((run) => run.status === 'succeeded').length,
      lost: runCount - runs.length,
      lostRuns: lostRuns.slice(0, 5),
      appliesOrdered: problems.length === 0,
      orderingProblems: problems.slice(0, 5),
      notSucceeded: runs
        .filter((run) => run.status !== 'succeeded')
        .slice(0, 5)
        .map((run) => `${run.repository}#${run.sequence} ${run.status}: ${run.error ?? ''}`.slice(0, 300)),
      peakRssMiB: round(peak / (1024 * 1024), 1),
    })}\n`,
  );
} finally {
  clearInterval(sampler);
  await stack.close();
}
