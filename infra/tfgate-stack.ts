import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as ses from 'aws-cdk-lib/aws-ses';
import type { Construct } from 'constructs';
import type { TfgateConfig } from '../lambdas/core/config/load.js';
import { TfgateAlarms } from './alarms.js';
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
   * Reserve concurrency for each function (the default). Accounts whose concurrency quota is still the
   * new-account 10 cannot reserve any; they deploy with this off.
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
  readonly projectPrefix: string;
  readonly stateMachineName: string;
  /** The cdk-nag findings this stack accepts, with their reasons. */
  readonly nagAcknowledgements: Acknowledgement[];

  constructor(scope: Construct, id: string, props: TfgateStackProps) {
    super(scope, id, { description: 'tfgate: serverless Terraform GitOps runner', ...props });
    const { config } = props;
    assertNoSecretInConfig(config);
    this.projectPrefix = buildProjectPrefix(this.stackName);
    this.stateMachineName = `${this.projectPrefix}-pipeline`;
    const environments = buildEnvironments(config);

    this.tables = new TfgateTables(this, 'Tables');
    this.storage = new ArtifactStorage(this, 'Storage');
    this.secrets = new TfgateSecrets(this, 'Secrets', config);

    let email: { from: string; identityArn: string } | undefined;
    const from = config.notifications.email?.from;
    if (from) {
      const identity = new ses.EmailIdentity(this, 'SenderIdentity', { identity: ses.Identity.email(from) });
      email = { from, identityArn: identity.emailIdentityArn };
    }

    this.functions = new TfgateFunctions(this, 'Functions', {
      configDocument: props.configDocument,
      tables: this.tables,
      storage: this.storage,
      secrets: this.secrets,
      stateMachineName: this.stateMachineName,
      ...(email ? { email } : {}),
      reserveConcurrency: props.reserveConcurrency ?? true,
    });
    this.builds = new TfgateBuilds(this, 'Builds', {
      config,
      environments,
      projectPrefix: this.projectPrefix,
      storage: this.storage,
      secrets: this.secrets,
    });
    this.pipeline = new TfgatePipeline(this, 'Pipeline', {
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
    });
    this.nagAcknowledgements = acknowledgeNagFindings(this);

    new CfnOutput(this, 'WebhookUrl', {
      description: 'Payload URL for the GitHub webhook (content type application/json; events: push, pull_request)',
      value: `${this.functions.urls.webhook.url}webhook`,
    });
    new CfnOutput(this, 'ApprovalsUrl', { description: 'Runs and approval pages', value: this.functions.urls.approvals.url });
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
      new CfnOutput(this, `BuildRoleArn${pascalId(build.environment.name)}`, {
        description: build.environment.roleArn
          ? `Role of the ${build.environment.name} builds; the trust policy of ${build.environment.roleArn} must allow it`
          : `Role of the ${build.environment.name} builds; Terraform runs with it, so grant it what the ${build.environment.name} configuration manages`,
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
        },
      });
    schedule('ReconcileSchedule', RECONCILE_SCHEDULE, { kind: 'reconcile' }, 'tfgate: missed pushes and locks held by ended executions');
    config.repositories.forEach((repo, index) => {
      if (!repo.drift) return;
      schedule(`DriftSchedule${index}`, repo.drift.schedule, { kind: 'drift', repository: repo.name }, `tfgate: drift check for ${repo.name}`);
    });
  }
}
