/**
 * The CDK app: `npx cdk deploy` stands up tfgate in the current AWS account and region.
 *
 * Configuration: `-c config=FILE`, else `tfgate.yaml` in the working directory, else the documented
 * example `examples/tfgate.yaml` (with a warning, since deploying the example is rarely the intent).
 * Other context: `-c stackName=NAME` (default Tfgate), `-c reservedConcurrency=true` (off by default).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError } from '../src/config/load.js';
import { SynthRefusal } from '../src/config/synth-refusal.js';
import { TfgateStack } from '../infra/tfgate-stack.js';

const app = new App();
const context = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(key);
  return value === undefined || value === '' ? undefined : String(value);
};

function chooseConfigFile(): string {
  const given = context('config');
  if (given !== undefined) {
    if (!existsSync(given))
      fail(`tfgate: the configuration file ${path.resolve(given)} (from -c config=${given}) does not exist.`);
    return given;
  }
  if (existsSync('tfgate.yaml')) return 'tfgate.yaml';
  const example = path.join('examples', 'tfgate.yaml');
  if (existsSync(example)) {
    console.error(
      `tfgate: no tfgate.yaml in ${process.cwd()}; using ${example}. Write a tfgate.yaml (or pass -c config=FILE) ` +
        `before deploying.`,
    );
    return example;
  }
  fail(
    `tfgate: no configuration: ${path.resolve('tfgate.yaml')} does not exist (pass -c config=FILE to use another ` +
      `file).`,
  );
}

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

const file = chooseConfigFile();
try {
  new TfgateStack(app, context('stackName') ?? 'Tfgate', {
    config: file,
    reserveConcurrency: context('reservedConcurrency') === 'true',
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
} catch (error) {
  // Refusals say what to change in one line: no stack trace.
  if (error instanceof SynthRefusal) fail(error.message);
  if (!(error instanceof ConfigError)) throw error;
  fail(
    error.problems.length === 1
      ? `tfgate: ${error.message}`
      : `tfgate: ${file} is not a valid configuration:\n${error.message}`,
  );
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
