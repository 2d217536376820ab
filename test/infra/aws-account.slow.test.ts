/**
 * Issue 14: what a real AWS account needs from the stack (redeploys, build limits, retries, alerts,
 * compute per mode, caches, SES, concurrency, execution budget, the runner asset). One synthesis of
 * the sample, one of a variant that turns the optional settings on.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  assertWithinExecutionTimeout,
  buildLimits,
  executionBudgets,
  TASK_MARGIN_SECONDS,
} from '../../src/config/build-limits.js';
import { parseConfig } from '../../src/config/load.js';
import { HASHICORP_KEY_FILE, HASHICORP_KEY_FINGERPRINT } from '../../infra/builds.js';
import { DEFINITION_FILE, executionTimeoutSeconds } from '../../infra/state-machine.js';
import { TfgateStack } from '../../infra/tfgate-stack.js';
import type { TfgateSettings } from '../../infra/config.js';
import { parse as parseYaml } from 'yaml';
import { cdkJsonContext, SAMPLE_CONFIG, synthesizeSample, WITHOUT_BUNDLING, type Synthesized } from './synth.js';

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON walked by path; a wrong path fails the test.
type Json = Record<string, any>;
type AslValidator = (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errors: unknown[] };
const validateAsl = createRequire(import.meta.url)('asl-validator') as AslValidator;

let s: Synthesized;
let resources: Record<string, Json>;
let variant: { stack: TfgateStack; resources: Record<string, Json> };

const sampleText = readFileSync(SAMPLE_CONFIG, 'utf8');
const VARIANT_CONFIG = sampleText
  .replace(
    '  email: { from: tfgate@example.com }',
    '  email: { from: tfgate@example.com, identity: create }\n  alarms: { email: oncall@example.com }',
  )
  .replace('  version: 1.9.8', '  version: 1.9.8\n  planCompute: ec2');

function synthesizeVariant(): typeof variant {
  // Its template is read for settings, not for function code: no bundling (the sample's is checked in stack.slow).
  const app = new App({ context: { ...cdkJsonContext(), ...WITHOUT_BUNDLING } });
  // The configuration as an object, the construct's other way in.
  const stack = new TfgateStack(app, 'TfgateVariant', {
    config: parseYaml(VARIANT_CONFIG) as TfgateSettings,
    reserveConcurrency: true,
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  return { stack, resources: Template.fromStack(stack).toJSON().Resources as Record<string, Json> };
}

beforeAll(async () => {
  s = await synthesizeSample();
  resources = s.template.toJSON().Resources as Record<string, Json>;
  variant = synthesizeVariant();
}, 900_000);

const ofType = (all: Record<string, Json>, type: string) => Object.entries(all).filter(([, r]) => r.Type === type);
const logicalId = (stack: TfgateStack, construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as never);
const definition = () =>
  JSON.parse(readFileSync(DEFINITION_FILE, 'utf8')) as { States: Record<string, Json>; TimeoutSeconds: number };
const machine = (all: Record<string, Json>) => ofType(all, 'AWS::StepFunctions::StateMachine')[0]![1].Properties;

describe('1. redeploys: retained resources and names', () => {
  it(
    'keeps tables, buckets and log groups on delete and replacement, but lets a failed first create roll ' +
      'them back',
    () => {
      const retained = [
        ...ofType(resources, 'AWS::DynamoDB::Table'),
        ...ofType(resources, 'AWS::S3::Bucket'),
        ...ofType(resources, 'AWS::Logs::LogGroup'),
      ];
      // 4 tables, 3 buckets (artifacts, access logs, terraform state), 6 function log groups (the GitHub token
      // minter's included) and the GitHub setup function's, 3 build log groups per environment, the state machine's.
      expect(retained.length).toBe(4 + 3 + 6 + 1 + 3 * 2 + 1);
      const state = logicalId(s.stack, s.stack.storage.stateBucket);
      for (const [id, r] of retained) {
        // Terraform state is kept even when the first create fails: nothing may ever delete it but a person.
        expect(r.DeletionPolicy, id).toBe(id === state ? 'Retain' : 'RetainExceptOnCreate');
        expect(r.UpdateReplacePolicy, id).toBe('Retain');
      }
    },
  );

  it('gives no retained resource a fixed name: the one named log group carries the stack id', () => {
    const named = Object.entries(resources).filter(
      ([, r]) =>
        r.DeletionPolicy === 'RetainExceptOnCreate' &&
        (r.Properties.TableName || r.Properties.BucketName || r.Properties.LogGroupName),
    );
    expect(named).toHaveLength(1);
    const name = named[0]![1].Properties.LogGroupName as Json;
    expect(JSON.stringify(name)).toContain('"Fn::Select":[2,{"Fn::Split":["/",{"Ref":"AWS::StackId"}]}]');
    expect(name['Fn::Join'][1][0]).toBe(`/aws/vendedlogs/states/${s.stack.stateMachineName}-`);
  });
});

describe('2. build limits: overrides, task timeouts and StopBuild', () => {
  const states = () => definition().States;

  it(
    "starts each build with its mode's TimeoutInMinutesOverride and QueuedTimeoutInMinutesOverride, and " +
      'waits build + queue + margin',
    () => {
      for (const [state, mode] of [
        ['Plan', 'plan'],
        ['Apply', 'apply'],
      ] as const) {
        const task = states()[state]!;
        expect(task.Resource).toBe('arn:aws:states:::codebuild:startBuild.sync');
        expect(task.Parameters['TimeoutInMinutesOverride.$']).toBe(`$.builds.${mode}.timeoutMinutes`);
        expect(task.Parameters['QueuedTimeoutInMinutesOverride.$']).toBe(`$.builds.${mode}.queuedTimeoutMinutes`);
        expect(task.TimeoutSecondsPath).toBe(`$.${mode}TimeoutSeconds`);
      }
      // The sample: plan 30m (Lambda compute: 15), apply 3h, queue 30m by default.
      expect(buildLimits('plan', s.source.config)).toEqual({
        timeoutMinutes: 15,
        queuedTimeoutMinutes: 30,
        taskTimeoutSeconds: (15 + 30) * 60 + TASK_MARGIN_SECONDS,
      });
      expect(buildLimits('apply', s.source.config)).toEqual({
        timeoutMinutes: 180,
        queuedTimeoutMinutes: 30,
        taskTimeoutSeconds: (180 + 30) * 60 + TASK_MARGIN_SECONDS,
      });
      expect(buildLimits('plan', variant.stack.config).timeoutMinutes).toBe(30);
    },
  );

  it('on States.Timeout stops the build (StopBuild, waiting for it to end) before RecordFailure frees the lock', () => {
    for (const [state, timedOut] of [
      ['Plan', 'PlanTimedOut'],
      ['Apply', 'ApplyTimedOut'],
    ] as const) {
      const catches = states()[state]!.Catch as Json[];
      expect(catches[0]).toEqual({ ErrorEquals: ['States.Timeout'], ResultPath: '$.error', Next: timedOut });
      expect(states()[timedOut]!.Next).toBe('StopBuild');
    }
    const stop = states().StopBuild!;
    expect(stop.Parameters.Payload).toMatchObject({ action: 'stopBuild', 'buildMode.$': '$.failure.during' });
    expect(stop.Next).toBe('RecordFailure');
    expect(stop.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.stopError', Next: 'RecordFailure' }]);
    expect(stop.Retry[0]).toMatchObject({ ErrorEquals: ['BuildStillRunning'], MaxAttempts: 8 });
    // The pipeline function may stop builds of this stack's projects only: each named, no prefix wildcard
    // (`tfgate-*` would match another install's `tfgate-prod-*`).
    const statement = ofType(resources, 'AWS::IAM::Policy')
      .flatMap(([, r]) => r.Properties.PolicyDocument.Statement as Json[])
      .find((st) => JSON.stringify(st.Action).includes('codebuild:StopBuild'));
    expect(statement, 'StopBuild statement').toBeDefined();
    expect(JSON.stringify(statement!.Resource)).not.toContain('*');
    const projects = s.stack.builds.builds.map((b) => logicalId(s.stack, b.project));
    const named = (statement!.Resource as Json[]).map((r) => JSON.stringify(r));
    expect(named).toHaveLength(projects.length);
    for (const project of projects)
      expect(
        named.some((r) => r.includes(`"${project}"`)),
        project,
      ).toBe(true);
    expect([...(statement!.Action as string[])].sort()).toEqual([
      'codebuild:BatchGetBuilds',
      'codebuild:ListBuildsForProject',
      'codebuild:StopBuild',
    ]);
  });
});

describe('4. retries', () => {
  const states = () => definition().States;
  const REFUSALS = [
    'CodeBuild.AccountLimitExceededException',
    'CodeBuild.ThrottlingException',
    'CodeBuild.CodeBuildException',
  ];

  it('retries StartBuild refusals with backoff, and nothing else of a build', () => {
    for (const state of ['Plan', 'Apply']) {
      const retry = states()[state]!.Retry as Json[];
      expect(retry).toHaveLength(1);
      expect(retry[0]!.ErrorEquals).toEqual(REFUSALS);
      expect(retry[0]!.BackoffRate).toBe(2);
      expect(retry[0]!.JitterStrategy).toBe('FULL');
      expect(retry[0]!.MaxDelaySeconds).toBeGreaterThan(0);
    }
    // An apply's retries end within the 5 minutes an IdempotencyToken holds.
    const apply = (states().Apply!.Retry as Json[])[0]!;
    let worst = 0;
    for (let attempt = 0; attempt < apply.MaxAttempts; attempt++)
      worst += Math.min(apply.IntervalSeconds * apply.BackoffRate ** attempt, apply.MaxDelaySeconds);
    expect(worst).toBeLessThan(300);
  });

  it(
    'puts an IdempotencyToken on apply (and plan) builds, unique per execution so a later run of the ' +
      'stage is never answered with an old build',
    () => {
      expect(states().Apply!.Parameters['IdempotencyToken.$']).toBe(
        "States.Format('{}-{}-apply', $$.Execution.Name, $.current.environment.name)",
      );
      expect(states().Plan!.Parameters['IdempotencyToken.$']).toBe(
        "States.Format('{}-{}-plan', $$.Execution.Name, $.current.environment.name)",
      );
    },
  );

  it('retries Lambda.ClientExecutionTimeoutException with the other Lambda service errors on every Lambda task', () => {
    const lambdaTasks = Object.entries(states()).filter(
      ([, st]) => st.Type === 'Task' && String(st.Resource).includes(':lambda:'),
    );
    expect(lambdaTasks.length).toBeGreaterThanOrEqual(7);
    for (const [name, st] of lambdaTasks) {
      const listed = (st.Retry as Json[]).flatMap((r) => r.ErrorEquals as string[]);
      if (listed.includes('States.ALL')) continue;
      expect(listed, name).toEqual(
        expect.arrayContaining([
          'Lambda.ServiceException',
          'Lambda.ClientExecutionTimeoutException',
          'Lambda.TooManyRequestsException',
        ]),
      );
    }
  });
});

describe('5. SES', () => {
  it('creates the identity only with notifications.email.identity: create', () => {
    expect(ofType(resources, 'AWS::SES::EmailIdentity')).toHaveLength(0);
    const created = ofType(variant.resources, 'AWS::SES::EmailIdentity');
    expect(created.map(([, r]) => r.Properties.EmailIdentity)).toEqual(['tfgate@example.com']);
  });
});

describe('6. nobody misses a failure', () => {
  it('notifies one SNS topic from every alarm; email is subscribed only when configured', () => {
    for (const all of [resources, variant.resources]) {
      const topics = ofType(all, 'AWS::SNS::Topic');
      expect(topics).toHaveLength(1);
      const alarms = ofType(all, 'AWS::CloudWatch::Alarm');
      // Executions failed and timed out; Errors of each of the six functions and the webhook's throttles;
      // the depth of the three undelivered queues (execution ended, schedules, function failures).
      const metrics = alarms.map(([, a]) => `${a.Properties.Namespace} ${a.Properties.MetricName}`).sort();
      expect(metrics).toEqual(
        [
          'AWS/States ExecutionsFailed',
          'AWS/States ExecutionsTimedOut',
          ...Array.from({ length: 6 }, () => 'AWS/Lambda Errors'),
          'AWS/Lambda Throttles',
          ...Array.from({ length: 3 }, () => 'AWS/SQS ApproximateNumberOfMessagesVisible'),
        ].sort(),
      );
      for (const [id, alarm] of alarms) expect(alarm.Properties.AlarmActions, id).toEqual([{ Ref: topics[0]![0] }]);
    }
    expect(ofType(resources, 'AWS::SNS::Subscription')).toHaveLength(0);
    expect(
      ofType(variant.resources, 'AWS::SNS::Subscription').map(([, r]) => [
        r.Properties.Protocol,
        r.Properties.Endpoint,
      ]),
    ).toEqual([['email', 'oncall@example.com']]);
  });

  it('gives the EventBridge target and every schedule a dead-letter queue with an alarm on its depth', () => {
    const rule = ofType(resources, 'AWS::Events::Rule')[0]![1];
    const executionEnded = logicalId(s.stack, s.stack.deadLetters.executionEnded);
    expect(rule.Properties.Targets[0].DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': [executionEnded, 'Arn'] } });
    const schedules = logicalId(s.stack, s.stack.deadLetters.schedules);
    for (const [, schedule] of ofType(resources, 'AWS::Scheduler::Schedule')) {
      expect(schedule.Properties.Target.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': [schedules, 'Arn'] } });
    }
    const depthAlarms = ofType(resources, 'AWS::CloudWatch::Alarm').filter(
      ([, a]) => a.Properties.MetricName === 'ApproximateNumberOfMessagesVisible',
    );
    // And the queue every function's failed asynchronous invocation goes to (its on-failure destination).
    const functionFailures = logicalId(s.stack, s.stack.deadLetters.functionFailures);
    expect(depthAlarms.map(([, a]) => a.Properties.Dimensions[0].Value['Fn::GetAtt'][0]).sort()).toEqual(
      [executionEnded, schedules, functionFailures].sort(),
    );
  });
});

describe('7. reserved concurrency', () => {
  it('reserves none unless the setting is on', () => {
    for (const [id, fn] of ofType(resources, 'AWS::Lambda::Function'))
      expect(fn.Properties.ReservedConcurrentExecutions, id).toBeUndefined();
    const reserved = ofType(variant.resources, 'AWS::Lambda::Function').map(
      ([, fn]) => fn.Properties.ReservedConcurrentExecutions as number,
    );
    // Seven functions' reservations, as docs/aws.md counts them (the GitHub token minter's included).
    expect(reserved.reduce((a, b) => a + b, 0)).toBe(62);
  });
});

describe('8. compute per mode, caches, verified terraform', () => {
  it(
    'puts plan and pull-request plan projects on arm64 Lambda compute, applies on EC2, and plans on EC2 ' +
      'with planCompute: ec2',
    () => {
      const computeOf = (stack: typeof s.stack, tpl: typeof resources) =>
        Object.fromEntries(
          stack.builds.builds.map((b) => [
            `${b.environment.name}/${b.kind}`,
            tpl[stack.getLogicalId(b.project.node.defaultChild as never)]!.Properties.Environment,
          ]),
        );
      for (const [key, environment] of Object.entries(computeOf(s.stack, resources))) {
        expect(environment, key).toMatchObject(
          key.endsWith('/apply')
            ? { Type: 'ARM_CONTAINER', ComputeType: 'BUILD_GENERAL1_SMALL' }
            : { Type: 'ARM_LAMBDA_CONTAINER', ComputeType: 'BUILD_LAMBDA_2GB' },
        );
      }
      for (const [key, environment] of Object.entries(computeOf(variant.stack, variant.resources))) {
        expect(environment, key).toMatchObject({ Type: 'ARM_CONTAINER', ComputeType: 'BUILD_GENERAL1_SMALL' });
      }
      // No build's compute is chosen at StartBuild: each project is set up for its own mode.
      for (const state of ['Plan', 'Apply']) {
        expect(
          Object.keys(definition().States[state]!.Parameters).filter((k) => /Type|Image/.test(k)),
          state,
        ).toEqual([]);
      }
    },
  );

  it("shares terraform and providers through the artifacts bucket's cache/ prefix", () => {
    for (const build of s.stack.builds.builds) {
      const role = s.stack.getLogicalId(build.role.node.defaultChild as never);
      const statements = ofType(resources, 'AWS::IAM::Policy')
        .filter(([, r]) => (r.Properties.Roles as Json[]).some((ref) => ref.Ref === role))
        .flatMap(([, r]) => r.Properties.PolicyDocument.Statement as Json[]);
      const cache = statements.find((st) => JSON.stringify(st.Resource).includes('/cache/*'));
      // Plans run unreviewed code: they read the cache; only applies fill it.
      const expected =
        build.kind === 'apply' ? ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'] : ['s3:GetObject'];
      expect(
        ([] as string[]).concat(cache?.Action as string | string[]).sort(),
        `${build.environment.name}/${build.kind}`,
      ).toEqual(expected);
    }
  });

  it(
    "checks SHA256SUMS against HashiCorp's signature with the key kept in the repository, before the " +
      "zip's checksum",
    () => {
      const install = installScript();
      const key = readFileSync(HASHICORP_KEY_FILE, 'utf8').trim();
      expect(key).toMatch(/^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
      expect(install).toContain(`<<'TFGATE_KEY'\n${key}\nTFGATE_KEY`);
      expect(install).toContain(`VALIDSIG .* ${HASHICORP_KEY_FINGERPRINT}$`);
      expect(install).toContain('--verify "terraform_1.9.8_SHA256SUMS.72D7468F.sig" "terraform_1.9.8_SHA256SUMS"');
      expect(install.indexOf('verified ||')).toBeLessThan(install.indexOf('unzip -o -q'));
    },
  );
});

describe('buildspec commands', () => {
  it('are all valid bash, for every project (with and without an assumed role)', () => {
    for (const [id, project] of ofType(resources, 'AWS::CodeBuild::Project')) {
      const spec = buildspecOf(project);
      for (const phase of ['install', 'pre_build', 'build']) {
        for (const command of spec.phases[phase].commands as string[]) {
          const checked = spawnSync('bash', ['-n', '-c', command], { encoding: 'utf8' });
          expect(checked.status, `${id} ${phase}: ${checked.stderr}`).toBe(0);
        }
      }
    }
  });

  it(
    'assumes the environment role from EC2 (container credentials) and from Lambda compute (environment ' +
      'credentials)',
    () => {
      const project = ofType(resources, 'AWS::CodeBuild::Project').find(([, p]) =>
        JSON.stringify(p.Properties.Environment).includes('TFGATE_ASSUME_ROLE_ARN'),
      )![1];
      const preBuild = (buildspecOf(project).phases.pre_build.commands as string[]).join('\n');
      expect(preBuild).toContain("source='credential_source = EcsContainer'");
      expect(preBuild).toContain("source='source_profile = tfgate-source'");
      expect(preBuild).toContain('unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN');
    },
  );
});

function buildspecOf(project: Json): Json {
  const spec = project.Properties.Source.BuildSpec as string | Json;
  // A plain string unless the buildspec references another resource (then CloudFormation joins it).
  if (typeof spec === 'string') return JSON.parse(spec) as Json;
  const parts = spec['Fn::Join'][1] as unknown[];
  return JSON.parse(parts.map((part) => (typeof part === 'string' ? part : 'REF')).join('')) as Json;
}

/** The install phase's script, as the build runs it (the project's buildspec, references left out). */
function installScript(): string {
  const project = ofType(resources, 'AWS::CodeBuild::Project')[0]![1];
  return (buildspecOf(project).phases.install.commands as string[]).join('\n');
}

describe('9. execution timeout vs waits', () => {
  it('fits the sample within the execution timeout and refuses a configuration that does not', () => {
    const limit = executionTimeoutSeconds(readFileSync(DEFINITION_FILE, 'utf8'));
    expect(limit).toBe(20 * 86400);
    expect(() => assertWithinExecutionTimeout(s.source.config, limit)).not.toThrow();
    const tooLong = parseConfig(
      sampleText
        .replace('          timeout: 24h', '          timeout: 14d')
        .replace('timeouts:\n', 'timeouts:\n  lockWait: 7d\n'),
      'long.yaml',
    );
    const budgets = executionBudgets(tooLong);
    expect(budgets[0]!.worstCaseSeconds).toBeGreaterThan(limit);
    expect(() => assertWithinExecutionTimeout(tooLong, limit)).toThrow(
      /^tfgate: a run of acme\/infrastructure could take up to 2\d\.\d days, past .* 20\.0 days [^\n]*timeouts$/,
    );
    // It is refused while the stack is built: no function needs bundling first.
    const app = new App({ context: { ...cdkJsonContext(), ...WITHOUT_BUNDLING } });
    const tooLongText = sampleText
      .replace('          timeout: 24h', '          timeout: 14d')
      .replace('timeouts:\n', 'timeouts:\n  lockWait: 7d\n');
    expect(() => new TfgateStack(app, 'TooLong', { config: parseYaml(tooLongText) as TfgateSettings })).toThrow(
      /past the state machine's execution limit/,
    );
  });
});

describe('10. the runner asset', () => {
  it("may be decrypted only through S3, in this account, for the bootstrap bucket's objects", () => {
    const kms = ofType(resources, 'AWS::IAM::Policy')
      .flatMap(([, r]) => r.Properties.PolicyDocument.Statement as Json[])
      .filter((st) => st.Action === 'kms:Decrypt');
    expect(kms).toHaveLength(s.stack.builds.builds.length);
    for (const st of kms) {
      expect(Object.keys(st.Condition.StringEquals).sort()).toEqual(['kms:CallerAccount', 'kms:ViaService']);
      expect(JSON.stringify(st.Condition.StringLike)).toContain('kms:EncryptionContext:aws:s3:arn');
    }
  });
});

describe('asl-validator', () => {
  it('finds the definition valid with its substitutions filled, as deployed', () => {
    const props = machine(resources);
    const values: Record<string, string> = {
      PipelineFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:tfgate-pipeline',
      NotifierFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:tfgate-notifier',
    };
    let text = props.DefinitionString as string;
    for (const [name, value] of Object.entries(props.DefinitionSubstitutions as Record<string, unknown>)) {
      text = text.split(`\${${name}}`).join(typeof value === 'string' ? value : values[name]!);
    }
    expect(text).not.toMatch(/\$\{[A-Za-z]+\}/);
    const result = validateAsl(JSON.parse(text), { checkPaths: true, checkArn: true });
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it('rejects a broken definition (the check can fail)', () => {
    const broken = definition() as Json;
    broken.States.Plan.Next = 'NoSuchState';
    expect(validateAsl(broken).isValid).toBe(false);
  });
});
