import { CfnOutput, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as ses from 'aws-cdk-lib/aws-ses';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { TfgateConfig } from '../src/config/load.js';
import type { TableRole } from '../src/adapters/dynamo/table-layout.js';
import { githubSourceOf } from '../src/adapters/github/archiver.js';
import { TfgateAlarms, TfgateDeadLetters } from './alarms.js';
import { TfgateBuilds } from './builds.js';
import { loadStackConfig, stackConfigFromValue, type StackConfig, type TfgateSettings } from './config.js';
import { TfgateFunctions, type FunctionName } from './functions.js';
import { GithubSetup } from './github-setup.js';
import { pinFeatureFlags } from './feature-flags.js';
import {
  assertPlanComputeOffered,
  buildEnvironments,
  buildProjectPrefix,
  claimProjectPrefix,
  pascalId,
} from './naming.js';
import { acknowledgeNagFindings, type Acknowledgement } from './nag-suppressions.js';
import { TfgatePipeline } from './state-machine.js';
import { assertNoSecretInConfig, TfgateSecrets } from './secrets.js';
import { doctorFactsOf } from '../src/doctor/facts.js';
import { ArtifactStorage } from './storage.js';
import { TfgateTables } from './tables.js';

export const RECONCILE_SCHEDULE = 'rate(5 minutes)';

export interface TfgateProps {
  /**
   * The configuration: a path to a tfgate.yaml file, or the same content as an object (the keys of
   * tfgate.yaml, durations as text such as `24h`). Validated when the construct is created; an invalid
   * file throws a `ConfigError` naming `FILE:LINE:COLUMN` of each problem, an invalid object one naming
   * `config: <path of the key>`.
   *
   * @default - none, required
   */
  readonly config: TfgateSettings | string;
  /**
   * The name the build projects and the state machine are derived from (`tfgate-<name>-…`). They must
   * be unique in the account and region, so give one when a stack holds more than one Tfgate.
   *
   * @default - the stack's name
   */
  readonly name?: string;
  /**
   * Reserve concurrency for each function (62 in all). Lambda keeps 100 of an account's quota
   * unreserved, so reserving needs a quota of at least 162 (new accounts have 10).
   *
   * @default false
   */
  readonly reserveConcurrency?: boolean;
  /**
   * Add stack outputs for the webhook URL, the web URL, the alarm topic, the state machine, the bucket,
   * each secret's name and each build role.
   *
   * @default true
   */
  readonly outputs?: boolean;
}

/** The building blocks, for wiring beyond what Tfgate exposes directly (and for tfgate's own tests). */
export interface TfgateParts {
  readonly tables: TfgateTables;
  readonly storage: ArtifactStorage;
  readonly secrets: TfgateSecrets;
  readonly functions: TfgateFunctions;
  readonly builds: TfgateBuilds;
  readonly pipeline: TfgatePipeline;
  readonly alarms: TfgateAlarms;
  readonly deadLetters: TfgateDeadLetters;
  /** Only with `notifications.email.identity: create`; otherwise the identity is the account's own business. */
  readonly emailIdentity?: ses.EmailIdentity;
}

/**
 * tfgate in a CDK app: the webhook and web functions, the state machine, the build projects, the
 * tables, the artifact bucket, the secrets, schedules and alarms, built from one validated configuration.
 */
export class Tfgate extends Construct {
  /** The payload URL for the GitHub webhook (content type application/json; events push and pull_request). */
  readonly webhookUrl: string;
  /**
   * The runs and approval pages, behind tfgate's sign-in; GitHub sign-in's callback is `<webUrl>auth/github/callback`.
   */
  readonly webUrl: string;
  /** The pipeline every run executes (one execution per run). */
  readonly stateMachine: sfn.StateMachine;
  /** The DynamoDB tables: runs, locks, approvals, deliveries. */
  readonly tables: Readonly<Record<TableRole, dynamodb.Table>>;
  /** Every alarm notifies this topic; subscribe to it to hear about failures. */
  readonly alarmTopic: sns.Topic;
  /** Plans, logs and commit archives (under `artifacts/`). */
  readonly artifactsBucket: s3.Bucket;
  /** The functions: webhook, approvals (web pages), pipeline (state machine tasks), notifier, reconciler. */
  readonly functions: Readonly<Record<FunctionName, lambda.Function>>;
  readonly parts: TfgateParts;
  /** The validated configuration, defaults filled in. */
  readonly config: TfgateConfig;
  /** The configuration as the functions receive it (CONFIG). */
  readonly configDocument: string;
  readonly projectPrefix: string;
  readonly stateMachineName: string;
  /** The one-click GitHub connection: the /setup pages behind a one-time link, and its token's secret. */
  readonly githubSetup: GithubSetup;
  /** The cdk-nag findings this construct accepts, with their reasons. */
  readonly nagAcknowledgements: Acknowledgement[];

  /** @throws ConfigError when the configuration is invalid, before anything is created. */
  constructor(scope: Construct, id: string, props: TfgateProps) {
    super(scope, id);
    const { config, document } = readConfig(props.config);
    pinFeatureFlags(this);
    this.config = config;
    this.configDocument = document;
    assertNoSecretInConfig(config);
    // Where each repository's commits come from, checked now rather than at the first run: https on the GitHub host
    // only.
    for (const repository of config.repositories) githubSourceOf(repository, config.github.apiUrl);
    this.projectPrefix = buildProjectPrefix(props.name ?? Stack.of(this).stackName);
    // Refused at synth, in one line each, rather than at deploy: names two constructs would share, and
    // Lambda-compute plans in a region without it.
    claimProjectPrefix(this, this.projectPrefix, this.node.path);
    assertPlanComputeOffered(config.terraform.planCompute, Stack.of(this).region);
    this.stateMachineName = `${this.projectPrefix}-pipeline`;
    const environments = buildEnvironments(config);

    const tables = new TfgateTables(this, 'Tables');
    const storage = new ArtifactStorage(this, 'Storage');
    const secrets = new TfgateSecrets(this, 'Secrets', config);

    // SES refuses to create an identity that already exists (verified before, or by another stack),
    // so the construct creates one only when asked to; an existing one is simply used.
    const email = config.notifications.email ? { from: config.notifications.email.from } : undefined;
    const emailIdentity =
      config.notifications.email?.identity === 'create'
        ? new ses.EmailIdentity(this, 'SenderIdentity', {
            identity: ses.Identity.email(config.notifications.email.from),
          })
        : undefined;
    const deadLetters = new TfgateDeadLetters(this, 'DeadLetters');

    const functions = new TfgateFunctions(this, 'Functions', {
      configDocument: document,
      tables,
      storage,
      secrets,
      stateMachineName: this.stateMachineName,
      ...(email ? { email } : {}),
      reserveConcurrency: props.reserveConcurrency ?? false,
      failures: deadLetters.functionFailures,
    });
    const builds = new TfgateBuilds(this, 'Builds', {
      config,
      environments,
      projectPrefix: this.projectPrefix,
      storage,
    });
    // The run page shows a build's log tail: the web function finds builds by name and reads their logs.
    builds.grantReadBuildLogs(functions.functions.approvals);
    functions.functions.approvals.addEnvironment('BUILD_PROJECT_PREFIX', this.projectPrefix);
    const pipeline = new TfgatePipeline(this, 'Pipeline', {
      config,
      deadLetterQueue: deadLetters.executionEnded,
      stateMachineName: this.stateMachineName,
      projectPrefix: this.projectPrefix,
      pipelineFunction: functions.functions.pipeline,
      notifierFunction: functions.functions.notifier,
      builds: builds.builds,
    });
    this.addSchedules(config, functions.functions.reconciler, deadLetters);
    const alarms = new TfgateAlarms(this, 'Alarms', {
      stateMachine: pipeline.stateMachine,
      webhook: functions.functions.webhook,
      functions: functions.functions,
      deadLetters,
      ...(config.notifications.alarms ? { email: config.notifications.alarms.email } : {}),
    });
    this.parts = {
      tables,
      storage,
      secrets,
      functions,
      builds,
      pipeline,
      alarms,
      deadLetters,
      ...(emailIdentity ? { emailIdentity } : {}),
    };

    this.webhookUrl = `${functions.urls.webhook.url}webhook`;
    this.webUrl = functions.urls.approvals.url;
    this.stateMachine = pipeline.stateMachine;
    this.tables = tables.tables;
    this.alarmTopic = alarms.topic;
    this.artifactsBucket = storage.bucket;
    this.functions = functions.functions;
    this.githubSetup = new GithubSetup(this, 'GithubSetup', {
      configDocument: document,
      secrets,
      deliveries: tables.tables.deliveries,
      webhookUrl: functions.urls.webhook,
      approvalsUrl: functions.urls.approvals,
      appName: `tfgate-${props.name ?? Stack.of(this).stackName}`,
      reserveConcurrency: props.reserveConcurrency ?? false,
    });
    this.nagAcknowledgements = [...acknowledgeNagFindings(this), ...this.githubSetup.acknowledgements];
    if (props.outputs ?? true) this.addOutputs();
  }

  /** The reconciler every five minutes, and a drift pass per repository that asks for one. */
  private addSchedules(config: TfgateConfig, reconciler: lambda.Function, deadLetters: TfgateDeadLetters): void {
    const role = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'tfgate: EventBridge Scheduler invokes the reconciler',
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [reconciler.functionArn] }),
    );
    deadLetters.schedules.grantSendMessages(role);
    const schedule = (id: string, expression: string, input: Record<string, unknown>, description: string) =>
      new scheduler.CfnSchedule(this, id, {
        description,
        scheduleExpression: expression,
        flexibleTimeWindow: { mode: 'OFF' },
        state: 'ENABLED',
        target: {
          arn: reconciler.functionArn,
          roleArn: role.roleArn,
          input: JSON.stringify(input),
          // The next pass comes soon enough; a late retry would only overlap it.
          retryPolicy: { maximumRetryAttempts: 0, maximumEventAgeInSeconds: 300 },
          deadLetterConfig: { arn: deadLetters.schedules.queueArn },
        },
      });
    schedule(
      'ReconcileSchedule',
      RECONCILE_SCHEDULE,
      { kind: 'reconcile' },
      'tfgate: missed pushes and locks held by ended executions',
    );
    config.repositories.forEach((repo, index) => {
      if (!repo.drift) return;
      schedule(
        `DriftSchedule${index}`,
        repo.drift.schedule,
        { kind: 'drift', repository: repo.name },
        `tfgate: drift check for ${repo.name}`,
      );
    });
  }

  private addOutputs(): void {
    const { secrets, builds } = this.parts;
    new CfnOutput(this, 'WebhookUrl', {
      description: 'Payload URL for the GitHub webhook (content type application/json; events: push, pull_request)',
      value: this.webhookUrl,
    });
    new CfnOutput(this, 'ApprovalsUrl', { description: 'Runs and approval pages', value: this.webUrl });
    new CfnOutput(this, 'AlarmTopicArn', {
      description: 'Every alarm notifies this topic; subscribe to hear about failures',
      value: this.alarmTopic.topicArn,
    });
    new CfnOutput(this, 'StateMachineArn', { value: this.stateMachine.stateMachineArn });
    new CfnOutput(this, 'ArtifactsBucketName', { value: this.artifactsBucket.bucketName });
    new CfnOutput(this, 'StateBucketName', {
      description: 'Terraform state of every root that declares no backend (env/<environment>/<repository>/…)',
      value: this.parts.storage.stateBucket.bucketName,
    });
    new CfnOutput(this, 'WebhookSecretName', {
      description:
        'The secret to paste into GitHub: aws secretsmanager get-secret-value --secret-id <this> --query ' +
        'SecretString --output text',
      value: secrets.webhook.secretName,
    });
    new CfnOutput(this, 'GithubSetupUrl', {
      description: 'The GitHub setup function (its pages need the one-time token: see GithubSetupLinkCommand)',
      value: this.githubSetup.url.url,
    });
    new CfnOutput(this, 'GithubSetupSecretName', {
      description:
        "Connect GitHub: the secret holding the one-time setup link's token (run GithubSetupLinkCommand to print " +
        'the link)',
      value: this.githubSetup.setupToken.secretName,
    });
    new CfnOutput(this, 'GithubSetupLinkCommand', {
      description:
        'Connect GitHub in one click: this command prints the one-time setup link (see docs/aws.md "Connect GitHub")',
      value: this.githubSetup.linkCommand(),
    });
    new CfnOutput(this, 'GithubSecretName', {
      description: 'Filled by the setup link, or put {"token":"…"} here',
      value: secrets.github.secretName,
    });
    new CfnOutput(this, 'SignInSecretName', {
      description: 'GitHub sign-in: put {"clientId":"…","clientSecret":"…"} here',
      value: secrets.signIn.secretName,
    });
    if (secrets.slack) {
      new CfnOutput(this, 'SlackSecretName', {
        description: 'Put {"webhookUrl":"https://hooks.slack.com/…"} here',
        value: secrets.slack.secretName,
      });
    }
    // `tfgate doctor` reads this: the deployed configuration's names and switches, no secret.
    new CfnOutput(this, 'DoctorFacts', {
      description: 'What tfgate doctor checks this deployment against (build project names, environments, mail)',
      value: JSON.stringify(
        doctorFactsOf(this.config, this.projectPrefix, [
          ...new Set(builds.builds.map((build) => build.environment.name)),
        ]),
      ),
    });
    for (const build of builds.builds) {
      const kindId = build.kind === 'apply' ? 'Apply' : build.kind === 'plan' ? 'Plan' : 'PullRequestPlan';
      new CfnOutput(this, `BuildRoleArn${pascalId(build.environment.name)}${kindId}`, {
        description: build.assumes
          ? `Role of the ${build.environment.name} ${build.kind} builds; the trust policy of ${build.assumes} must ` +
            `allow it`
          : build.kind === 'apply'
            ? `Role of the ${build.environment.name} apply builds; Terraform runs with it, so grant it what the ` +
              `${build.environment.name} configuration manages (better: set roleArn)`
            : `Role of the ${build.environment.name} ${build.kind} builds; without planRoleArn their Terraform ` +
              `has no role to assume`,
        value: build.role.roleArn,
      });
    }
  }
}

/** A path is read as tfgate.yaml; an object is held to the same schema. Both throw ConfigError. */
function readConfig(config: TfgateSettings | string): StackConfig {
  if (typeof config === 'string') return loadStackConfig(config);
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TypeError(
      `tfgate: the Tfgate construct's config must be a tfgate.yaml path or an object with its keys, not ` +
        `${Array.isArray(config) ? 'an array' : String(config)}`,
    );
  }
  return stackConfigFromValue(config, 'config');
}
