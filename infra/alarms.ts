import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

export interface TfgateAlarmsProps {
  stateMachine: sfn.StateMachine;
  webhook: lambda.Function;
}

/**
 * Alarms for the failures nobody would otherwise see: a run that failed or timed out, and pushes that
 * GitHub delivered but tfgate could not take (GitHub does not redeliver by itself).
 * Each costs $0.10 a month; they have no actions so that the stack does not need an address to deploy.
 */
export class TfgateAlarms extends Construct {
  readonly alarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: TfgateAlarmsProps) {
    super(scope, id);
    const period = Duration.minutes(5);
    const atLeastOne = (alarmId: string, description: string, metric: cloudwatch.IMetric) =>
      new cloudwatch.Alarm(this, alarmId, {
        alarmDescription: description,
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    this.alarms = [
      atLeastOne('ExecutionsFailed', 'tfgate: a pipeline execution failed (see the run record for why)', props.stateMachine.metricFailed({ period, statistic: 'Sum' })),
      atLeastOne('ExecutionsTimedOut', 'tfgate: a pipeline execution timed out', props.stateMachine.metricTimedOut({ period, statistic: 'Sum' })),
      atLeastOne('WebhookErrors', 'tfgate: the webhook function failed; GitHub does not redeliver by itself', props.webhook.metricErrors({ period, statistic: 'Sum' })),
      atLeastOne('WebhookThrottles', 'tfgate: webhook deliveries were throttled and refused', props.webhook.metricThrottles({ period, statistic: 'Sum' })),
    ];
  }
}
