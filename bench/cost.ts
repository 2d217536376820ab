import { FUNCTION_NEEDS, type FunctionName } from '../infra/functions.js';
import type { DynamoCounts } from './pipeline.js';

/**
 * Part 6: what a run costs in AWS, from counts taken by executing the definition, at us-east-1 list
 * prices. Prices as published on the AWS pricing pages and known to us in 2025 (DynamoDB on-demand
 * after its 1 November 2024 price cut); check them for your region and date.
 */
export const PRICES = {
  asOf: '2025 us-east-1 list prices (no free tier applied)',
  stepFunctionsStandardPerTransition: 0.025 / 1000,
  lambdaPerRequest: 0.2 / 1_000_000,
  /** The functions run on arm64 (infra/functions.ts). */
  lambdaArm64PerGbSecond: 0.0000133334,
  dynamoOnDemandPerWriteUnit: 0.625 / 1_000_000,
  dynamoOnDemandPerReadUnit: 0.125 / 1_000_000,
  /** infra/builds.ts: ComputeType.SMALL on the Linux ARM image, i.e. arm1.small, billed per started minute. */
  codeBuildArm1SmallPerMinute: 0.0034,
  secretsManagerPerSecretMonth: 0.4,
  secretsManagerPerApiCall: 0.05 / 10_000,
  cloudWatchAlarmPerMonth: 0.1,
  eventBridgeSchedulerPerInvocation: 1 / 1_000_000,
  cloudWatchLogsPerGbIngested: 0.5,
};

/**
 * Lambda bills each invocation's duration rounded up to the millisecond. The local run cannot time an
 * AWS invocation, so every invocation is assumed to bill this long: a handful of DynamoDB calls at AWS
 * latencies, well above what the handlers take locally.
 */
export const ASSUMED_BILLED_MS_PER_INVOCATION = 100;

/** A 30-day month of the reconciler's EventBridge schedule, rate(5 minutes) (infra/tfgate-stack.ts). */
export const RECONCILER_RUNS_PER_MONTH = (30 * 24 * 60) / 5;

export type Invocations = Partial<Record<FunctionName, number>>;

export interface RunCost {
  transitions: number;
  lambdaInvocations: Invocations;
  dynamo: { readUnits: number; writeUnits: number; calls: Record<string, number> };
  builds: number;
  stepFunctionsUsd: number;
  lambdaUsd: number;
  dynamoUsd: number;
  /** Step Functions + Lambda + DynamoDB: everything but the builds. */
  orchestrationUsd: number;
  /** Apart: one started minute per build at least (a small configuration takes 1 to 3). */
  codeBuildUsdPerBuildMinute: number;
  codeBuildMinimumUsd: number;
}

export function lambdaUsd(invocations: Invocations): number {
  let total = 0;
  for (const [name, count] of Object.entries(invocations) as Array<[FunctionName, number]>) {
    const gb = FUNCTION_NEEDS[name].memorySize / 1024;
    total +=
      count *
      (PRICES.lambdaPerRequest + (ASSUMED_BILLED_MS_PER_INVOCATION / 1000) * gb * PRICES.lambdaArm64PerGbSecond);
  }
  return total;
}

export function dynamoUsd(counts: Pick<DynamoCounts, 'readUnits' | 'writeUnits'>): number {
  return counts.readUnits * PRICES.dynamoOnDemandPerReadUnit + counts.writeUnits * PRICES.dynamoOnDemandPerWriteUnit;
}

export function runCost(figures: {
  transitions: number;
  lambdaInvocations: Invocations;
  dynamo: DynamoCounts;
  builds: number;
}): RunCost {
  const stepFunctions = figures.transitions * PRICES.stepFunctionsStandardPerTransition;
  const lambda = lambdaUsd(figures.lambdaInvocations);
  const dynamo = dynamoUsd(figures.dynamo);
  return {
    transitions: figures.transitions,
    lambdaInvocations: figures.lambdaInvocations,
    dynamo: { readUnits: figures.dynamo.readUnits, writeUnits: figures.dynamo.writeUnits, calls: figures.dynamo.calls },
    builds: figures.builds,
    stepFunctionsUsd: stepFunctions,
    lambdaUsd: lambda,
    dynamoUsd: dynamo,
    orchestrationUsd: stepFunctions + lambda + dynamo,
    codeBuildUsdPerBuildMinute: PRICES.codeBuildArm1SmallPerMinute,
    codeBuildMinimumUsd: figures.builds * PRICES.codeBuildArm1SmallPerMinute,
  };
}

export interface AtRestCost {
  /** What runs with no push at all: the reconciler pass every 5 minutes, at list prices without free tiers. */
  costAtRestUsdPerMonth: number;
  /** The same after the always-free tiers (Lambda 1M requests and 400,000 GB-s, Scheduler 14M invocations). */
  costAtRestAfterFreeTierUsdPerMonth: number;
  reconcilerRunsPerMonth: number;
  reconcilerPass: { readUnits: number; writeUnits: number; calls: Record<string, number> };
  breakdown: Record<string, number>;
  fitsLambdaFreeTier: boolean;
  /** Billed whether anything runs or not: secrets and alarms. */
  fixedFeesUsdPerMonth: number;
  fixedFees: Record<string, number>;
}

/**
 * Per pass: one Lambda invocation, one schedule invocation, one secret fetch (the 5-minute cache rarely survives to the
 * next pass), about 1 KB of logs.
 */
export function atRestCost(pass: DynamoCounts, options: { slack?: boolean } = {}): AtRestCost {
  const runs = RECONCILER_RUNS_PER_MONTH;
  const gbSeconds = runs * (ASSUMED_BILLED_MS_PER_INVOCATION / 1000) * (FUNCTION_NEEDS.reconciler.memorySize / 1024);
  const breakdown = {
    lambdaRequestsUsd: runs * PRICES.lambdaPerRequest,
    lambdaDurationUsd: gbSeconds * PRICES.lambdaArm64PerGbSecond,
    dynamoReadsWritesUsd: runs * dynamoUsd(pass),
    schedulerUsd: runs * PRICES.eventBridgeSchedulerPerInvocation,
    secretsManagerApiUsd: runs * PRICES.secretsManagerPerApiCall,
    logsUsd: ((runs * 1024) / 1024 ** 3) * PRICES.cloudWatchLogsPerGbIngested,
  };
  const total = Object.values(breakdown).reduce((a, b) => a + b, 0);
  const afterFreeTier = total - breakdown.lambdaRequestsUsd - breakdown.lambdaDurationUsd - breakdown.schedulerUsd;
  const secrets = options.slack ? 4 : 3;
  // infra/alarms.ts: executions failed and timed out, webhook errors and throttles, two dead-letter queues.
  const alarms = 6;
  const fixedFees = {
    [`secretsManager${secrets}Secrets`]: secrets * PRICES.secretsManagerPerSecretMonth,
    [`cloudWatch${alarms}Alarms`]: alarms * PRICES.cloudWatchAlarmPerMonth,
  };
  return {
    costAtRestUsdPerMonth: total,
    costAtRestAfterFreeTierUsdPerMonth: afterFreeTier,
    reconcilerRunsPerMonth: runs,
    reconcilerPass: { readUnits: pass.readUnits, writeUnits: pass.writeUnits, calls: pass.calls },
    breakdown,
    fitsLambdaFreeTier: runs < 1_000_000 && gbSeconds < 400_000,
    fixedFeesUsdPerMonth: Object.values(fixedFees).reduce((a, b) => a + b, 0),
    fixedFees,
  };
}
