import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as ses from 'aws-cdk-lib/aws-ses';
import type { Construct } from 'constructs';
import type { TfgateConfig } from '../lambdas/core/config/load.js';
import { githubSourceOf } from '../lambdas/core/github/archiver.js';
import { TfgateAlarms, TfgateDeadLetters } from './alarms.js';
import { TfgateBuilds } from './builds.js';
import { TfgateFunctions } from './functions.js';
import { buildEnvironments, buildProjectPrefix, pascalId } from './naming.js';
import { acknowledgeNagFindings, type Acknowledgement } from './nag-suppressions.js';
import { TfgatePipeline } from './pipeline.js';
import { assertNoSecretInConfig, TfgateSecrets } from './secrets.js';
import { ArtifactStorage } from './storage.js';
import { TfgateTables } from './tables.js';

export interface TfgateStackProps extends StackProps {
  config: TfgateConfig;
  /** CONFIG for the functions: the validated configuration as JSON (`loadStackConfig`). */
  configDocument: string;
  /**
   * Reserve concurrency for each function (56 in all). Off by default: Lambda keeps 100 of an
   * account's quota unreserved, so reserving needs a quota of at least 156 (new accounts have 10).
   */
  reserveConcurrency?: boolean;
}

export const RECONCILE_SCHEDULE = 'rate(5 minutes)';

export class TfgateStack extends Stack {
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
  readonly projectPrefix: string;
  readonly config: TfgateConfig;
  readonly stateMachineName: string;
  /** The cdk-nag findings this stack accepts, with their reasons. */
  readonly nagAcknowledgements: Acknowledgement[];

  constructor(scope: Construct, id: string, props: TfgateStackProps) {
    super(scope, id, { description: 'tfgate: serverless Terraform GitOps runner', ...props });
    const { config } = props;
    this.config = config;
    assertNoSecretInConfig(config);
    // Where each repository's commits come from, checked now rather than at the first run: https on the GitHub host only.
    for (const repository of config.repositories) githubSourceOf(repository, config.github.apiUrl);
    this.projectPrefix = buildProjectPrefix(this.stackName);
    this.stateMachineName = `${this.projectPrefix}-pipeline`;
    const environments = buildEnvironments(config);

    this.tables = new TfgateTables(this, 'Tables');
    this.storage = new ArtifactStorage(this, 'Storage');
    this.secrets = new TfgateSecrets(this, 'Secrets', config);

    // SES refuses to create an identity that already exists (verified before, or by another stack),
    // so the stack creates one only when asked to; an existing one is simply used.
    const email = config.notifications.email ? { from: config.notifications.email.from } : undefined;
    if (config.notifications.email?.identity === 'create') {
      this.emailIdentity = new ses.EmailIdentity(this, 'SenderIdentity', { identity: ses.Identity.email(config.notifications.email.from) });
    }
    this.deadLetters = new TfgateDeadLetters(this, 'DeadLetters');

    this.functions = new TfgateFunctions(this, 'Functions', {
      configDocument: props.configDocument,
      tables: this.tables,
      storage: this.storage,
      secrets: this.secrets,
      stateMachineName: this.stateMachineName,
      ...(email ? { email } : {}),
      reserveConcurrency: props.reserveConcurrency ?? false,
    });
    this.builds = new TfgateBuilds(this, 'Builds', {
      config,
      environments,
      projectPrefix: this.projectPrefix,
      storage: this.storage,
    });
    // The run page shows a build's log tail: the web function finds builds by name and reads their logs.
    this.builds.grantReadBuildLogs(this.functions.functions.approvals);
    this.functions.functions.approvals.addEnvironment('BUILD_PROJECT_PREFIX', this.projectPrefix);
    this.pipeline = new TfgatePipeline(this, 'Pipeline', {
      config,
      deadLetterQueue: this.deadLetters.executionEnded,
      stateMachineName: this.stateMachineName,
      projectPrefix: this.projectPrefix,
      pipelineFunction: this.functions.functions.pipeline,
      notifierFunction: this.functions.functions.notifier,
      builds: this.builds.builds,
    });
    this.addSchedules(config);
    this.alarms = new TfgateAlarms(this, 'Alarms', {
      stateMachine: this.pipeline.stateMachine,
      webhook: this.functions.functions.webhook,
      deadLetters: this.deadLetters,
      ...(config.notifications.alarms ? { email: config.notifications.alarms.email } : {}),
    });
    this.nagAcknowledgements = acknowledgeNagFindings(this);

    new CfnOutput(this, 'WebhookUrl', {
      description: 'Payload URL for the GitHub webhook (content type application/json; events: push, pull_request)',
      value: `${this.functions.urls.webhook.url}webhook`,
    });
    new CfnOutput(this, 'ApprovalsUrl', { description: 'Runs and approval pages', value: this.functions.urls.approvals.url });
    new CfnOutput(this, 'AlarmTopicArn', { description: 'Every alarm notifies this topic; subscribe to hear about failures', value: this.alarms.topic.topicArn });
    new CfnOutput(this, 'StateMachineArn', { value: this.pipeline.stateMachine.stateMachineArn });
    new CfnOutput(this, 'ArtifactsBucketName', { value: this.storage.bucket.bucketName });
    new CfnOutput(this, 'WebhookSecretName', {
      description: 'The secret to paste into GitHub: aws secretsmanager get-secret-value --secret-id <this> --query SecretString --output text',
      value: this.secrets.webhook.secretName,
    });
    new CfnOutput(this, 'GithubSecretName', { description: 'Put {"token":"…"} here', value: this.secrets.github.secretName });
    new CfnOutput(this, 'SignInSecretName', { description: 'GitHub sign-in: put {"clientId":"…","clientSecret":"…"} here', value: this.secrets.signIn.secretName });
    if (this.secrets.slack) {
      new CfnOutput(this, 'SlackSecretName', { description: 'Put {"webhookUrl":"https://hooks.slack.com/…"} here', value: this.secrets.slack.secretName });
    }
    for (const build of this.builds.builds) {
      const kindId = build.kind === 'apply' ? 'Apply' : build.kind === 'plan' ? 'Plan' : 'PullRequestPlan';
      new CfnOutput(this, `BuildRoleArn${pascalId(build.environment.name)}${kindId}`, {
        description: build.assumes
          ? `Role of the ${build.environment.name} ${build.kind} builds; the trust policy of ${build.assumes} must allow it`
          : build.kind === 'apply'
            ? `Role of the ${build.environment.name} apply builds; Terraform runs with it, so grant it what the ${build.environment.name} configuration manages (better: set roleArn)`
            : `Role of the ${build.environment.name} ${build.kind} builds; without planRoleArn their Terraform has no role to assume`,
        value: build.role.roleArn,
      });
    }
  }

  /** The reconciler every five minutes, and a drift pass per repository that asks for one. */
  private addSchedules(config: TfgateConfig): void {
    const reconciler = this.functions.functions.reconciler;
    const role = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
      description: 'tfgate: EventBridge Scheduler invokes the reconciler',
    });
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [reconciler.functionArn] }));
    this.deadLetters.schedules.grantSendMessages(role);
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
          deadLetterConfig: { arn: this.deadLetters.schedules.queueArn },
        },
      });
    schedule('ReconcileSchedule', RECONCILE_SCHEDULE, { kind: 'reconcile' }, 'tfgate: missed pushes and locks held by ended executions');
    config.repositories.forEach((repo, index) => {
      if (!repo.drift) return;
      schedule(`DriftSchedule${index}`, repo.drift.schedule, { kind: 'drift', repository: repo.name }, `tfgate: drift check for ${repo.name}`);
    });
  }
}
