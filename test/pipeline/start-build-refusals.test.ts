/**
 * A StartBuild refused for concurrency (AccountLimitExceededException: no build started) makes the run wait,
 * with backoff, for up to the lock wait (capped), on both StartBuild states, in AWS and locally alike; other
 * refusals keep their short retries (the apply's within its 5-minute IdempotencyToken).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfigValue } from '../../src/config/load.js';
import { executionBudgets } from '../../src/config/build-limits.js';
import {
  REFUSAL_MAX_DELAY_SECONDS,
  REFUSAL_WAIT_CAP_SECONDS,
  refusalAttempts,
  refusalWaitSeconds,
  withRefusalWait,
} from '../../src/config/start-build-refusals.js';
import { DEFINITION_FILE } from '../../src/local-mode/runtime.js';

type Retrier = {
  ErrorEquals: string[];
  IntervalSeconds: number;
  BackoffRate: number;
  MaxDelaySeconds?: number;
  MaxAttempts: number;
};
const config = (lockWait: string) =>
  parseConfigValue(
    {
      terraform: { version: '1.11.4' },
      timeouts: { lockWait },
      repositories: [{ name: 'acme/infra', environments: [{ name: 'ops' }] }],
    },
    'config',
  );

/** The longest the retrier can wait: every pause at its cap (FULL jitter only makes pauses shorter). */
function longestWait(retrier: Retrier): number {
  let total = 0;
  let delay = retrier.IntervalSeconds;
  for (let i = 0; i < retrier.MaxAttempts; i++) {
    total += Math.min(delay, retrier.MaxDelaySeconds ?? Number.POSITIVE_INFINITY);
    delay *= retrier.BackoffRate;
  }
  return total;
}

describe('a StartBuild refused for concurrency', () => {
  const file = readFileSync(DEFINITION_FILE, 'utf8');

  for (const lockWait of ['30m', '2h', '48h']) {
    it(`waits up to the lock wait (${lockWait}, capped) on Plan and Apply, and fails only after it`, () => {
      const resolved = config(lockWait);
      const states = (JSON.parse(withRefusalWait(file, resolved)) as { States: Record<string, { Retry: Retrier[] }> })
        .States;
      const wait = refusalWaitSeconds(resolved);
      expect(wait).toBe(Math.min(resolved.timeouts.lockWaitSeconds, REFUSAL_WAIT_CAP_SECONDS));
      for (const name of ['Plan', 'Apply']) {
        const [refused, ...others] = states[name]!.Retry;
        expect(refused!.ErrorEquals, name).toEqual(['CodeBuild.AccountLimitExceededException']);
        expect(refused!.MaxDelaySeconds).toBe(REFUSAL_MAX_DELAY_SECONDS);
        expect(refused!.MaxAttempts).toBe(refusalAttempts(resolved));
        expect(longestWait(refused!)).toBeLessThanOrEqual(wait);
        // One more try would pass the wait: the retrier uses all of it, not a few minutes of it.
        expect(longestWait({ ...refused!, MaxAttempts: refused!.MaxAttempts + 1 })).toBeGreaterThan(wait);
        for (const other of others) expect(other.ErrorEquals).not.toContain('CodeBuild.AccountLimitExceededException');
        expect(others.flatMap((r) => r.ErrorEquals)).toContain('CodeBuild.ThrottlingException');
      }
      // Throttling and CodeBuild errors may have started an apply: those retries stay within 5 minutes.
      const applyOthers = states.Apply!.Retry.slice(1);
      for (const other of applyOthers) expect(longestWait(other)).toBeLessThanOrEqual(300);
    });
  }

  it('counts both waits in the execution budget the synth checks', () => {
    const resolved = config('2h');
    const [budget] = executionBudgets(resolved);
    expect(budget!.parts[0]).toContain(`refused builds 2 × ${refusalWaitSeconds(resolved)}s`);
  });
});
