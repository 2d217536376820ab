import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

/**
 * Where events go that EventBridge or EventBridge Scheduler could not deliver after their retries:
 * an "execution ended" event lost means a run whose locks nobody freed until the reconciler looks,
 * a schedule lost means a missed reconcile or drift pass. Each queue has an alarm on its depth.
 */
export class TfgateDeadLetters extends Construct {
  readonly executionEnded: sqs.Queue;
  readonly schedules: sqs.Queue;
  /** Asynchronous function invocations that failed after their retries (on-failure destination). */
  readonly functionFailures: sqs.Queue;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const queue = (queueId: string) =>
      new sqs.Queue(this, queueId, {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
      });
    this.executionEnded = queue('ExecutionEndedDeadLetters');
    this.schedules = queue('ScheduleDeadLetters');
    this.functionFailures = queue('FunctionFailures');
  }
}

export interface TfgateAlarmsProps {
  stateMachine: sfn.StateMachine;
  webhook: lambda.Function;
  /** Every function: each gets an Errors alarm. */
  functions: Record<string, lambda.Function>;
  deadLetters: TfgateDeadLetters;
  /** `notifications.alarms.email`: subscribed to the alarm topic (the address confirms once). */
  email?: string;
}

/**
 * Alarms for the failures nobody would otherwise see: a run that failed or timed out, pushes that
 * GitHub delivered but tfgate could not take (GitHub does not redeliver by itself), and events that
 * could not be delivered. Every alarm notifies one SNS topic; subscribe to it (email from
 * tfgate.yaml, or anything SNS delivers to) to hear about them.
 */
export class TfgateAlarms extends Construct {
  readonly alarms: cloudwatch.Alarm[];
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: TfgateAlarmsProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'AlarmTopic', { displayName: 'tfgate alarms', enforceSSL: true });
    // enforceSSL replaces the topic's default policy with a lone Deny: without these, CloudWatch alarms
    // and EventBridge could not publish, and every alarm would reach nobody. Only from this account.
    const stack = Stack.of(this);
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'EventBridgePublish',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );
    if (props.email) this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));
    const action = new cloudwatchActions.SnsAction(this.topic);

    const period = Duration.minutes(5);
    const atLeastOne = (alarmId: string, description: string, metric: cloudwatch.IMetric) => {
      const alarm = new cloudwatch.Alarm(this, alarmId, {
        alarmDescription: description,
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(action);
      return alarm;
    };
    const depth = (queue: sqs.Queue) =>
      queue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' });
    this.alarms = [
      atLeastOne(
        'ExecutionsFailed',
        'tfgate: a pipeline execution failed (see the run record for why)',
        props.stateMachine.metricFailed({ period, statistic: 'Sum' }),
      ),
      atLeastOne(
        'ExecutionsTimedOut',
        'tfgate: a pipeline execution timed out',
        props.stateMachine.metricTimedOut({ period, statistic: 'Sum' }),
      ),
      atLeastOne(
        'WebhookErrors',
        'tfgate: the webhook function failed; GitHub does not redeliver by itself',
        props.webhook.metricErrors({ period, statistic: 'Sum' }),
      ),
      ...Object.entries(props.functions)
        .filter(([, fn]) => fn !== props.webhook)
        .map(([name, fn]) =>
          atLeastOne(
            `${name[0]!.toUpperCase()}${name.slice(1)}Errors`,
            `tfgate: the ${name} function failed (see its log group)`,
            fn.metricErrors({ period, statistic: 'Sum' }),
          ),
        ),
      atLeastOne(
        'FunctionFailuresUndelivered',
        'tfgate: an asynchronous function invocation failed after its retries. Inspect the failures queue.',
        depth(props.deadLetters.functionFailures),
      ),
      atLeastOne(
        'WebhookThrottles',
        'tfgate: webhook deliveries were throttled and refused',
        props.webhook.metricThrottles({ period, statistic: 'Sum' }),
      ),
      atLeastOne(
        'ExecutionEndedUndelivered',
        'tfgate: an "execution ended" event could not reach the pipeline function; the reconciler frees that ' +
          "run's locks later. Inspect the dead-letter queue.",
        depth(props.deadLetters.executionEnded),
      ),
      atLeastOne(
        'ScheduleUndelivered',
        'tfgate: a reconcile or drift schedule could not invoke the reconciler. Inspect the dead-letter queue.',
        depth(props.deadLetters.schedules),
      ),
    ];
  }
}
