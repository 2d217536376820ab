/**
 * The stack synthesized from the sample configuration, with cdk-nag applied exactly as in bin/app.ts,
 * once per test run: synthesis bundles every function with esbuild, the costliest thing the slow set
 * does. The first file that asks synthesizes it into the run's shared directory (global setup makes one,
 * see `sharedSynthDir`) and every other file, in any worker, reads that template and assembly. Each file
 * still builds the construct tree, without bundling, to name resources by their constructs; its logical
 * ids are checked against the shared template.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { App, CfnResource, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import { inject } from 'vitest';
import { loadStackConfig, type StackConfig } from '../../infra/config.js';
import { PROJECT_ROOT } from '../../infra/functions.js';
import { TfgateStack } from '../../infra/tfgate-stack.js';

export const SAMPLE_CONFIG = path.join(PROJECT_ROOT, 'test', 'infra', 'tfgate.sample.yaml');

/** In the environment while the sample is synthesized: the template must not carry it (stack.slow.test.ts). */
export const WEBHOOK_SECRET_CANARY = 'whsec-canary-7d1e5b0c9a4f4e2b8c6d';

/** The feature flags `cdk synth` runs with, so the tests see the template a deploy would get. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

/** The context that skips asset bundling: for a construct tree only read, or a template whose assets go unchecked. */
export const WITHOUT_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

export interface Synthesized {
  app: App;
  stack: TfgateStack;
  template: Template;
  assembly: CloudAssembly;
  source: StackConfig;
  synthSeconds: number;
}

const STACK_ID = 'TfgateTest';
const STACK_PROPS = { config: SAMPLE_CONFIG, env: { account: '123456789012', region: 'eu-west-1' } };

interface SynthRecord {
  assemblyDir?: string;
  templateFile?: string;
  synthSeconds?: number;
  error?: string;
}

function synthesizeInto(dir: string): SynthRecord {
  const started = Date.now();
  const saved = process.env.TFGATE_WEBHOOK_SECRET;
  process.env.TFGATE_WEBHOOK_SECRET = WEBHOOK_SECRET_CANARY;
  try {
    const assemblyDir = path.join(dir, 'cdk.out');
    const app = new App({ context: cdkJsonContext(), outdir: assemblyDir });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
    const stack = new TfgateStack(app, STACK_ID, STACK_PROPS);
    // Throws with the report when a validation plugin (cdk-nag) finds an unacknowledged violation.
    app.synth();
    const templateFile = path.join(dir, 'template.json');
    writeFileSync(templateFile, JSON.stringify(Template.fromStack(stack).toJSON()));
    return { assemblyDir, templateFile, synthSeconds: (Date.now() - started) / 1000 };
  } catch (error) {
    return { error: (error as Error).stack ?? String(error) };
  } finally {
    if (saved === undefined) delete process.env.TFGATE_WEBHOOK_SECRET;
    else process.env.TFGATE_WEBHOOK_SECRET = saved;
  }
}

/** The run's one synthesis: made by the first caller (mkdir is the claim), waited for by the others. */
async function sharedSynthesis(): Promise<SynthRecord> {
  const shared = inject('sharedSynthDir');
  const dir = path.join(shared, 'sample');
  const done = path.join(dir, 'synth.json');
  let claimed = false;
  try {
    mkdirSync(dir);
    claimed = true;
  } catch {
    // Another file synthesizes it.
  }
  if (claimed) {
    writeFileSync(done, JSON.stringify(synthesizeInto(dir)));
  } else {
    const deadline = Date.now() + 900_000;
    while (!existsSync(done)) {
      if (Date.now() > deadline) throw new Error(`the shared synthesis (${dir}) did not finish in 900 s`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return JSON.parse(readFileSync(done, 'utf8')) as SynthRecord;
}

export async function synthesizeSample(): Promise<Synthesized> {
  const record = await sharedSynthesis();
  if (record.error) throw new Error(`synthesis of the sample stack failed:\n${record.error}`);
  const template = Template.fromJSON(JSON.parse(readFileSync(record.templateFile!, 'utf8')));
  // The same tree, for its constructs (logical ids, props); the template above is what it synthesizes to.
  const app = new App({ context: { ...cdkJsonContext(), ...WITHOUT_BUNDLING } });
  const stack = new TfgateStack(app, STACK_ID, STACK_PROPS);
  const resources = template.toJSON().Resources as Record<string, unknown>;
  const missing = stack.node
    .findAll()
    .filter((construct): construct is CfnResource => construct instanceof CfnResource)
    .map((resource) => stack.getLogicalId(resource))
    .filter((id) => !(id in resources));
  if (missing.length > 0) throw new Error(`the construct tree and the shared template differ: ${missing.join(', ')}`);
  return {
    app,
    stack,
    template,
    assembly: new CloudAssembly(record.assemblyDir!),
    source: loadStackConfig(SAMPLE_CONFIG),
    synthSeconds: record.synthSeconds!,
  };
}
