import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { CfnElement } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeResolvedConfig } from '../../src/config/resolved.js';
import { TABLES, TTL_ATTRIBUTE } from '../../src/adapters/dynamo/table-layout.js';
import { FUNCTION_SOURCE } from '../../infra/bundling.js';
import { withRefusalWait } from '../../src/config/start-build-refusals.js';
import { PROJECT_ROOT, type FunctionName } from '../../infra/functions.js';
import { DEFINITION_FILE, definitionFor, definitionPlaceholders } from '../../infra/state-machine.js';
import { synthesizeSample, WEBHOOK_SECRET_CANARY, type Synthesized } from './synth.js';

// A value that looks like a webhook secret, present in this process's environment while the stack is
// built: nothing may carry it (or any other secret value) into the template.

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON walked by path; a wrong path fails the test.
type Json = Record<string, any>;
type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

let s: Synthesized;
let resources: Record<string, Json>;

beforeAll(async () => {
  s = await synthesizeSample();
  resources = s.template.toJSON().Resources as Record<string, Json>;
}, 900_000);

const FUNCTIONS: FunctionName[] = ['webhook', 'approvals', 'pipeline', 'notifier', 'reconciler', 'githubToken'];

/** The environment each function is given: its contract with lambdas/<name>/lambda.ts. */
const EXPECTED_ENVIRONMENT: Record<FunctionName, string[]> = {
  webhook: [
    'APPROVALS_URL',
    'CONFIG',
    'DELIVERIES_TABLE',
    'GITHUB_MINTER_FUNCTION',
    'LOCKS_TABLE',
    'RUNS_TABLE',
    'STATE_MACHINE_ARN',
    'WEBHOOK_SECRET_ARN',
  ],
  approvals: [
    'APPROVALS_TABLE',
    'ARTIFACTS_BUCKET',
    'BUILD_PROJECT_PREFIX',
    'CONFIG',
    'DELIVERIES_TABLE',
    'GITHUB_MINTER_FUNCTION',
    // A re-run (POST /runs/{id}/rerun) reads what each environment applied and starts an execution.
    'LOCKS_TABLE',
    'RUNS_TABLE',
    'SESSION_SECRET_ARN',
    'SES_FROM',
    'SIGNIN_SECRET_ARN',
    'STATE_MACHINE_ARN',
  ],
  pipeline: [
    'APPROVALS_TABLE',
    'APPROVALS_URL',
    'ARTIFACTS_BUCKET',
    'CONFIG',
    'GITHUB_SECRET_ARN',
    'LOCKS_TABLE',
    'RUNS_TABLE',
  ],
  notifier: [
    'APPROVALS_TABLE',
    'APPROVALS_URL',
    'ARTIFACTS_BUCKET',
    'CONFIG',
    'GITHUB_SECRET_ARN',
    'LOCKS_TABLE',
    'RUNS_TABLE',
    'SES_FROM',
    'SLACK_SECRET_ARN',
  ],
  reconciler: [
    'APPROVALS_URL',
    'ARTIFACTS_BUCKET',
    'CONFIG',
    'DELIVERIES_TABLE',
    'GITHUB_SECRET_ARN',
    'LOCKS_TABLE',
    'RUNS_TABLE',
    'STATE_MACHINE_ARN',
  ],
  githubToken: ['CONFIG', 'GITHUB_SECRET_ARN'],
};
const CONTRACT_NAMES = [...new Set(Object.values(EXPECTED_ENVIRONMENT).flat())];

function logicalId(element: { node: { defaultChild?: unknown } } | CfnElement): string {
  const cfn = ('logicalId' in element ? element : element.node.defaultChild) as CfnElement;
  return s.stack.getLogicalId(cfn);
}

function functionResource(name: FunctionName): Json {
  return resources[logicalId(s.stack.functions.functions[name])]!;
}

/** Every statement of every policy attached to a role (by the role's logical id). */
function statementsOf(roleLogicalId: string): Statement[] {
  return Object.values(resources)
    .filter(
      (r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles as Json[]).some((ref) => ref.Ref === roleLogicalId),
    )
    .flatMap((r) => r.Properties.PolicyDocument.Statement as Statement[]);
}

const list = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

function statementsAllowing(roleLogicalId: string, action: string): Statement[] {
  return statementsOf(roleLogicalId).filter((st) => st.Effect === 'Allow' && list(st.Action).includes(action));
}

function resourcesAllowed(roleLogicalId: string, action: string): unknown[] {
  return statementsAllowing(roleLogicalId, action).flatMap((st) => list(st.Resource));
}

const getAtt = (id: string, attribute = 'Arn') => ({ 'Fn::GetAtt': [id, attribute] });

/** An ARN or other joined value as one string, with references written as {Ref:Id} / {Id.Attr}. */
function flat(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Json;
  if (v && 'Fn::Join' in v) return (v['Fn::Join'][1] as unknown[]).map(flat).join(v['Fn::Join'][0]);
  if (v && 'Ref' in v) return `{Ref:${v.Ref}}`;
  if (v && 'Fn::GetAtt' in v) return `{${v['Fn::GetAtt'].join('.')}}`;
  return JSON.stringify(value);
}

describe('functions', () => {
  it(
    'are Node 22 arm64 functions with active tracing and their own log group, reserving no ' +
      'concurrency unless asked',
    () => {
      // The five, and the GitHub setup function (checked under "GitHub setup").
      expect(Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Function')).toHaveLength(7);
      for (const name of FUNCTIONS) {
        const props = functionResource(name).Properties;
        expect(props.Runtime, name).toBe('nodejs22.x');
        expect(props.Architectures, name).toEqual(['arm64']);
        expect(props.Handler, name).toBe('index.handler');
        expect(props.TracingConfig, name).toEqual({ Mode: 'Active' });
        // Reserving needs an account quota of 100 + the reservations; the sample asks for none.
        expect(props.ReservedConcurrentExecutions, name).toBeUndefined();
        const logGroup = resources[props.LoggingConfig.LogGroup.Ref]!;
        expect(logGroup.Type).toBe('AWS::Logs::LogGroup');
        expect(logGroup.Properties.RetentionInDays).toBeGreaterThan(0);
        expect(logGroup.DeletionPolicy).toBe('RetainExceptOnCreate');
      }
    },
  );

  it('gets exactly the environment variables of its contract', () => {
    for (const name of FUNCTIONS) {
      expect(Object.keys(functionResource(name).Properties.Environment.Variables).sort(), name).toEqual(
        EXPECTED_ENVIRONMENT[name],
      );
    }
  });

  it('reads every variable its lambda.ts names, and is given none it does not name', () => {
    for (const name of FUNCTIONS) {
      const source = readFileSync(path.join(PROJECT_ROOT, 'lambdas', FUNCTION_SOURCE[name], 'lambda.ts'), 'utf8');
      const named = CONTRACT_NAMES.filter((key) => new RegExp(`['"\`]${key}['"\`]`).test(source)).sort();
      expect(named, `lambdas/${name}/lambda.ts`).toEqual(EXPECTED_ENVIRONMENT[name]);
    }
  });

  it('passes a CONFIG every function can decode back into the deployed configuration', () => {
    for (const name of FUNCTIONS.filter((n) => EXPECTED_ENVIRONMENT[n].includes('CONFIG'))) {
      const text = functionResource(name).Properties.Environment.Variables.CONFIG as string;
      expect(decodeResolvedConfig(text, 'CONFIG')).toEqual(s.source.config);
    }
  });

  it("points table, bucket, secret and state machine variables at this stack's resources", () => {
    const env = (name: FunctionName) => functionResource(name).Properties.Environment.Variables as Json;
    const tables = s.stack.tables.tables;
    expect(env('webhook').RUNS_TABLE).toEqual({ Ref: logicalId(tables.runs) });
    expect(env('webhook').DELIVERIES_TABLE).toEqual({ Ref: logicalId(tables.deliveries) });
    expect(env('approvals').APPROVALS_TABLE).toEqual({ Ref: logicalId(tables.approvals) });
    expect(env('pipeline').LOCKS_TABLE).toEqual({ Ref: logicalId(tables.locks) });
    // The functions read artifacts where the builds write them.
    const buildArtifacts = (
      resources[logicalId(s.stack.builds.builds[0]!.project)]!.Properties.Environment.EnvironmentVariables as Json[]
    ).find((v) => v.Name === 'TFGATE_ARTIFACTS')!.Value;
    expect(flat(env('pipeline').ARTIFACTS_BUCKET)).toBe(`s3://{Ref:${logicalId(s.stack.storage.bucket)}}/artifacts`);
    for (const name of ['pipeline', 'approvals', 'notifier', 'reconciler'] as const)
      expect(env(name).ARTIFACTS_BUCKET, name).toEqual(buildArtifacts);
    expect(env('webhook').WEBHOOK_SECRET_ARN).toEqual({ Ref: logicalId(s.stack.secrets.webhook) });
    expect(env('notifier').SLACK_SECRET_ARN).toEqual({ Ref: logicalId(s.stack.secrets.slack!) });
    expect(env('notifier').SES_FROM).toBe('tfgate@example.com');
    expect(env('notifier').APPROVALS_URL).toEqual(getAtt(logicalId(s.stack.functions.urls.approvals), 'FunctionUrl'));
    // Built from the name, not a reference: the machine refers to these functions.
    expect(flat(env('webhook').STATE_MACHINE_ARN)).toBe(
      `arn:aws:states:eu-west-1:123456789012:stateMachine:${s.stack.stateMachineName}`,
    );
  });

  it('exposes only the webhook, approvals and GitHub setup functions by URL, without IAM auth', () => {
    const urls = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Url');
    expect(
      urls
        .map((u) => u.Properties.TargetFunctionArn)
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    ).toEqual(
      [
        getAtt(logicalId(s.stack.functions.functions.approvals)),
        getAtt(logicalId(s.stack.githubSetup.function)),
        getAtt(logicalId(s.stack.functions.functions.webhook)),
      ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );
    for (const url of urls) expect(url.Properties.AuthType).toBe('NONE');
  });
});

describe('tables', () => {
  it('follow the shared table layout with on-demand billing, PITR, TTL, retention on delete and encryption', () => {
    const tables = Object.values(resources).filter((r) => r.Type === 'AWS::DynamoDB::Table');
    expect(tables).toHaveLength(4);
    for (const [role, layout] of Object.entries(TABLES)) {
      const table = resources[logicalId(s.stack.tables.tables[role as keyof typeof TABLES])]!;
      const props = table.Properties;
      // Kept by cdk destroy and replacements, deleted by the rollback of a failed first create; deletion
      // protection would block that rollback.
      expect(table.DeletionPolicy, role).toBe('RetainExceptOnCreate');
      expect(table.UpdateReplacePolicy, role).toBe('Retain');
      expect(props.BillingMode, role).toBe('PAY_PER_REQUEST');
      expect(props.PointInTimeRecoverySpecification, role).toEqual({ PointInTimeRecoveryEnabled: true });
      expect(props.TimeToLiveSpecification, role).toEqual({ AttributeName: TTL_ATTRIBUTE, Enabled: true });
      expect(props.DeletionProtectionEnabled, role).toBeUndefined();
      expect(props.SSESpecification, role).toEqual({ SSEEnabled: true });
      expect(props.KeySchema, role).toEqual([
        { AttributeName: layout.partitionKey, KeyType: 'HASH' },
        ...(layout.sortKey ? [{ AttributeName: layout.sortKey, KeyType: 'RANGE' }] : []),
      ]);
      const indexes = (props.GlobalSecondaryIndexes ?? []) as Json[];
      expect(
        indexes.map((i) => ({
          name: i.IndexName,
          partitionKey: i.KeySchema[0].AttributeName,
          sortKey: i.KeySchema[1].AttributeName,
        })),
        role,
      ).toEqual(layout.globalIndexes);
    }
  });
});

describe('artifacts bucket', () => {
  it('is private, versioned, encrypted, TLS-only, expiring and access-logged', () => {
    const props = resources[logicalId(s.stack.storage.bucket)]!.Properties;
    expect(props.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(
      props.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm,
    ).toMatch(/AES256|aws:kms/);
    expect(props.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(props.LifecycleConfiguration.Rules).toEqual([
      expect.objectContaining({
        ExpirationInDays: 90,
        NoncurrentVersionExpiration: { NoncurrentDays: 30 },
        Status: 'Enabled',
      }),
    ]);
    expect(props.LoggingConfiguration.DestinationBucketName).toEqual({ Ref: logicalId(s.stack.storage.accessLogs) });
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logicalId(s.stack.storage.bucket) },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('state machine', () => {
  // As the stack deploys it: with Lambda-compute plans, the Plan task sends no build timeout overrides.
  const fileText = () =>
    withRefusalWait(definitionFor(s.source.config, readFileSync(DEFINITION_FILE, 'utf8')), s.source.config);
  const machine = () => resources[logicalId(s.stack.pipeline.stateMachine)]!.Properties;

  it('is the statemachine/pipeline.asl.json definition, its placeholders filled by substitutions', () => {
    const props = machine();
    expect(JSON.parse(props.DefinitionString as string)).toEqual(JSON.parse(fileText()));
    expect(Object.keys(props.DefinitionSubstitutions).sort()).toEqual(definitionPlaceholders(fileText()));
    expect(props.DefinitionSubstitutions).toEqual({
      PipelineFunctionArn: getAtt(logicalId(s.stack.functions.functions.pipeline)),
      NotifierFunctionArn: getAtt(logicalId(s.stack.functions.functions.notifier)),
      BuildProjectPrefix: s.stack.projectPrefix,
    });
    expect(props.StateMachineName).toBe(s.stack.stateMachineName);
  });

  it("after substitution, invokes only the two functions and starts only this stack's build projects", () => {
    const substituted = Object.entries(machine().DefinitionSubstitutions as Record<string, unknown>).reduce(
      (text, [name, value]) =>
        text.split(`\${${name}}`).join(typeof value === 'string' ? value : JSON.stringify(value).replace(/"/g, "'")),
      fileText(),
    );
    const states = Object.values(JSON.parse(substituted).States as Record<string, Json>);
    const tasks = states.filter((st) => st.Type === 'Task');
    const functionNames = new Set(
      tasks.filter((t) => String(t.Resource).includes(':lambda:')).map((t) => t.Parameters.FunctionName),
    );
    expect([...functionNames].sort()).toEqual([
      JSON.stringify(getAtt(logicalId(s.stack.functions.functions.notifier))).replace(/"/g, "'"),
      JSON.stringify(getAtt(logicalId(s.stack.functions.functions.pipeline))).replace(/"/g, "'"),
    ]);
    const projectFormats = new Set(
      tasks.filter((t) => String(t.Resource).includes(':codebuild:')).map((t) => t.Parameters['ProjectName.$']),
    );
    expect([...projectFormats].sort()).toEqual([
      `States.Format('${s.stack.projectPrefix}-{}-apply', $.current.environment.name)`,
      `States.Format('${s.stack.projectPrefix}-{}-{}', $.current.environment.name, $.planBuild)`,
    ]);
    const projectNames = Object.values(resources)
      .filter((r) => r.Type === 'AWS::CodeBuild::Project')
      .map((r) => r.Properties.Name)
      .sort();
    expect(projectNames).toEqual(
      ['apps', 'ops'].flatMap((env) =>
        ['apply', 'plan', 'pr-plan'].map((kind) => `${s.stack.projectPrefix}-${env}-${kind}`),
      ),
    );
  });

  it('logs every event without execution data, and traces', () => {
    const props = machine();
    expect(props.LoggingConfiguration.Level).toBe('ALL');
    expect(props.LoggingConfiguration.IncludeExecutionData).toBe(false);
    expect(props.TracingConfiguration).toEqual({ Enabled: true });
  });

  it('may do what its tasks use and nothing broader', () => {
    const definition = JSON.parse(fileText()) as { States: Record<string, Json> };
    const taskResources = new Set(
      Object.values(definition.States)
        .filter((st) => st.Type === 'Task')
        .map((st) => st.Resource as string),
    );
    const needed: Record<string, string[]> = {
      'arn:aws:states:::lambda:invoke': ['lambda:InvokeFunction'],
      'arn:aws:states:::lambda:invoke.waitForTaskToken': ['lambda:InvokeFunction'],
      'arn:aws:states:::codebuild:startBuild.sync': [
        'codebuild:StartBuild',
        'codebuild:StopBuild',
        'codebuild:BatchGetBuilds',
        'events:PutTargets',
        'events:PutRule',
        'events:DescribeRule',
      ],
    };
    for (const resource of taskResources) expect(Object.keys(needed), `a task uses ${resource}`).toContain(resource);
    const role = logicalId(s.stack.pipeline.stateMachine.role.node.defaultChild as CfnElement);
    const functionArns = [
      getAtt(logicalId(s.stack.functions.functions.notifier)),
      getAtt(logicalId(s.stack.functions.functions.pipeline)),
    ];
    const projectArns = s.stack.builds.builds.map((b) => getAtt(logicalId(b.project)));

    expect(resourcesAllowed(role, 'lambda:InvokeFunction')).toEqual(expect.arrayContaining(functionArns));
    expect(resourcesAllowed(role, 'lambda:InvokeFunction')).toHaveLength(2);
    for (const action of ['codebuild:StartBuild', 'codebuild:StopBuild', 'codebuild:BatchGetBuilds']) {
      const granted = resourcesAllowed(role, action);
      expect(granted, action).toHaveLength(projectArns.length);
      expect(granted, action).toEqual(expect.arrayContaining(projectArns));
    }
    for (const action of ['events:PutTargets', 'events:PutRule', 'events:DescribeRule']) {
      expect(resourcesAllowed(role, action).map(flat), action).toEqual([
        'arn:aws:events:eu-west-1:123456789012:rule/StepFunctionsGetEventForCodeBuildStartBuildRule',
      ]);
    }
    // Anything else the role may do is CDK's logging and tracing setup, which AWS only grants on "*".
    const taskActions = new Set(Object.values(needed).flat());
    const other = statementsOf(role).filter((st) => list(st.Action).some((a) => !taskActions.has(a)));
    for (const st of other) {
      expect(st.Resource).toBe('*');
      for (const action of list(st.Action))
        expect(action).toMatch(
          new RegExp(
            `^(${[
              'logs:(Create|Get|Update|Delete|List)LogDeliver(y|ies)',
              'logs:(PutResourcePolicy|DescribeResourcePolicies|DescribeLogGroups)',
              String.raw`xray:\w+`,
            ].join('|')})$`,
          ),
        );
    }
  });

  it('sends failed, timed-out and aborted executions of this machine to the pipeline function', () => {
    const rule = resources[logicalId(s.stack.pipeline.executionEnded)]!.Properties;
    expect(rule.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: {
        stateMachineArn: [{ Ref: logicalId(s.stack.pipeline.stateMachine) }],
        status: ['FAILED', 'TIMED_OUT', 'ABORTED'],
      },
    });
    expect(rule.Targets).toEqual([
      expect.objectContaining({ Arn: getAtt(logicalId(s.stack.functions.functions.pipeline)) }),
    ]);
    expect(rule.Targets[0].Input ?? rule.Targets[0].InputTransformer).toBeUndefined();
  });
});

describe('builds', () => {
  const builds = () => s.stack.builds.builds;
  const build = (env: string, kind = 'apply') => builds().find((b) => b.environment.name === env && b.kind === kind)!;
  const project = (env: string, kind = 'apply') => resources[logicalId(build(env, kind).project)]!.Properties;
  const roleOf = (env: string, kind: string) => logicalId(build(env, kind).role.node.defaultChild as CfnElement);
  /** The buildspec as an object; references inside it read {Ref:Id}. */
  const buildspec = (env: string, kind = 'apply') => JSON.parse(flat(project(env, kind).Source.BuildSpec)) as Json;
  const KINDS = ['plan', 'apply', 'pr-plan'];

  it(
    'has three ARM projects per environment (plan, apply, pull-request plan), plans on Lambda compute, ' +
      'applies on EC2, no CodeBuild cache (the S3 cache serves both)',
    () => {
      expect(
        builds()
          .map((b) => `${b.environment.name}-${b.kind}`)
          .sort(),
      ).toEqual(['apps-apply', 'apps-plan', 'apps-pr-plan', 'ops-apply', 'ops-plan', 'ops-pr-plan']);
      for (const env of ['ops', 'apps']) {
        for (const kind of KINDS) {
          const props = project(env, kind);
          expect(props.Name).toBe(`${s.stack.projectPrefix}-${env}-${kind}`);
          expect(props.Environment).toMatchObject(
            kind === 'apply'
              ? {
                  Type: 'ARM_CONTAINER',
                  ComputeType: 'BUILD_GENERAL1_SMALL',
                  Image: 'aws/codebuild/amazonlinux-aarch64-standard:3.0',
                  PrivilegedMode: false,
                }
              : { Type: 'ARM_LAMBDA_CONTAINER', ComputeType: 'BUILD_LAMBDA_2GB', PrivilegedMode: false },
          );
          expect(props.Cache).toEqual({ Type: 'NO_CACHE' });
          // timeouts: plan 30m, apply 3h in the sample.
          // Lambda compute takes no project timeout (it stops at 15 minutes); plans pass theirs at StartBuild.
          expect(props.TimeoutInMinutes).toBe(kind === 'apply' ? 180 : undefined);
          expect(props.Environment.EnvironmentVariables).toContainEqual({
            Name: 'TFGATE_BUILD_KIND',
            Type: 'PLAINTEXT',
            Value: kind,
          });
        }
      }
    },
  );

  it("installs the pinned terraform, verifying its checksum and HashiCorp's signature before unpacking it", () => {
    const spec = buildspec('ops');
    // Lambda compute refuses runtime-versions; the script picks Node 22 itself on EC2 images.
    expect(spec.phases.install['runtime-versions']).toBeUndefined();
    const install = (spec.phases.install.commands as string[]).join('\n');
    expect(install).toContain('https://releases.hashicorp.com/terraform/1.9.8/terraform_1.9.8_linux_arm64.zip');
    expect(install).toContain('https://releases.hashicorp.com/terraform/1.9.8/terraform_1.9.8_SHA256SUMS');
    expect(install).toContain('https://releases.hashicorp.com/terraform/1.9.8/terraform_1.9.8_SHA256SUMS.72D7468F.sig');
    expect(install).toContain('set -euo pipefail');
    expect(spec.env.variables.TF_PLUGIN_CACHE_DIR).toBe('/tmp/tfgate/plugin-cache');
    expect(spec.cache).toBeUndefined();
    const run = [...spec.phases.pre_build.commands, ...spec.phases.build.commands].join('\n');
    expect(run).toMatch(/aws s3 cp [^\n]*"\$TFGATE_RUNNER_URL" "\/tmp\/tfgate\/runner\.mjs"/);
    expect(spec.phases.build.commands).toHaveLength(1);
    expect(spec.phases.build.commands[0]).toContain('exec node "/tmp/tfgate/runner.mjs"');
  });

  it('makes terraform assume the environment role while the runner keeps the project role', () => {
    const spec = buildspec('apps', 'apply');
    const preBuild = (spec.phases.pre_build.commands as string[]).join('\n');
    expect(preBuild).toContain('credential_source = EcsContainer');
    expect(preBuild).toContain('"$TFGATE_ASSUME_ROLE_ARN"');
    const vars = project('apps', 'apply').Environment.EnvironmentVariables as Json[];
    expect(vars).toContainEqual({
      Name: 'TFGATE_ASSUME_ROLE_ARN',
      Type: 'PLAINTEXT',
      Value: 'arn:aws:iam::222222222222:role/tfgate-apps',
    });
    expect(vars).toContainEqual({
      Name: 'TFGATE_TERRAFORM',
      Type: 'PLAINTEXT',
      Value: '/tmp/tfgate/bin/terraform-as-target',
    });
    // The ops plan builds assume the read-only plan role; apps has none, so its plans assume nothing and say so.
    for (const kind of ['plan', 'pr-plan']) {
      expect(project('ops', kind).Environment.EnvironmentVariables).toContainEqual({
        Name: 'TFGATE_ASSUME_ROLE_ARN',
        Type: 'PLAINTEXT',
        Value: 'arn:aws:iam::111111111111:role/tfgate-ops-plan',
      });
      const appsVars = project('apps', kind).Environment.EnvironmentVariables as Json[];
      expect(appsVars.map((v) => v.Name)).not.toContain('TFGATE_ASSUME_ROLE_ARN');
      expect(appsVars.find((v) => v.Name === 'TFGATE_ROLE_NOTICE')!.Value).toMatch(
        /no planRoleArn is configured for apps/,
      );
      expect((buildspec('apps', kind).phases.pre_build.commands as string[]).join('\n')).not.toContain(
        'TFGATE_ASSUME_ROLE_ARN',
      );
    }
  });

  it(
    'gives the runner its artifacts location, runner asset and terraform as plain variables, and no ' + 'secret at all',
    () => {
      for (const env of ['ops', 'apps']) {
        for (const kind of KINDS) {
          const vars = project(env, kind).Environment.EnvironmentVariables as Json[];
          expect(vars.every((v) => v.Type === 'PLAINTEXT')).toBe(true);
          expect(vars.find((v) => v.Name === 'TFGATE_CACHE')!.Value).toEqual({
            'Fn::Join': ['', ['s3://', { Ref: logicalId(s.stack.storage.bucket) }, '/cache']],
          });
          expect(vars.find((v) => v.Name === 'TFGATE_ARTIFACTS')!.Value).toEqual({
            'Fn::Join': ['', ['s3://', { Ref: logicalId(s.stack.storage.bucket) }, '/artifacts']],
          });
          const spec = buildspec(env, kind);
          expect(spec.env['secrets-manager']).toBeUndefined();
          expect(JSON.stringify(spec)).not.toMatch(/GITHUB|GIT_TOKEN|secretsmanager|secrets-manager/i);
        }
      }
    },
  );

  it(
    'runs plan, apply and pull-request plans with different roles; only the apply role may assume ' +
      'roleArn; no build role reads a secret',
    () => {
      const roles = ['ops', 'apps'].flatMap((env) => KINDS.map((kind) => roleOf(env, kind)));
      expect(new Set(roles).size).toBe(6);
      for (const env of ['ops', 'apps']) {
        for (const kind of KINDS) expect(project(env, kind).ServiceRole).toEqual(getAtt(roleOf(env, kind)));
      }
      expect(resourcesAllowed(roleOf('ops', 'apply'), 'sts:AssumeRole')).toEqual([
        'arn:aws:iam::111111111111:role/tfgate-ops',
      ]);
      expect(resourcesAllowed(roleOf('apps', 'apply'), 'sts:AssumeRole')).toEqual([
        'arn:aws:iam::222222222222:role/tfgate-apps',
      ]);
      expect(resourcesAllowed(roleOf('ops', 'plan'), 'sts:AssumeRole')).toEqual([
        'arn:aws:iam::111111111111:role/tfgate-ops-plan',
      ]);
      expect(resourcesAllowed(roleOf('ops', 'pr-plan'), 'sts:AssumeRole')).toEqual([
        'arn:aws:iam::111111111111:role/tfgate-ops-plan',
      ]);
      expect(resourcesAllowed(roleOf('apps', 'plan'), 'sts:AssumeRole')).toEqual([]);
      expect(resourcesAllowed(roleOf('apps', 'pr-plan'), 'sts:AssumeRole')).toEqual([]);
      // The ops apply role cannot assume the apps role (nor the other way round).
      expect(JSON.stringify(statementsOf(roleOf('ops', 'apply')))).not.toContain('tfgate-apps');
      expect(JSON.stringify(statementsOf(roleOf('apps', 'apply')))).not.toContain('tfgate-ops');
      // Which roles in the whole stack may assume anything, and what: roleArn only by the apply roles.
      const assumers = Object.values(resources)
        .filter((r) => r.Type === 'AWS::IAM::Policy')
        .filter((r) =>
          (r.Properties.PolicyDocument.Statement as Statement[]).some((st) =>
            list(st.Action).some((a) => a.startsWith('sts:')),
          ),
        )
        .map((r) => (r.Properties.Roles as Json[])[0]!.Ref)
        .sort();
      expect(assumers).toEqual(
        [roleOf('apps', 'apply'), roleOf('ops', 'apply'), roleOf('ops', 'plan'), roleOf('ops', 'pr-plan')].sort(),
      );
      for (const role of roles) {
        expect(
          statementsOf(role)
            .flatMap((st) => list(st.Action))
            .filter((a) => a.startsWith('secretsmanager:') || a === '*'),
        ).toEqual([]);
      }
    },
  );

  it("limits each build role's S3 writes to its own mode's prefix; only the apply role reads the deploy plan", () => {
    const bucket = `{${logicalId(s.stack.storage.bucket)}.Arn}`;
    for (const env of ['ops', 'apps']) {
      for (const kind of KINDS) {
        const writes = ['s3:PutObject', 's3:AbortMultipartUpload', 's3:DeleteObject', 's3:*'].flatMap((action) =>
          resourcesAllowed(roleOf(env, kind), action).map(flat),
        );
        // Besides its own prefix, only the apply build (reviewed, approved code) fills the shared cache and
        // writes its environment's state.
        const state = `{${logicalId(s.stack.storage.stateBucket)}.Arn}/env/${env}/*`;
        expect([...new Set(writes)].sort()).toEqual(
          [
            `${bucket}/artifacts/runs/*/${env}/${kind}/*`,
            ...(kind === 'apply' ? [`${bucket}/cache/*`, state] : []),
          ].sort(),
        );
        const reads = resourcesAllowed(roleOf(env, kind), 's3:GetObject')
          .map(flat)
          .filter((arn) => arn.startsWith(bucket))
          .sort();
        const expected = [
          `${bucket}/artifacts/runs/*/${env}/${kind}/*`,
          `${bucket}/artifacts/sources/*`,
          `${bucket}/cache/*`,
          ...(kind === 'apply' ? [`${bucket}/artifacts/runs/*/${env}/plan/*`] : []),
        ].sort();
        expect(reads).toEqual(expected);
      }
    }
    // Sources are written by the pipeline function alone.
    const sourceWriters = Object.values(resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .filter((r) =>
        (r.Properties.PolicyDocument.Statement as Statement[]).some(
          (st) =>
            list(st.Action).includes('s3:PutObject') &&
            list(st.Resource).some((res) => flat(res).includes('/artifacts/sources/')),
        ),
      )
      .map((r) => (r.Properties.Roles as Json[])[0]!.Ref);
    expect(sourceWriters).toEqual([logicalId(s.stack.functions.roles.pipeline.node.defaultChild as CfnElement)]);
    // The structured plan views likewise: derived by the pipeline function from plan.json, never by a build.
    const viewWriters = Object.values(resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .filter((r) =>
        (r.Properties.PolicyDocument.Statement as Statement[]).some(
          (st) =>
            ['s3:PutObject', 's3:*'].some((action) => list(st.Action).includes(action)) &&
            list(st.Resource).some((res) => flat(res).includes('/artifacts/views/')),
        ),
      )
      .map((r) => (r.Properties.Roles as Json[])[0]!.Ref);
    expect(viewWriters).toEqual([logicalId(s.stack.functions.roles.pipeline.node.defaultChild as CfnElement)]);
  });
});

describe('secrets', () => {
  it('keeps every secret value out of the template', () => {
    const text = JSON.stringify(s.template.toJSON());
    expect(text).not.toContain(WEBHOOK_SECRET_CANARY);
    const secrets = Object.values(resources).filter((r) => r.Type === 'AWS::SecretsManager::Secret');
    // webhook, GitHub, session key, GitHub sign-in client, Slack, GitHub setup token.
    expect(secrets).toHaveLength(6);
    for (const secret of secrets) {
      const props = secret.Properties;
      if (props.GenerateSecretString) {
        expect(props.SecretString).toBeUndefined();
        continue;
      }
      // The placeholders the user fills hold nothing.
      expect(props.SecretString).toBe('{}');
    }
    expect(resources[logicalId(s.stack.secrets.webhook)]!.Properties.GenerateSecretString).toBeDefined();
    expect(resources[logicalId(s.stack.secrets.link)]!.Properties.GenerateSecretString).toBeDefined();
    expect(resources[logicalId(s.stack.secrets.slack!)]!.Properties.Name).toBe('tfgate/slack-webhook');
    expect(resources[logicalId(s.stack.secrets.signIn)]!.Properties.SecretString).toBe('{}');
  });

  it('passes no variable named like a secret in clear text', () => {
    const secretLike = /SECRET|TOKEN|PASSWORD|PRIVATE|CREDENTIAL|KEY/;
    for (const r of Object.values(resources)) {
      if (r.Type === 'AWS::Lambda::Function') {
        for (const name of Object.keys(r.Properties.Environment?.Variables ?? {})) {
          if (secretLike.test(name)) expect(name).toMatch(/_ARN$/);
        }
      }
      if (r.Type === 'AWS::CodeBuild::Project') {
        for (const v of r.Properties.Environment.EnvironmentVariables as Json[]) {
          if (v.Type === 'PLAINTEXT') expect(v.Name).not.toMatch(secretLike);
        }
      }
    }
  });

  it('lets each function read only the secrets it is told about', () => {
    for (const name of FUNCTIONS) {
      const role = logicalId(s.stack.functions.roles[name].node.defaultChild as CfnElement);
      const env = functionResource(name).Properties.Environment.Variables as Json;
      const told = Object.entries(env)
        .filter(([key]) => key.endsWith('_SECRET_ARN'))
        .map(([, value]) => value);
      const readable = resourcesAllowed(role, 'secretsmanager:GetSecretValue');
      expect(readable, name).toHaveLength(told.length);
      expect(readable, name).toEqual(expect.arrayContaining(told));
    }
  });
});

const byJson = (a: unknown, b: unknown) => JSON.stringify(a).localeCompare(JSON.stringify(b));

describe('GitHub setup', () => {
  const setupRole = () => logicalId(s.stack.githubSetup.role.node.defaultChild as CfnElement);
  const allRoles = () =>
    Object.entries(resources)
      .filter(([, r]) => r.Type === 'AWS::IAM::Role')
      .map(([id]) => id);

  it("is a Node 22 function behind its own URL, told where GitHub's answer goes and where the App points", () => {
    const fn = resources[logicalId(s.stack.githubSetup.function)]!.Properties;
    expect(fn.Runtime).toBe('nodejs22.x');
    expect(fn.TracingConfig).toEqual({ Mode: 'Active' });
    const env = fn.Environment.Variables as Json;
    expect(Object.keys(env).sort()).toEqual([
      'APPROVALS_URL',
      'APP_NAME',
      'CONFIG',
      'DELIVERIES_TABLE',
      'GITHUB_SECRET_ARN',
      'SETUP_SECRET_ARN',
      'SIGNIN_SECRET_ARN',
      'WEBHOOK_SECRET_ARN',
      'WEBHOOK_URL',
    ]);
    expect(env.SETUP_SECRET_ARN).toEqual({ Ref: logicalId(s.stack.githubSetup.setupToken) });
    expect(env.GITHUB_SECRET_ARN).toEqual({ Ref: logicalId(s.stack.secrets.github) });
    expect(env.WEBHOOK_SECRET_ARN).toEqual({ Ref: logicalId(s.stack.secrets.webhook) });
    expect(env.SIGNIN_SECRET_ARN).toEqual({ Ref: logicalId(s.stack.secrets.signIn) });
    expect(env.WEBHOOK_URL).toEqual(getAtt(logicalId(s.stack.functions.urls.webhook), 'FunctionUrl'));
    expect(env.APPROVALS_URL).toEqual(getAtt(logicalId(s.stack.functions.urls.approvals), 'FunctionUrl'));
    expect(env.DELIVERIES_TABLE).toEqual({ Ref: logicalId(s.stack.tables.tables.deliveries) });
    expect(decodeResolvedConfig(env.CONFIG as string, 'CONFIG')).toEqual(s.source.config);
    // The entry reads exactly these names.
    const source = readFileSync(path.join(PROJECT_ROOT, 'lambdas', 'github-setup', 'lambda.ts'), 'utf8');
    for (const key of Object.keys(env)) expect(source, key).toMatch(new RegExp(`['"\`]${key}['"\`]`));
    const token = resources[logicalId(s.stack.githubSetup.setupToken)]!.Properties;
    expect(token.GenerateSecretString).toMatchObject({ PasswordLength: 48, ExcludePunctuation: true });
    expect(token.SecretString).toBeUndefined();
  });

  it("alone may write secrets, and only the three GitHub's answer fills", () => {
    for (const role of allRoles()) {
      const writes = statementsOf(role).filter((st) =>
        list(st.Action).some((a) => a.startsWith('secretsmanager:') && a !== 'secretsmanager:GetSecretValue'),
      );
      if (role !== setupRole()) expect(writes, role).toEqual([]);
    }
    expect(resourcesAllowed(setupRole(), 'secretsmanager:PutSecretValue').sort(byJson)).toEqual(
      [s.stack.secrets.github, s.stack.secrets.webhook, s.stack.secrets.signIn]
        .map((secret) => ({ Ref: logicalId(secret) }))
        .sort(byJson),
    );
    expect(resourcesAllowed(setupRole(), 'secretsmanager:GetSecretValue')).toEqual([
      { Ref: logicalId(s.stack.githubSetup.setupToken) },
    ]);
    const actions = statementsOf(setupRole())
      .flatMap((st) => list(st.Action))
      .filter((a) => a.startsWith('secretsmanager:'));
    expect([...new Set(actions)].sort()).toEqual(['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue']);
    // The web function reads its secrets and writes none.
    const approvals = logicalId(s.stack.functions.roles.approvals.node.defaultChild as CfnElement);
    expect(
      statementsOf(approvals)
        .flatMap((st) => list(st.Action))
        .filter((a) => a.startsWith('secretsmanager:') && a !== 'secretsmanager:GetSecretValue'),
    ).toEqual([]);
  });

  it('touches only its own claim items in the deliveries table, and nothing else of the stack', () => {
    const dynamo = statementsOf(setupRole()).filter((st) => list(st.Action).some((a) => a.startsWith('dynamodb:')));
    expect(dynamo).toHaveLength(1);
    expect(list(dynamo[0]!.Action).sort()).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ]);
    expect(dynamo[0]!.Resource).toEqual(getAtt(logicalId(s.stack.tables.tables.deliveries), 'Arn'));
    expect(dynamo[0]!.Condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['github-setup#*'] } });
    const services = new Set(
      statementsOf(setupRole())
        .flatMap((st) => list(st.Action))
        .map((a) => a.split(':')[0]),
    );
    expect([...services].sort()).toEqual(['dynamodb', 'logs', 'secretsmanager', 'xray']);
  });

  it("prints the secret's name and the one command that prints the link, never the token", () => {
    const outputs = s.template.toJSON().Outputs as Json;
    expect(JSON.stringify(outputs.GithubSetupSecretName.Value)).toContain(
      `{"Ref":"${logicalId(s.stack.githubSetup.setupToken)}"}`,
    );
    expect(outputs.GithubSetupUrl.Value).toEqual(getAtt(logicalId(s.stack.githubSetup.url), 'FunctionUrl'));
    const command = flat(outputs.GithubSetupLinkCommand.Value);
    expect(command).toBe(
      `echo "{${logicalId(s.stack.githubSetup.url)}.FunctionUrl}setup?token=$(aws secretsmanager ` +
        `get-secret-value --region eu-west-1 ` +
        `--secret-id ${flat(outputs.GithubSetupSecretName.Value)} --query SecretString --output text)"`,
    );
  });
});

describe('least privilege', () => {
  it('has no wildcard action, and "*" resources only for X-Ray and vended logs', () => {
    for (const [id, r] of Object.entries(resources)) {
      if (r.Type !== 'AWS::IAM::Policy') continue;
      for (const st of r.Properties.PolicyDocument.Statement as Statement[]) {
        for (const action of list(st.Action)) expect(action, id).not.toContain('*');
        if (list(st.Resource).includes('*')) {
          for (const action of list(st.Action))
            expect(action, id).toMatch(
              new RegExp(
                `^(${[
                  'xray:',
                  'logs:(Create|Get|Update|Delete|List)LogDeliver',
                  'logs:(PutResourcePolicy|DescribeResourcePolicies|DescribeLogGroups)',
                ].join('|')})`,
              ),
            );
        }
      }
    }
    for (const r of Object.values(resources)) {
      if (r.Type === 'AWS::IAM::Role') expect(r.Properties.ManagedPolicyArns, 'no managed policies').toBeUndefined();
    }
  });

  it(
    'lets only the notifier (approval mail) and the approvals function (sign-in links) send email, only ' +
      'from the configured address; creates no SES identity unless asked',
    () => {
      // The sample leaves notifications.email.identity at its default (existing): SES would refuse to create it twice.
      expect(Object.values(resources).filter((r) => r.Type === 'AWS::SES::EmailIdentity')).toEqual([]);
      const senders = FUNCTIONS.filter(
        (name) =>
          resourcesAllowed(logicalId(s.stack.functions.roles[name].node.defaultChild as CfnElement), 'ses:SendEmail')
            .length > 0,
      );
      expect(senders).toEqual(['approvals', 'notifier']);
      for (const sender of senders) {
        const statements = statementsAllowing(
          logicalId(s.stack.functions.roles[sender].node.defaultChild as CfnElement),
          'ses:SendEmail',
        );
        // The sandbox authorizes SendEmail against the recipients' identities too; the sender is pinned by condition.
        expect(statements.map((st) => [flat(st.Resource), st.Condition])).toEqual([
          [
            'arn:aws:ses:eu-west-1:123456789012:identity/*',
            { StringEquals: { 'ses:FromAddress': 'tfgate@example.com' } },
          ],
        ]);
      }
    },
  );

  it(
    "lets only the approvals function read build logs: find builds of this stack's projects and read " +
      'their log groups',
    () => {
      const builds = s.stack.builds.builds;
      const projects = builds.map((build) => getAtt(logicalId(build.project)));
      const logGroups = builds.map((build) => getAtt(logicalId(build.logGroup)));
      const approvalsRole = logicalId(s.stack.functions.roles.approvals.node.defaultChild as CfnElement);
      const sorted = (values: unknown) => list(values).map(flat).sort();
      const reads = statementsOf(approvalsRole).filter((st) =>
        list(st.Action).some((a) => a.startsWith('codebuild:') || a.startsWith('logs:GetLog')),
      );
      expect(reads.map((st) => [st.Effect, st.Action, sorted(st.Resource)])).toEqual([
        ['Allow', ['codebuild:BatchGetBuilds', 'codebuild:ListBuildsForProject'], sorted(projects)],
        ['Allow', 'logs:GetLogEvents', sorted(logGroups)],
      ]);
      expect(functionResource('approvals').Properties.Environment.Variables.BUILD_PROJECT_PREFIX).toBe(
        s.stack.projectPrefix,
      );
      for (const name of FUNCTIONS.filter((n) => n !== 'approvals')) {
        expect(
          resourcesAllowed(
            logicalId(s.stack.functions.roles[name].node.defaultChild as CfnElement),
            'logs:GetLogEvents',
          ),
          name,
        ).toEqual([]);
      }
    },
  );

  it('lets functions signal and start executions of this state machine only', () => {
    for (const name of FUNCTIONS) {
      const role = logicalId(s.stack.functions.roles[name].node.defaultChild as CfnElement);
      for (const action of ['states:StartExecution', 'states:SendTaskSuccess', 'states:SendTaskFailure']) {
        for (const resource of resourcesAllowed(role, action)) {
          expect(flat(resource), `${name} ${action}`).toBe(
            `arn:aws:states:eu-west-1:123456789012:stateMachine:${s.stack.stateMachineName}`,
          );
        }
      }
    }
    const webhookRole = logicalId(s.stack.functions.roles.webhook.node.defaultChild as CfnElement);
    expect(resourcesAllowed(webhookRole, 'states:StartExecution')).toHaveLength(1);
    // The notifier may only fail its own wait (superseded by a newer push): never succeed, start or stop one.
    const notifierRole = logicalId(s.stack.functions.roles.notifier.node.defaultChild as CfnElement);
    const notifierStates = statementsOf(notifierRole)
      .flatMap((st) => list(st.Action))
      .filter((a) => a.startsWith('states:'));
    expect(notifierStates).toEqual(['states:SendTaskFailure']);
  });
});

describe('re-runs in AWS (POST /runs/{id}/rerun on the approvals function)', () => {
  it("lets the approvals function read and write the locks table and start this stack's state machine only", () => {
    const role = logicalId(s.stack.functions.roles.approvals.node.defaultChild as CfnElement);
    const locks = getAtt(logicalId(s.stack.tables.tables.locks));
    // The lock queue, the sequence counter, push and applied records: item reads, conditional writes, queries.
    for (const action of [
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
    ])
      expect(resourcesAllowed(role, action), action).toContainEqual(locks);
    for (const statement of statementsOf(role).filter((st) => list(st.Action).some((a) => a.startsWith('dynamodb:'))))
      for (const resource of list(statement.Resource)) expect(flat(resource)).not.toMatch(/^\*$|:table\/\*/);
    const machine = `arn:aws:states:eu-west-1:123456789012:stateMachine:${s.stack.stateMachineName}`;
    expect(resourcesAllowed(role, 'states:StartExecution').map(flat)).toEqual([machine]);
    for (const statement of statementsOf(role).filter((st) => list(st.Action).some((a) => a.startsWith('states:'))))
      expect(list(statement.Resource).map(flat), JSON.stringify(statement.Action)).toEqual([machine]);
    const env = functionResource('approvals').Properties.Environment.Variables as Json;
    expect(env.LOCKS_TABLE).toEqual({ Ref: logicalId(s.stack.tables.tables.locks) });
    expect(flat(env.STATE_MACHINE_ARN)).toBe(machine);
  });
});

describe('schedules, alarms and outputs', () => {
  it('runs the reconciler every five minutes and a drift pass for the repository that asks for one', () => {
    const schedules = Object.values(resources).filter((r) => r.Type === 'AWS::Scheduler::Schedule');
    const reconciler = getAtt(logicalId(s.stack.functions.functions.reconciler));
    expect(
      schedules.map((r) => [r.Properties.ScheduleExpression, JSON.parse(r.Properties.Target.Input)]).sort(),
    ).toEqual([
      ['rate(12 hours)', { kind: 'drift', repository: 'acme/infrastructure' }],
      ['rate(5 minutes)', { kind: 'reconcile' }],
    ]);
    for (const schedule of schedules) expect(schedule.Properties.Target.Arn).toEqual(reconciler);
    const schedulerRole = schedules[0]!.Properties.Target.RoleArn['Fn::GetAtt'][0] as string;
    const deadLetters = getAtt(logicalId(s.stack.deadLetters.schedules));
    for (const schedule of schedules) expect(schedule.Properties.Target.DeadLetterConfig).toEqual({ Arn: deadLetters });
    expect(statementsOf(schedulerRole)).toEqual([
      { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: reconciler },
      {
        Effect: 'Allow',
        Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
        Resource: deadLetters,
      },
    ]);
  });

  it('alarms on failed and timed-out executions, webhook errors and throttles, and undelivered events', () => {
    const alarms = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
    expect(alarms.map((a) => `${a.Properties.Namespace}/${a.Properties.MetricName}`).sort()).toEqual([
      // One Errors alarm per function (webhook, approvals, pipeline, notifier, reconciler, GitHub token).
      'AWS/Lambda/Errors',
      'AWS/Lambda/Errors',
      'AWS/Lambda/Errors',
      'AWS/Lambda/Errors',
      'AWS/Lambda/Errors',
      'AWS/Lambda/Errors',
      'AWS/Lambda/Throttles',
      // Dead letters of EventBridge and the scheduler, and the functions' on-failure destination.
      'AWS/SQS/ApproximateNumberOfMessagesVisible',
      'AWS/SQS/ApproximateNumberOfMessagesVisible',
      'AWS/SQS/ApproximateNumberOfMessagesVisible',
      'AWS/States/ExecutionsFailed',
      'AWS/States/ExecutionsTimedOut',
    ]);
    for (const alarm of alarms) {
      expect(alarm.Properties.Threshold).toBe(1);
      expect(alarm.Properties.ComparisonOperator).toBe('GreaterThanOrEqualToThreshold');
    }
  });

  it('prints the webhook URL to paste into GitHub, the approvals URL, the machine and the secret names', () => {
    const outputs = s.template.toJSON().Outputs as Json;
    expect(outputs.WebhookUrl.Value).toEqual({
      'Fn::Join': ['', [getAtt(logicalId(s.stack.functions.urls.webhook), 'FunctionUrl'), 'webhook']],
    });
    expect(outputs.ApprovalsUrl.Value).toEqual(getAtt(logicalId(s.stack.functions.urls.approvals), 'FunctionUrl'));
    expect(outputs.StateMachineArn.Value).toEqual({ Ref: logicalId(s.stack.pipeline.stateMachine) });
    for (const key of [
      'WebhookSecretName',
      'GithubSecretName',
      'SlackSecretName',
      'BuildRoleArnOpsApply',
      'BuildRoleArnOpsPlan',
      'BuildRoleArnOpsPullRequestPlan',
      'BuildRoleArnAppsApply',
    ])
      expect(outputs[key], key).toBeDefined();
  });
});

describe('cdk-nag', () => {
  it('reports no unacknowledged AwsSolutions finding', () => {
    const report = JSON.parse(readFileSync(path.join(s.assembly.directory, 'validation-report.json'), 'utf8')) as {
      pluginReports: Json[];
    };
    const findings = report.pluginReports.flatMap((p) => (p.violations ?? p.conclusions ?? []) as Json[]);
    expect(findings.filter((f) => JSON.stringify(f).includes('AwsSolutions'))).toEqual([]);
  });

  it('gives a specific reason for every acknowledged finding', () => {
    expect(s.stack.nagAcknowledgements.length).toBeGreaterThan(0);
    for (const ack of s.stack.nagAcknowledgements) {
      expect(ack.id, ack.path).toMatch(/^AwsSolutions-[A-Z0-9]+(\[.+\])?$/);
      expect(ack.reason.length, `${ack.path} ${ack.id}`).toBeGreaterThan(60);
    }
    // Wildcards are acknowledged one resource string at a time, never the whole rule.
    expect(s.stack.nagAcknowledgements.filter((a) => a.id === 'AwsSolutions-IAM5')).toEqual([]);
  });

  it('took about this long to synthesize (bundling every function)', () => {
    console.log(`synth with bundling: ${s.synthSeconds.toFixed(1)} s, ${Object.keys(resources).length} resources`);
    // A bound against a hang, not a timing goal (bench/ measures): a loaded machine synthesizes slowly.
    expect(s.synthSeconds).toBeLessThan(900);
  });
});
