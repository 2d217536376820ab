import { Stack, type StackProps } from 'aws-cdk-lib';
import type * as ses from 'aws-cdk-lib/aws-ses';
import type { Construct } from 'constructs';
import type { TfgateConfig } from '../src/config/load.js';
import type { TfgateAlarms, TfgateDeadLetters } from './alarms.js';
import type { TfgateBuilds } from './builds.js';
import type { TfgateFunctions } from './functions.js';
import type { GithubSetup } from './github-setup.js';
import type { Acknowledgement } from './nag-suppressions.js';
import type { TfgatePipeline } from './state-machine.js';
import type { TfgateSecrets } from './secrets.js';
import type { ArtifactStorage } from './storage.js';
import type { TfgateTables } from './tables.js';
import { Tfgate, type TfgateProps } from './tfgate.js';

export interface TfgateStackProps extends StackProps, TfgateProps {}

/** A stack holding one Tfgate: what this repository's `cdk deploy` (bin/app.ts) stands up. */
export class TfgateStack extends Stack {
  readonly tfgate: Tfgate;
  readonly tables: TfgateTables;
  readonly storage: ArtifactStorage;
  readonly secrets: TfgateSecrets;
  readonly functions: TfgateFunctions;
  readonly builds: TfgateBuilds;
  readonly pipeline: TfgatePipeline;
  readonly alarms: TfgateAlarms;
  readonly deadLetters: TfgateDeadLetters;
  /** The one-click GitHub connection (/setup behind a one-time link). */
  readonly githubSetup: GithubSetup;
  readonly emailIdentity?: ses.EmailIdentity;
  readonly projectPrefix: string;
  readonly config: TfgateConfig;
  readonly stateMachineName: string;
  readonly nagAcknowledgements: Acknowledgement[];

  /** @throws ConfigError for an invalid configuration (file, line and column of each problem). */
  constructor(scope: Construct, id: string, props: TfgateStackProps) {
    const { config, name, reserveConcurrency, outputs, ...stackProps } = props;
    super(scope, id, { description: 'tfgate: serverless Terraform GitOps runner', ...stackProps });
    // 'Default' leaves the construct out of every logical ID, so resources and outputs keep the IDs
    // they had before the stack became a wrapper, and an existing deployment updates in place.
    this.tfgate = new Tfgate(this, 'Default', {
      config,
      ...(name !== undefined ? { name } : {}),
      ...(reserveConcurrency !== undefined ? { reserveConcurrency } : {}),
      ...(outputs !== undefined ? { outputs } : {}),
    });
    const { parts } = this.tfgate;
    this.tables = parts.tables;
    this.storage = parts.storage;
    this.secrets = parts.secrets;
    this.functions = parts.functions;
    this.builds = parts.builds;
    this.pipeline = parts.pipeline;
    this.alarms = parts.alarms;
    this.deadLetters = parts.deadLetters;
    this.githubSetup = this.tfgate.githubSetup;
    if (parts.emailIdentity) this.emailIdentity = parts.emailIdentity;
    this.projectPrefix = this.tfgate.projectPrefix;
    this.config = this.tfgate.config;
    this.stateMachineName = this.tfgate.stateMachineName;
    this.nagAcknowledgements = this.tfgate.nagAcknowledgements;
  }
}
