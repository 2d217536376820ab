import { refusalWaitSeconds } from './start-build-refusals.js';
import { SynthRefusal } from './synth-refusal.js';
import type { TfgateConfig } from './load.js';

/**
 * How long CodeBuild may keep one build queued and running, and how long the state machine waits
 * for it. CodeBuild ends its own build first (reported TIMED_OUT), because the task's timeout is
 * the build's two limits plus a margin; the task timing out means CodeBuild lost track, and the
 * definition then stops the build before any lock is freed.
 */

export type BuildMode = 'plan' | 'apply';

export interface BuildLimits {
  /** StartBuild `TimeoutInMinutesOverride`. */
  timeoutMinutes: number;
  /** StartBuild `QueuedTimeoutInMinutesOverride`. */
  queuedTimeoutMinutes: number;
  /** The Step Functions task timeout: both limits plus `TASK_MARGIN_SECONDS`. */
  taskTimeoutSeconds: number;
}

// What StartBuild accepts.
export const BUILD_MINUTES = { min: 5, max: 36 * 60 } as const;
export const QUEUED_MINUTES = { min: 5, max: 8 * 60 } as const;
/** CodeBuild's Lambda compute stops every build at 15 minutes. */
export const LAMBDA_COMPUTE_MAX_MINUTES = 15;
/**
 * Time between CodeBuild ending a build and the .sync task hearing of it (the build's finalizing
 * phases, the EventBridge rule and Step Functions' polling).
 */
export const TASK_MARGIN_SECONDS = 600;
/** Per environment, what the Lambda tasks around a stage may take with their retries. */
export const STAGE_OVERHEAD_SECONDS = 600;

const clamp = (value: number, range: { min: number; max: number }) => Math.min(Math.max(value, range.min), range.max);

export function buildMinutesLimit(mode: BuildMode, config: Pick<TfgateConfig, 'terraform'>): number {
  return mode === 'plan' && config.terraform.planCompute === 'lambda' ? LAMBDA_COMPUTE_MAX_MINUTES : BUILD_MINUTES.max;
}

export function buildLimits(mode: BuildMode, config: Pick<TfgateConfig, 'terraform' | 'timeouts'>): BuildLimits {
  const wanted = mode === 'plan' ? config.timeouts.planSeconds : config.timeouts.applySeconds;
  const timeoutMinutes = clamp(Math.ceil(wanted / 60), {
    min: BUILD_MINUTES.min,
    max: buildMinutesLimit(mode, config),
  });
  const queuedTimeoutMinutes = clamp(Math.ceil(config.timeouts.queueSeconds / 60), QUEUED_MINUTES);
  return {
    timeoutMinutes,
    queuedTimeoutMinutes,
    taskTimeoutSeconds: (timeoutMinutes + queuedTimeoutMinutes) * 60 + TASK_MARGIN_SECONDS,
  };
}

export interface ExecutionBudget {
  repository: string;
  /** The longest a run of this repository can take: every wait and build at its limit. */
  worstCaseSeconds: number;
  /** One line per environment: what adds up. */
  parts: string[];
}

/**
 * The longest a deploy run can take: per environment in order, the lock wait, the plan, the approval
 * wait and the apply, each at its limit. The execution's own timeout cuts a run that takes longer,
 * so the stack refuses a configuration whose sum passes it (checked at synth).
 */
export function executionBudgets(config: TfgateConfig): ExecutionBudget[] {
  const plan = buildLimits('plan', config).taskTimeoutSeconds;
  const apply = buildLimits('apply', config).taskTimeoutSeconds;
  const refused = refusalWaitSeconds(config);
  return config.repositories.map((repository) => {
    const parts: string[] = [];
    let total = 0;
    for (const environment of repository.environments) {
      const approval = environment.approval?.timeoutSeconds ?? 0;
      // A refused StartBuild waits up to `refused` before the plan, and again before the apply.
      const stage = config.timeouts.lockWaitSeconds + plan + approval + apply + 2 * refused + STAGE_OVERHEAD_SECONDS;
      parts.push(
        `${environment.name}: lock wait ${config.timeouts.lockWaitSeconds}s + plan ${plan}s + approval ` +
          `${approval}s + apply ${apply}s + refused builds 2 × ${refused}s + tasks ${STAGE_OVERHEAD_SECONDS}s = ` +
          `${stage}s`,
      );
      total += stage;
    }
    return { repository: repository.name, worstCaseSeconds: total, parts };
  });
}

const days = (seconds: number) => `${(seconds / 86400).toFixed(1)} days`;

/** Refuses, in one line, a configuration a run of which could outlive the execution timeout. */
export function assertWithinExecutionTimeout(config: TfgateConfig, executionTimeoutSeconds: number): void {
  const over = executionBudgets(config).filter((budget) => budget.worstCaseSeconds > executionTimeoutSeconds);
  if (over.length === 0) return;
  const described = over
    .map((budget) => `${budget.repository} could take up to ${days(budget.worstCaseSeconds)}`)
    .join(', ');
  throw new SynthRefusal(
    `tfgate: a run of ${described}, past the state machine's execution limit of ` +
      `${days(executionTimeoutSeconds)} (per environment: lock wait, plan, approval, apply and refused builds, each ` +
      `at its limit); shorten timeouts.lockWait, the approval timeouts or the build timeouts`,
  );
}
