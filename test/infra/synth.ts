/**
 * One synthesis of the stack from the sample configuration, with cdk-nag applied exactly as in
 * bin/app.ts. Synthesis bundles every function with esbuild, so a test file builds it once.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadStackConfig, type StackConfig } from '../../infra/config.js';
import { PROJECT_ROOT } from '../../infra/functions.js';
import { TfgateStack } from '../../infra/tfgate-stack.js';

export const SAMPLE_CONFIG = path.join(PROJECT_ROOT, 'test', 'infra', 'tfgate.sample.yaml');

/** The feature flags `cdk synth` runs with, so the tests see the template a deploy would get. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

export interface Synthesized {
  app: App;
  stack: TfgateStack;
  template: Template;
  assembly: CloudAssembly;
  source: StackConfig;
  synthSeconds: number;
}

export function synthesizeSample(): Synthesized {
  const started = Date.now();
  const app = new App({ context: cdkJsonContext() });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  const source = loadStackConfig(SAMPLE_CONFIG);
  const stack = new TfgateStack(app, 'TfgateTest', {
    config: SAMPLE_CONFIG,
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  // Throws with the report when a validation plugin (cdk-nag) finds an unacknowledged violation.
  const assembly = app.synth();
  const template = Template.fromStack(stack);
  return { app, stack, template, assembly, source, synthSeconds: (Date.now() - started) / 1000 };
}
