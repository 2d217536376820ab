import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Aws, Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { assertWithinExecutionTimeout } from '../src/config/build-limits.js';
import type { TfgateConfig } from '../src/config/load.js';
import { withRefusalWait } from '../src/config/start-build-refusals.js';
import type { EnvironmentBuild } from './builds.js';
import { PROJECT_ROOT } from './functions.js';

export const DEFINITION_FILE = path.join(PROJECT_ROOT, 'statemachine', 'pipeline.asl.json');

/** The managed rule Step Functions creates to learn when a `.sync` CodeBuild task's build ends. */
export const CODEBUILD_SYNC_RULE = 'StepFunctionsGetEventForCodeBuildStartBuildRule';

export const ENDED_STATUSES = ['FAILED', 'TIMED_OUT', 'ABORTED'];

export interface TfgatePipelineProps {
  config: TfgateConfig;
  stateMachineName: string;
  /** Where EventBridge puts an "execution ended" event it could not deliver to the pipeline function. */
  deadLetterQueue: sqs.IQueue;
  projectPrefix: string;
  pipelineFunction: lambda.IFunction;
  notifierFunction: lambda.IFunction;
  builds: EnvironmentBuild[];
}

/** The placeholders in pipeline.asl.json, as `${Name}`. */
export function definitionPlaceholders(definition: string): string[] {
  return [...new Set([...definition.matchAll(/\$\{([A-Za-z][A-Za-z0-9]*)\}/g)].map((m) => m[1]!))].sort();
}

/** The definition's own TimeoutSeconds: the longest any execution may run. */
export function executionTimeoutSeconds(definition: string): number {
  const timeout = (JSON.parse(definition) as { TimeoutSeconds?: unknown }).TimeoutSeconds;
  if (typeof timeout !== 'number') throw new Error(`${DEFINITION_FILE} must set a top-level TimeoutSeconds`);
  return timeout;
}

/**
 * The definition as this configuration's builds accept it. CodeBuild offers no build timeout on Lambda
 * compute, so with `planCompute: lambda` the Plan task sends no timeout overrides: its own
 * TimeoutSecondsPath bounds the build, and on States.Timeout the definition stops it (StopBuild).
 */
export function definitionFor(config: Pick<TfgateConfig, 'terraform'>, definition: string): string {
  if (config.terraform.planCompute !== 'lambda') return definition;
  const parsed = JSON.parse(definition) as { States: Record<string, { Parameters?: Record<string, unknown> }> };
  const parameters = parsed.States.Plan?.Parameters;
  if (!parameters) throw new Error(`${DEFINITION_FILE} has no Plan state with Parameters`);
  delete parameters['TimeoutInMinutesOverride.$'];
  delete parameters['QueuedTimeoutInMinutesOverride.$'];
  return JSON.stringify(parsed, null, 2);
}

export class TfgatePipeline extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly executionEnded: events.Rule;

  constructor(scope: Construct, id: string, props: TfgatePipelineProps) {
    super(scope, id);
    const definition = withRefusalWait(
      definitionFor(props.config, readFileSync(DEFINITION_FILE, 'utf8')),
      props.config,
    );
    // A run that outlives the execution is cut off mid-way: refuse such a configuration here.
    assertWithinExecutionTimeout(props.config, executionTimeoutSeconds(definition));
    const substitutions: Record<string, string> = {
      PipelineFunctionArn: props.pipelineFunction.functionArn,
      NotifierFunctionArn: props.notifierFunction.functionArn,
      BuildProjectPrefix: props.projectPrefix,
    };
    // The file and this map must agree; a placeholder left unfilled only fails when a run reaches it.
    const unknown = definitionPlaceholders(definition).filter((name) => !(name in substitutions));
    if (unknown.length > 0) {
      throw new Error(
        `${DEFINITION_FILE} uses placeholders the stack does not fill: ${unknown.map((n) => `\${${n}}`).join(', ')}`,
      );
    }

    const logGroup = new logs.LogGroup(this, 'ExecutionLogs', {
      // Step Functions vended logs need the /aws/vendedlogs/ prefix to stay under the resource-policy size limit.
      // The stack id's unique part makes the name new for every stack created, so a log group kept
      // from a destroyed (or rolled-back) stack never blocks the next deploy with "already exists".
      logGroupName: `/aws/vendedlogs/states/${props.stateMachineName}-${Fn.select(2, Fn.split('/', Aws.STACK_ID))}`,
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
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
      new targets.LambdaFunction(props.pipelineFunction, {
        retryAttempts: 8,
        maxEventAge: Duration.hours(6),
        deadLetterQueue: props.deadLetterQueue,
      }),
    );

    // The stopBuild task: a build whose task timed out is found among this stack's projects and stopped.
    // Named one by one: a prefix wildcard (`tfgate-x-*`) would also match another install's projects
    // (`tfgate-x-prod-…`).
    if (props.builds.length > 0) {
      props.pipelineFunction.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['codebuild:ListBuildsForProject', 'codebuild:BatchGetBuilds', 'codebuild:StopBuild'],
          resources: props.builds.map((build) => build.project.projectArn),
        }),
      );
    }
  }
}
