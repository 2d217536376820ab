import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { EnvironmentBuild } from './builds.js';
import { PROJECT_ROOT } from './functions.js';

export const DEFINITION_FILE = path.join(PROJECT_ROOT, 'statemachine', 'pipeline.asl.json');

/** The managed rule Step Functions creates to learn when a `.sync` CodeBuild task's build ends. */
export const CODEBUILD_SYNC_RULE = 'StepFunctionsGetEventForCodeBuildStartBuildRule';

export const ENDED_STATUSES = ['FAILED', 'TIMED_OUT', 'ABORTED'];

export interface TfgatePipelineProps {
  stateMachineName: string;
  projectPrefix: string;
  pipelineFunction: lambda.IFunction;
  notifierFunction: lambda.IFunction;
  builds: EnvironmentBuild[];
}

/** The placeholders in pipeline.asl.json, as `${Name}`. */
export function definitionPlaceholders(definition: string): string[] {
  return [...new Set([...definition.matchAll(/\$\{([A-Za-z][A-Za-z0-9]*)\}/g)].map((m) => m[1]!))].sort();
}

export class TfgatePipeline extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly executionEnded: events.Rule;

  constructor(scope: Construct, id: string, props: TfgatePipelineProps) {
    super(scope, id);
    const definition = readFileSync(DEFINITION_FILE, 'utf8');
    const substitutions: Record<string, string> = {
      PipelineFunctionArn: props.pipelineFunction.functionArn,
      NotifierFunctionArn: props.notifierFunction.functionArn,
      BuildProjectPrefix: props.projectPrefix,
    };
    // The file and this map must agree; a placeholder left unfilled only fails when a run reaches it.
    const unknown = definitionPlaceholders(definition).filter((name) => !(name in substitutions));
    if (unknown.length > 0) {
      throw new Error(`${DEFINITION_FILE} uses placeholders the stack does not fill: ${unknown.map((n) => `\${${n}}`).join(', ')}`);
    }

    const logGroup = new logs.LogGroup(this, 'ExecutionLogs', {
      // Step Functions vended logs need the /aws/vendedlogs/ prefix to stay under the resource-policy size limit.
      logGroupName: `/aws/vendedlogs/states/${props.stateMachineName}`,
      retention: logs.RetentionDays.THREE_MONTHS,
    });

    // The one definition, as a string rather than an S3 asset, so the template shows what runs.
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromString(definition),
      definitionSubstitutions: substitutions,
      // Execution data carries task tokens and plan details: events are logged, their payloads are not.
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
    });

    const stack = Stack.of(this);
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [props.pipelineFunction.functionArn, props.notifierFunction.functionArn],
      }),
    );
    if (props.builds.length > 0) {
      this.stateMachine.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['codebuild:StartBuild', 'codebuild:StopBuild', 'codebuild:BatchGetBuilds'],
          resources: props.builds.map((build) => build.project.projectArn),
        }),
      );
    }
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [stack.formatArn({ service: 'events', resource: 'rule', resourceName: CODEBUILD_SYNC_RULE })],
      }),
    );

    // An execution stopped from the console, or one that ends without reaching its failure states,
    // would otherwise keep its locks until the reconciler notices.
    this.executionEnded = new events.Rule(this, 'ExecutionEnded', {
      description: 'tfgate: a pipeline execution failed, timed out or was aborted; free its locks and record why',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [this.stateMachine.stateMachineArn], status: ENDED_STATUSES },
      },
    });
    // The whole event goes to the function: the run id is inside `detail.input`, a JSON string that
    // an input transformer cannot take apart.
    this.executionEnded.addTarget(
      new targets.LambdaFunction(props.pipelineFunction, { retryAttempts: 8, maxEventAge: Duration.hours(6) }),
    );
  }
}
