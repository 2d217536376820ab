/**
 * How every Lambda function is bundled: infra/functions.ts hands these to NodejsFunction, and the
 * bench (bench/bundle.ts) gives the same ones to esbuild, so the bytes it measures are the bytes
 * Lambda loads. No CDK import here: the bench loads this file without the CDK.
 */
/**
 * The folder under lambdas/ each function is built from. The function names (and so the construct ids,
 * the function URLs and the links already sent) stay as released; the folders are named for what they do.
 */
export const FUNCTION_SOURCE = {
  webhook: 'webhook',
  approvals: 'web',
  pipeline: 'stage-tasks',
  notifier: 'approval-request',
  reconciler: 'reconciler',
  githubToken: 'github-token',
} as const;

export const LAMBDA_BUNDLING = {
  minify: true,
  sourceMap: false,
  format: 'esm',
  target: 'node22',
  /**
   * Nothing external, the AWS SDK included: the Node 22 runtime ships one, but loading its clients
   * from the runtime's node_modules (hundreds of files, resolved one by one) was most of the webhook's
   * cold start; bundled and tree-shaken, only the commands the function uses are parsed, and the
   * version is the one package-lock.json pins.
   */
  externalModules: [] as string[],
  mainFields: ['module', 'main'],
  // Bundled CommonJS dependencies still call require(); ESM has none unless it is made.
  banner:
    "import { createRequire as __tfgateCreateRequire } from 'node:module'; const require = " +
    '__tfgateCreateRequire(import.meta.url);',
} as const;
