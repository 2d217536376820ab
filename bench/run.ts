import { performance } from 'node:perf_hooks';
import { buildStartModel, renderBuildStartModel } from './build-start.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { buildFunctionBundle, FUNCTION_NAMES, type BundleFigures } from './bundle.js';
import { benchColdStart, benchOtherColdStarts, type FunctionColdStart } from './cold-start.js';
import { median, round } from './common.js';
import { atRestCost, ASSUMED_BILLED_MS_PER_INVOCATION, PRICES, runCost, type Invocations } from './cost.js';
import { benchIntakeDynalite, benchIntakeMemory } from './intake.js';
import {
  countDynamoCalls,
  finished,
  firstPlanStartedMs,
  resetDynamoCounts,
  sendPullRequest,
  sendPush,
  startBenchStack,
  stateFigures,
  terraformTime,
} from './pipeline.js';
import { benchRatio } from './ratio.js';
import { benchSandbox } from './sandbox.js';
import { benchUserFacing } from './user-facing.js';

/**
 * `npm run bench` (a table) or `npm run bench -- --json` (one JSON object on stdout). Figures only:
 * the goals are printed beside them, nothing here passes or fails on them. See bench/README.md.
 */

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const progress = (line: string) => process.stderr.write(`bench: ${line}\n`);

const GOALS = {
  intakeP99Ms: 5,
  /** Per function, with the AWS SDK bundled (issue 15). */
  bundleBytes: 400 * 1024,
  coldStartMs: 150,
  /** Issue 25: what a push costs besides terraform's own time. */
  overheadPerStageMs: 50,
  /** The local push hook: post-receive → webhook accepted. */
  postReceiveMs: 100,
  /** `tfgate runs --json`, the whole process, CPU. */
  cliCpuMs: 200,
  /** CPU of tfgate local and its children (and the hook) over the hand-run terraform's. */
  cpuRatio: 1.3,
  /** The bubblewrap sandbox around a local build's commands, per build (issue 21). */
  sandboxPerBuildMs: 20,
  overheadRatio: 1.25,
  pushToPlanStartMs: 100,
  peakRssMiB: 600,
  orchestrationUsdPerRun: 0.001,
  costAtRestUsdPerMonth: 0,
};

const INTAKE_DELIVERIES = quick ? 2_000 : 10_000;
const INTAKE_DYNALITE_DELIVERIES = quick ? 300 : 2_000;
const COLD_STARTS = quick ? 3 : 10;
const MEASURED_PUSH_RUNS = quick ? 1 : 3;
const THROUGHPUT_REPOSITORIES = 10;
const THROUGHPUT_RUNS = quick ? 20 : 50;
const MEMORY_REPOSITORIES = quick ? 10 : 40;
const MEMORY_RUNS = quick ? 50 : 200;
const RATIO_SAMPLES = quick ? 1 : 3;
const SANDBOX_SAMPLES = quick ? 20 : 100;
const USER_FACING_SAMPLES = quick ? 3 : 7;
const STAGES_PER_PUSH_RUN = 4;

countDynamoCalls();

// ---------------------------------------------------------------- 1. intake
progress(`intake: ${INTAKE_DELIVERIES} signed pushes through the handler with in-memory ports`);
const intakeMemory = await benchIntakeMemory(INTAKE_DELIVERIES);
progress(`intake: ${INTAKE_DYNALITE_DELIVERIES} signed pushes with the DynamoDB adapters on dynalite`);
const intakeDynalite = await benchIntakeDynalite(INTAKE_DYNALITE_DELIVERIES);

// ---------------------------------------------------------------- 2. bundles
progress('bundles: esbuild with the options infra/functions.ts gives NodejsFunction (infra/bundling.ts)');
const bundles = {} as Record<(typeof FUNCTION_NAMES)[number], BundleFigures>;
for (const name of FUNCTION_NAMES) bundles[name] = await buildFunctionBundle(name);
const bundle = bundles.webhook;

// ---------------------------------------------------------------- 3. cold start
progress(`cold start: ${COLD_STARTS} fresh processes per function`);
const cold = await benchColdStart(bundle.file, COLD_STARTS);
const { webhook: _webhook, ...otherBundles } = bundles;
const otherColds = await benchOtherColdStarts(
  Object.fromEntries(Object.entries(otherBundles).map(([name, b]) => [name, b.file])),
  COLD_STARTS,
);
const coldStarts: Record<string, FunctionColdStart> = {
  webhook: {
    measures: 'signed push: secret, DynamoDB, StartExecution',
    coldStartMs: cold.coldStartMs,
    importMs: cold.importMs,
    handlerMs: cold.handlerMs,
  },
  ...otherColds,
};

// ---------------------------------------------------------------- 4 and 6. one push run, one pull request run, a
// reconcile pass
progress('pipeline: push runs (ops and apps, approval given at once) with a terraform that does no work');
const single = await startBenchStack(['acme/infrastructure'], {
  approval: true,
  commitsPerRepository: MEASURED_PUSH_RUNS + 2,
});
const pushRuns: Array<{
  pushToPlanStartMs: number | undefined;
  totalMs: number;
  terraformMs: number;
  terraformInvocations: number;
  buildStateMs: number;
  approvalWaitMs: number;
  figures: ReturnType<typeof stateFigures>;
  dynamo: ReturnType<typeof resetDynamoCounts>;
  approvalRequests: number;
}> = [];
let pullRequest: {
  figures: ReturnType<typeof stateFigures>;
  dynamo: ReturnType<typeof resetDynamoCounts>;
  totalMs: number;
};
let reconcilePass: ReturnType<typeof resetDynamoCounts>;
try {
  // The first run pays one-time costs (first checkout, first build process); it is not measured.
  const warmup = await finished(single, await sendPush(single, 'acme/infrastructure'));
  if (warmup.status !== 'succeeded') throw new Error(`the warm-up run ended ${warmup.status}: ${warmup.error ?? ''}`);
  for (let i = 0; i < MEASURED_PUSH_RUNS; i++) {
    resetDynamoCounts();
    single.approvalRequests.count = 0;
    const sinceEpoch = Date.now();
    const started = performance.now();
    const run = await finished(single, await sendPush(single, 'acme/infrastructure'));
    const ended = performance.now();
    if (run.status !== 'succeeded' || run.stages.some((stage) => stage.status !== 'applied'))
      throw new Error(`push run ${run.id} ended ${run.status}: ${run.error ?? ''}`);
    const terraform = await terraformTime(single, sinceEpoch);
    const figures = stateFigures(single, run.executionName, ended);
    pushRuns.push({
      pushToPlanStartMs: await firstPlanStartedMs(single, sinceEpoch),
      totalMs: ended - started,
      terraformMs: terraform.ms,
      terraformInvocations: terraform.invocations,
      buildStateMs: figures.buildStateMs,
      approvalWaitMs: figures.approvalWaitMs,
      figures,
      dynamo: resetDynamoCounts(),
      approvalRequests: single.approvalRequests.count,
    });
  }
  progress('pipeline: a pull request run (plans only)');
  resetDynamoCounts();
  const prStarted = performance.now();
  const pr = await finished(single, await sendPullRequest(single, 'acme/infrastructure'));
  const prEnded = performance.now();
  if (pr.status !== 'succeeded') throw new Error(`pull request run ${pr.id} ended ${pr.status}: ${pr.error ?? ''}`);
  pullRequest = {
    figures: stateFigures(single, pr.executionName, prEnded),
    dynamo: resetDynamoCounts(),
    totalMs: prEnded - prStarted,
  };
  progress('pipeline: one reconcile pass with nothing to do (what runs at rest)');
  await single.stack.reconciler.reconcile();
  reconcilePass = resetDynamoCounts();
} finally {
  await single.close();
}

// ---------------------------------------------------------------- 5 and 7. throughput, memory
interface ManyRuns {
  runs: number;
  repositories: number;
  seconds: number;
  runsPerMinute: number;
  succeeded: number;
  lost: number;
  lostRuns: string[];
  appliesOrdered: boolean;
  orderingProblems: string[];
  notSucceeded: string[];
  peakRssMiB: number;
}
const runChild = promisify(execFile);
/** In a process of its own (bench/many-runs.ts), so its peak RSS is the local stack's alone. */
async function manyRuns(runs: number, repositories: number): Promise<ManyRuns> {
  const { stdout } = await runChild(
    process.execPath,
    ['bin/run-ts.js', 'bench/many-runs.ts', String(runs), String(repositories)],
    { env: { ...process.env, NODE_NO_WARNINGS: '1' }, maxBuffer: 16 * 1024 * 1024 },
  );
  return JSON.parse(stdout.trim().split('\n').pop()!) as ManyRuns;
}
progress(`throughput: ${THROUGHPUT_RUNS} push runs across ${THROUGHPUT_REPOSITORIES} repositories at once`);
const throughput = await manyRuns(THROUGHPUT_RUNS, THROUGHPUT_REPOSITORIES);
progress(
  `memory: ${MEMORY_RUNS} push runs across ${MEMORY_REPOSITORIES} repositories at once, peak RSS of the local stack`,
);
const memory = await manyRuns(MEMORY_RUNS, MEMORY_REPOSITORIES);

// ---------------------------------------------------------------- 7b. the build sandbox
progress(`sandbox: a command started directly and through bubblewrap, ${SANDBOX_SAMPLES} times each`);
// Sandboxed commands per build in the push runs measured above: tar, and each terraform invocation.
const commandsPerBuild = median(pushRuns.map((r) => r.terraformInvocations)) / STAGES_PER_PUSH_RUN + 1;
const sandbox = await benchSandbox(SANDBOX_SAMPLES, round(commandsPerBuild, 2));

// ---------------------------------------------------------------- 7c. the push hook and the CLI
progress(`hook and CLI: ${USER_FACING_SAMPLES} pushes through the post-receive hook, as many tfgate runs --json`);
const userFacing = await benchUserFacing(USER_FACING_SAMPLES);

// ---------------------------------------------------------------- 8. end-to-end ratio
progress(`ratio: the starter repository by hand and through tfgate, ${RATIO_SAMPLES} time(s) each`);
const ratio = await benchRatio(RATIO_SAMPLES);

// ---------------------------------------------------------------- figures
const mid = pushRuns.map((r) => r.totalMs).sort((a, b) => a - b)[Math.floor(pushRuns.length / 2)]!;
const typical = pushRuns.find((r) => r.totalMs === mid)!;
const pushTotalMs = median(pushRuns.map((r) => r.totalMs));
const pushTerraformMs = median(pushRuns.map((r) => r.terraformMs));
const pushBuildStateMs = median(pushRuns.map((r) => r.buildStateMs));
const pushApprovalMs = median(pushRuns.map((r) => r.approvalWaitMs));

function invocations(figures: ReturnType<typeof stateFigures>, extra: Invocations): Invocations {
  const notifier = figures.byState.AwaitApproval ?? 0;
  return {
    webhook: 1,
    pipeline: figures.lambdaTaskInvocations - notifier,
    ...(notifier > 0 ? { notifier } : {}),
    ...extra,
  };
}

const pushCost = runCost({
  transitions: typical.figures.transitions,
  lambdaInvocations: invocations(typical.figures, { approvals: typical.approvalRequests }),
  dynamo: typical.dynamo,
  builds: typical.figures.builds,
});
const prCost = runCost({
  transitions: pullRequest.figures.transitions,
  lambdaInvocations: invocations(pullRequest.figures, {}),
  dynamo: pullRequest.dynamo,
  builds: pullRequest.figures.builds,
});
const atRest = atRestCost(reconcilePass);

const figures = {
  intakeP50Ms: intakeMemory.p50Ms,
  intakeP99Ms: intakeMemory.p99Ms,
  intakeDeliveries: intakeMemory.deliveries,
  intakeStores: 'in-memory ports (test/support/memory-stores.ts), recording ExecutionStarter',
  intakeDynaliteP50Ms: intakeDynalite.p50Ms,
  intakeDynaliteP99Ms: intakeDynalite.p99Ms,
  intakeDynaliteDeliveries: intakeDynalite.deliveries,
  bundleBytes: Object.fromEntries(FUNCTION_NAMES.map((name) => [name, bundles[name].bytes])),
  bundleTopContributors: Object.fromEntries(
    FUNCTION_NAMES.map((name) => [name, bundles[name].contributors.slice(0, 6)]),
  ),
  coldStartMs: Object.fromEntries(Object.entries(coldStarts).map(([name, c]) => [name, c.coldStartMs])),
  coldStarts,
  coldStartImportMs: cold.importMs,
  coldStartSdkImportMs: cold.sdkImportMs,
  coldStartHandlerMs: cold.handlerMs,
  coldStartNodeStartMs: cold.nodeStartMs,
  coldStartSamples: cold.samples,
  overheadPerStageMs: round((pushTotalMs - pushTerraformMs) / STAGES_PER_PUSH_RUN, 1),
  overheadStagesCounted: 'plan and apply of ops and apps = 4',
  pushToPlanStartMs: round(
    median(pushRuns.flatMap((r) => (r.pushToPlanStartMs === undefined ? [] : [r.pushToPlanStartMs]))),
    1,
  ),
  overheadRatio: ratio.overheadRatio,
  cpuRatio: ratio.cpuRatio,
  ratio,
  postReceiveMs: userFacing.postReceiveMs,
  postReceiveCpuMs: userFacing.postReceiveCpuMs,
  cliMs: userFacing.cliMs,
  cliCpuMs: userFacing.cliCpuMs,
  userFacing,
  pushRunTotalMs: round(pushTotalMs, 1),
  pushRunTerraformMs: round(pushTerraformMs, 1),
  pushRunTerraformInvocations: typical.terraformInvocations,
  pushRunBuildStatesMs: round(pushBuildStateMs, 1),
  pushRunApprovalRoundTripMs: round(pushApprovalMs, 1),
  buildRunnerOverheadPerBuildMs: round((pushBuildStateMs - pushTerraformMs) / STAGES_PER_PUSH_RUN, 1),
  orchestrationPerStageMs: round((pushTotalMs - pushBuildStateMs) / STAGES_PER_PUSH_RUN, 1),
  sandboxPerBuildMs: sandbox.perBuildMs,
  sandboxPerCommandMs: sandbox.perCommandMs,
  sandbox,
  pushRunsMeasured: pushRuns.length,
  pullRequestRunTotalMs: round(pullRequest.totalMs, 1),
  runsPerMinute: throughput.runsPerMinute,
  throughputRuns: throughput.runs,
  throughputRepositories: THROUGHPUT_REPOSITORIES,
  throughputSeconds: throughput.seconds,
  throughputSucceeded: throughput.succeeded,
  throughputLost: throughput.lost,
  throughputLostRuns: throughput.lostRuns,
  throughputAppliesOrdered: throughput.appliesOrdered,
  throughputOrderingProblems: throughput.orderingProblems,
  throughputNotSucceeded: throughput.notSucceeded,
  peakRssMiB: memory.peakRssMiB,
  memoryRuns: memory.runs,
  memoryRepositories: memory.repositories,
  memorySucceeded: memory.succeeded,
  memoryLost: memory.lost,
  memoryLostRuns: memory.lostRuns,
  memoryAppliesOrdered: memory.appliesOrdered,
  memoryNotSucceeded: memory.notSucceeded,
  memorySeconds: memory.seconds,
  costPerPushRunUsd: pushCost.orchestrationUsd,
  costPerPullRequestRunUsd: prCost.orchestrationUsd,
  pushRunTransitions: pushCost.transitions,
  pullRequestRunTransitions: prCost.transitions,
  pushRunStates: typical.figures.byState,
  pushRun: pushCost,
  pullRequestRun: prCost,
  codeBuildUsdPerBuildMinute: PRICES.codeBuildArm1SmallPerMinute,
  codeBuildMinimumPerPushRunUsd: pushCost.codeBuildMinimumUsd,
  codeBuildMinimumPerPullRequestRunUsd: prCost.codeBuildMinimumUsd,
  costAtRestUsdPerMonth: atRest.costAtRestUsdPerMonth,
  costAtRestAfterFreeTierUsdPerMonth: atRest.costAtRestAfterFreeTierUsdPerMonth,
  orchestrationAtRestUsdPerMonth: 0,
  atRest,
  fixedFeesUsdPerMonth: atRest.fixedFeesUsdPerMonth,
  prices: PRICES,
  assumedLambdaBilledMsPerInvocation: ASSUMED_BILLED_MS_PER_INVOCATION,
  pushToOpsPlanStarted: buildStartModel(),
  goals: GOALS,
  machine: {
    node: process.version,
    cpus: (await import('node:os')).cpus().length,
    platform: process.platform,
    loadAverageAtEnd: (await import('node:os')).loadavg().map((l) => round(l, 2)),
  },
};

if (json) {
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
} else {
  const usd = (value: number) => `$${value < 0.01 ? value.toFixed(6) : value.toFixed(2)}`;
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
  const rows: Array<[string, string, string]> = [
    ['intake p50 (handler, in-memory ports)', `${figures.intakeP50Ms} ms`, ''],
    ['intake p99 (handler, in-memory ports)', `${figures.intakeP99Ms} ms`, `< ${GOALS.intakeP99Ms} ms`],
    [
      `intake p50 / p99 (DynamoDB adapters on dynalite, ${figures.intakeDynaliteDeliveries})`,
      `${figures.intakeDynaliteP50Ms} / ${figures.intakeDynaliteP99Ms} ms`,
      '',
    ],
    ...FUNCTION_NAMES.map((name): [string, string, string] => [
      `bundle: ${name}`,
      kb(bundles[name].bytes),
      `< ${kb(GOALS.bundleBytes)}`,
    ]),
    ...Object.entries(coldStarts).map(([name, c]): [string, string, string] => [
      `cold start: ${name} (${c.measures}), median`,
      `${c.coldStartMs} ms (import ${c.importMs} ms)`,
      `< ${GOALS.coldStartMs} ms`,
    ]),
    ['  webhook: bare node start', `${figures.coldStartNodeStartMs} ms`, ''],
    [
      '  webhook: import of the bundle (the SDK from node_modules alone, for comparison)',
      `${figures.coldStartImportMs} ms (${figures.coldStartSdkImportMs} ms)`,
      '',
    ],
    ['  webhook, first request (secret, 6 DynamoDB calls, StartExecution)', `${figures.coldStartHandlerMs} ms`, ''],
    [
      `overhead ratio: push (hook) → apps applied, less the approval wait / the same terraform by hand ` +
        `(${ratio.terraform.endsWith('(real)') ? 'real terraform' : 'double'})`,
      `${figures.overheadRatio} (${ratio.tfgateRunMs} / ${ratio.handRunMs} ms)`,
      `<= ${GOALS.overheadRatio}`,
    ],
    [
      'CPU ratio: tfgate local + children + hook / the same terraform by hand',
      ratio.cpuRatio === undefined
        ? 'n/a (no /proc)'
        : `${ratio.cpuRatio} (${ratio.tfgateCpuMs} / ${ratio.handCpuMs} ms)`,
      `<= ${GOALS.cpuRatio}`,
    ],
    [
      'local push hook: post-receive → webhook accepted (CPU)',
      `${figures.postReceiveMs} ms (${figures.postReceiveCpuMs} ms)`,
      `< ${GOALS.postReceiveMs} ms`,
    ],
    [
      'tfgate runs --json, whole process: wall (CPU)',
      `${figures.cliMs} ms (${figures.cliCpuMs} ms)`,
      `< ${GOALS.cliCpuMs} ms CPU`,
    ],
    ['push to ops terraform plan started', `${figures.pushToPlanStartMs} ms`, `< ${GOALS.pushToPlanStartMs} ms`],
    [
      'overhead per stage: (push run - terraform) / 4',
      `${figures.overheadPerStageMs} ms`,
      `< ${GOALS.overheadPerStageMs} ms`,
    ],
    [
      '  push run total / inside terraform',
      `${figures.pushRunTotalMs} / ${figures.pushRunTerraformMs} ms (${figures.pushRunTerraformInvocations} calls)`,
      '',
    ],
    ['  build runner outside terraform, per build', `${figures.buildRunnerOverheadPerBuildMs} ms`, ''],
    [
      `  build sandbox (bubblewrap), per build: ${sandbox.commandsPerBuild} commands`,
      sandbox.available ? `${sandbox.perBuildMs} ms (${sandbox.perCommandMs} ms each)` : `n/a: ${sandbox.reason}`,
      `< ${GOALS.sandboxPerBuildMs} ms`,
    ],
    ['  engine + functions + stores per stage (no builds)', `${figures.orchestrationPerStageMs} ms`, ''],
    ['  approval round trip through the page', `${figures.pushRunApprovalRoundTripMs} ms`, ''],
    [
      `throughput: ${figures.throughputRuns} runs, ${figures.throughputRepositories} repositories`,
      `${figures.runsPerMinute} runs/min (${figures.throughputSeconds} s)`,
      '',
    ],
    [
      '  succeeded / lost / applies in push order',
      `${figures.throughputSucceeded}/${figures.throughputRuns} / ${figures.throughputLost} / ` +
        `${figures.throughputAppliesOrdered ? 'yes' : 'NO'}`,
      'all / 0 / yes',
    ],
    [
      `peak RSS of the local stack: ${memory.runs} runs, ${memory.repositories} repositories`,
      `${figures.peakRssMiB} MiB (${memory.seconds} s)`,
      `< ${GOALS.peakRssMiB} MiB`,
    ],
    [
      '  succeeded / lost / applies in push order',
      `${memory.succeeded}/${memory.runs} / ${memory.lost} / ${memory.appliesOrdered ? 'yes' : 'NO'}`,
      'all / 0 / yes',
    ],
    [
      'push run: transitions, Lambda, DynamoDB RRU/WRU',
      `${pushCost.transitions}, ${Object.values(pushCost.lambdaInvocations).reduce((a, b) => a + b, 0)}, ` +
        `${pushCost.dynamo.readUnits}/${pushCost.dynamo.writeUnits}`,
      '',
    ],
    ['cost per push run (orchestration)', usd(figures.costPerPushRunUsd), `< ${usd(GOALS.orchestrationUsdPerRun)}`],
    [
      'pull request run: transitions, Lambda, DynamoDB RRU/WRU',
      `${prCost.transitions}, ${Object.values(prCost.lambdaInvocations).reduce((a, b) => a + b, 0)}, ` +
        `${prCost.dynamo.readUnits}/${prCost.dynamo.writeUnits}`,
      '',
    ],
    [
      'cost per pull request run (orchestration)',
      usd(figures.costPerPullRequestRunUsd),
      `< ${usd(GOALS.orchestrationUsdPerRun)}`,
    ],
    [
      'CodeBuild, apart: arm1.small per build minute',
      `${usd(PRICES.codeBuildArm1SmallPerMinute)} (push >= ${usd(pushCost.codeBuildMinimumUsd)}, PR >= ` +
        `${usd(prCost.codeBuildMinimumUsd)})`,
      '',
    ],
    ['orchestration at rest', usd(0), '$0'],
    [
      `at rest: reconciler every 5 min (${atRest.reconcilerRunsPerMonth}/month), list price`,
      `${usd(atRest.costAtRestUsdPerMonth)}/month`,
      `${usd(GOALS.costAtRestUsdPerMonth)}`,
    ],
    ['  after the always-free tiers', `${usd(atRest.costAtRestAfterFreeTierUsdPerMonth)}/month`, ''],
    ['fixed fees (3 secrets, 6 alarms)', `${usd(atRest.fixedFeesUsdPerMonth)}/month`, ''],
  ];
  const width = Math.max(...rows.map((r) => r[0].length));
  const valueWidth = Math.max(...rows.map((r) => r[1].length));
  process.stdout.write(
    `${'figure'.padEnd(width)}  ${'measured'.padEnd(valueWidth)}  goal\n${'-'.repeat(width + valueWidth + 12)}\n`,
  );
  for (const [name, value, goal] of rows)
    process.stdout.write(`${name.padEnd(width)}  ${value.padEnd(valueWidth)}  ${goal}\n`);
  for (const name of FUNCTION_NAMES) {
    process.stdout.write(`\n${name} bundle, largest contributors:\n`);
    for (const { name: contributor, bytes } of bundles[name].contributors.slice(0, 5))
      process.stdout.write(`  ${contributor.padEnd(40)} ${kb(bytes)}\n`);
  }
  const misses = [
    ...figures.throughputNotSucceeded,
    ...throughput.lostRuns,
    ...figures.memoryNotSucceeded,
    ...memory.lostRuns,
  ];
  if (misses.length)
    process.stdout.write(`\nruns that did not succeed (first few):\n${misses.map((m) => `  ${m}`).join('\n')}\n`);
  process.stdout.write(`\n${renderBuildStartModel(figures.pushToOpsPlanStarted)}\n`);
  process.stdout.write(
    `\nprices: ${PRICES.asOf}; Lambda billed ${ASSUMED_BILLED_MS_PER_INVOCATION} ms per invocation assumed; ` +
      `machine: node ${process.version}, ${figures.machine.cpus} CPUs\n`,
  );
}
