import type { TfgateConfig } from './load.js';

/**
 * CodeBuild refuses StartBuild with AccountLimitExceededException when the account's concurrent-build or
 * queue limit is reached (new accounts: 0–1 builds). No build started, so trying again is always safe,
 * apply included (the 5-minute IdempotencyToken window matters only for requests that may have started
 * one). The run waits, as it waits for its environment's lock, rather than failing after minutes: the
 * Plan and Apply states retry this refusal with backoff for up to `timeouts.lockWait`, capped so that a
 * refused build never holds an execution for days.
 */
export const REFUSED_ERROR = 'CodeBuild.AccountLimitExceededException';
const FIRST_DELAY_SECONDS = 10;
const BACKOFF_RATE = 2;
/** The longest pause between two tries: a freed slot is taken within five minutes. */
export const REFUSAL_MAX_DELAY_SECONDS = 300;
/** However long the lock wait, a refused build waits at most this long. */
export const REFUSAL_WAIT_CAP_SECONDS = 6 * 3600;

/** How long a refused build may wait, per build: the lock wait, within the cap. */
export function refusalWaitSeconds(config: Pick<TfgateConfig, 'timeouts'>): number {
  return Math.min(config.timeouts.lockWaitSeconds, REFUSAL_WAIT_CAP_SECONDS);
}

/** Tries whose pauses (each at most its backoff cap; FULL jitter only shortens them) add up to the wait. */
export function refusalAttempts(config: Pick<TfgateConfig, 'timeouts'>): number {
  const budget = refusalWaitSeconds(config);
  let attempts = 0;
  let delay = FIRST_DELAY_SECONDS;
  for (let waited = 0; waited + Math.min(delay, REFUSAL_MAX_DELAY_SECONDS) <= budget; attempts++) {
    waited += Math.min(delay, REFUSAL_MAX_DELAY_SECONDS);
    delay *= BACKOFF_RATE;
  }
  return Math.max(attempts, 1);
}

type Retrier = { ErrorEquals: string[]; [key: string]: unknown };
type Definition = { States: Record<string, { Type?: string; Resource?: string; Retry?: Retrier[] }> };

/**
 * The definition with a retrier of its own for refused builds on every StartBuild task, first in the list
 * (Step Functions uses the first retrier that matches), sized from this configuration's lock wait. The
 * same transform runs for AWS (the CDK stack) and `tfgate local`, so both wait alike.
 */
export function withRefusalWait(definition: string, config: Pick<TfgateConfig, 'timeouts'>): string {
  const parsed = JSON.parse(definition) as Definition;
  for (const state of Object.values(parsed.States)) {
    if (!state.Resource?.startsWith('arn:aws:states:::codebuild:startBuild')) continue;
    const others = (state.Retry ?? [])
      .map((retrier) => ({ ...retrier, ErrorEquals: retrier.ErrorEquals.filter((e) => e !== REFUSED_ERROR) }))
      .filter((retrier) => retrier.ErrorEquals.length > 0);
    state.Retry = [
      {
        ErrorEquals: [REFUSED_ERROR],
        IntervalSeconds: FIRST_DELAY_SECONDS,
        BackoffRate: BACKOFF_RATE,
        MaxDelaySeconds: REFUSAL_MAX_DELAY_SECONDS,
        MaxAttempts: refusalAttempts(config),
        JitterStrategy: 'FULL',
      },
      ...others,
    ];
  }
  return JSON.stringify(parsed, null, 2);
}
