import { approversMayRerun, createRerunHandler, isRerunRequest } from './approvals/rerun.js';
import { createApprovalsHandler } from './approvals/handler.js';
import { startLocalStackWith, type LocalFunctionSet, type LocalStack, type LocalStackOptions } from './core/local/runtime.js';
import { createApprovalRequester } from './notifier/handler.js';
import { createPipelineTasks } from './pipeline/handler.js';
import { createReconciler } from './reconciler/handler.js';
import { startLocalSchedules } from './reconciler/local-schedule.js';
import { createWebhookHandler } from './webhook/handler.js';

/**
 * The local composition root: the same function handlers the AWS entries (`*\/lambda.ts`) wrap, handed
 * to core/local/runtime.ts, which knows none of the functions' folders itself.
 */
export const LOCAL_FUNCTION_SET: LocalFunctionSet = {
  createWebhookHandler,
  createPipelineTasks,
  createApprovalRequester,
  createApprovalsHandler,
  createRerunHandler,
  approversMayRerun,
  isRerunRequest,
  createReconciler,
  startLocalSchedules,
};

/** `tfgate local`, `tfgate demo`, the bench and the tests start the stack here. */
export function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  return startLocalStackWith(LOCAL_FUNCTION_SET, options);
}

export type { LocalStack, LocalStackOptions };
