/**
 * For template tests that synthesize without esbuild: `NodejsFunction` replaced by a plain function with
 * inline code, keeping every other property (runtime, environment, role, memory) as the construct sets it.
 * Used from a `vi.mock` factory, which runs before the file's imports, so it is imported there:
 *
 *   vi.mock('aws-cdk-lib/aws-lambda-nodejs', async (original) =>
 *     (await import('../support/inline-functions.js')).withInlineFunctions(await original()));
 */
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Construct } from 'constructs';

export function withInlineFunctions(original: typeof nodejs): typeof nodejs {
  class InlineNodejsFunction extends lambda.Function {
    constructor(scope: Construct, id: string, props: nodejs.NodejsFunctionProps) {
      const { entry, handler, projectRoot, depsLockFilePath, bundling, runtime, ...rest } = props;
      void [entry, handler, projectRoot, depsLockFilePath, bundling];
      super(scope, id, {
        ...rest,
        runtime: runtime!,
        handler: 'index.handler',
        code: lambda.Code.fromInline('export const handler = async () => {};'),
      });
    }
  }
  return { ...original, NodejsFunction: InlineNodejsFunction as unknown as typeof nodejs.NodejsFunction };
}
