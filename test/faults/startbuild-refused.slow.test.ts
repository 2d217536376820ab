import { afterEach, describe, expect, it } from 'vitest';
import { type LocalCodeBuild, StartBuildRefused } from '../../src/local-mode/engine.js';
import {
  configYaml,
  pushChange,
  runForSha,
  startTestStack,
  terraformFiles,
  waitForRun,
  type TestStack,
} from '../support/local-stack.js';
import { expectNoLockHeld, stageStatuses } from './support.js';

/**
 * CodeBuild refusing StartBuild (the account's build queue is full, or the API throttles): no build
 * starts, and Step Functions fails the task with `CodeBuild.<exception>`. The local engine reports
 * the refusal the same way, so the definition's Retry on refusals is exercised as written.
 */

let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.cleanup();
  stack = undefined;
});

const modeOf = (params: Parameters<LocalCodeBuild>[0]) =>
  params.EnvironmentVariablesOverride?.find((v) => v.Name === 'TFGATE_MODE')?.Value ?? '?';

describe('StartBuild refused', () => {
  it('a plan and an apply refused with AccountLimitExceededException are retried, start once each, ' +
    'and the run succeeds', async () => {
    const attempts: string[] = [];
    const refusals = { plan: 2, apply: 1 } as Record<string, number>;
    const intercept =
      (real: LocalCodeBuild): LocalCodeBuild =>
      async (params, signal) => {
        const mode = modeOf(params);
        if ((refusals[mode] ?? 0) > 0) {
          refusals[mode]! -= 1;
          attempts.push(`${mode}:refused`);
          throw new StartBuildRefused(
            'AccountLimitExceededException',
            'Cannot have more than 1 builds in queue for the account',
          );
        }
        attempts.push(`${mode}:started`);
        expect(params.IdempotencyToken).toMatch(new RegExp(`-ops-${mode}$`));
        return real(params, signal);
      };
    stack = await startTestStack({
      config: configYaml({ environments: ['ops'], approval: false }),
      intercept: { codeBuild: intercept },
    });
    const sha = await pushChange(stack, terraformFiles({ network: 'queued' }));
    const run = await waitForRun(stack, (await runForSha(stack, sha)).id);
    expect(run.status, run.error).toBe('succeeded');
    expect(stageStatuses(run)).toEqual([['ops', 'applied']]);
    expect(attempts).toEqual(['plan:refused', 'plan:refused', 'plan:started', 'apply:refused', 'apply:started']);
    await expectNoLockHeld(stack);
  }, 300_000);

  it('a refusal that retrying cannot cure (no such project) fails the run at once, naming the ' +
    'CodeBuild error', async () => {
    let attempts = 0;
    const intercept = (): LocalCodeBuild => async () => {
      attempts += 1;
      throw new StartBuildRefused('ResourceNotFoundException', 'Project cannot be found');
    };
    stack = await startTestStack({
      config: configYaml({ environments: ['ops'], approval: false }),
      intercept: { codeBuild: intercept },
    });
    const sha = await pushChange(stack, terraformFiles({ network: 'missing' }));
    const run = await waitForRun(stack, (await runForSha(stack, sha)).id);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/^ops: the plan build failed: .*Project cannot be found.*ResourceNotFoundException/);
    expect(attempts).toBe(1);
    await expectNoLockHeld(stack);
  }, 300_000);
});
