import { approversMayRerun, createRerunHandler, isRerunRequest } from '../application/rerun.js';
import { createApprovalsHandler } from '../../lambdas/web/handler.js';
import { startLocalStackWith, type LocalFunctionSet, type LocalStack, type LocalStackOptions } from './runtime.js';
import { createApprovalRequester } from '../../lambdas/approval-request/handler.js';
import { createPipelineTasks } from '../../lambdas/stage-tasks/handler.js';
import { createReconciler } from '../../lambdas/reconciler/handler.js';
import { startLocalSchedules } from './reconcile-schedule.js';
import { createWebhookHandler } from '../../lambdas/webhook/handler.js';

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
