/**
 * First use in AWS. The stack's Terraform state bucket and who reaches it: kept whatever happens to the stack,
 * versioned,
 * encrypted, TLS only, private; applies read and write their own environment's state, plans only read it
 * (and may create a new workspace's empty state, never replace one). The construct tree is built without
 * bundling, as in construct.test.ts.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it, vi } from 'vitest';
import { Tfgate, type TfgateSettings } from '../../infra/index.js';
import { SynthRefusal } from '../../src/config/synth-refusal.js';

vi.mock('aws-cdk-lib/aws-lambda-nodejs', async (original) =>
  (await import('../support/inline-functions.js')).withInlineFunctions(await original()),
);

const CONFIG: TfgateSettings = {
  terraform: { version: '1.11.4' },
  repositories: [
    {
      name: 'acme/infrastructure',
      environments: [{ name: 'ops' }, { name: 'apps', approval: { approvers: ['alice@example.com'], timeout: '24h' } }],
    },
  ],
};

const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
const stack = new Stack(app, 'Platform', { env: { account: '123456789012', region: 'eu-west-1' } });
const gate = new Tfgate(stack, 'Gate', { config: CONFIG });
const template = Template.fromStack(stack);
const json = template.toJSON() as { Resources: Record<string, Record<string, unknown>> };
const stateId = stack.getLogicalId(gate.parts.storage.stateBucket.node.defaultChild as never);

type Statement = {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
  Principal?: unknown;
};

function statementsOf(roleId: string): Statement[] {
  return Object.values(json.Resources)
    .filter((resource) => resource.Type === 'AWS::IAM::Policy')
    .filter((policy) => JSON.stringify((policy.Properties as { Roles: unknown }).Roles).includes(`"${roleId}"`))
    .flatMap(
      (policy) => (policy.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement,
    );
}

const actions = (statement: Statement) => [statement.Action].flat();
const onState = (statement: Statement) => JSON.stringify(statement.Resource).includes(stateId);

describe('the state bucket', () => {
  it('is versioned, encrypted, private, TLS only and retained', () => {
    const bucket = json.Resources[stateId]!;
    expect(bucket.DeletionPolicy).toBe('Retain');
    expect(bucket.UpdateReplacePolicy).toBe('Retain');
    expect(bucket.Properties).toMatchObject({
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: {} }] },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    });
    const policy = Object.values(json.Resources).find(
      (resource) =>
        resource.Type === 'AWS::S3::BucketPolicy' &&
        JSON.stringify((resource.Properties as { Bucket: unknown }).Bucket).includes(`"${stateId}"`),
    )!;
    const statements = (policy.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement;
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
    // Plan roles may only create a state where none is: the If-None-Match write.
    const creates = statements.filter((s) => s.Effect === 'Allow');
    // One per environment, naming its deploy plan role only: never an apply role, and never the role of a
    // pull-request plan, whose unreviewed code could plant a state for an environment that has none yet.
    expect(creates).toHaveLength(2);
    const deployPlanRoles = gate.parts.builds.builds
      .filter((build) => build.kind === 'plan')
      .map((build) => stack.getLogicalId(build.role.node.defaultChild as never));
    for (const statement of creates) {
      const principal = (statement.Principal as { AWS: { 'Fn::GetAtt': [string, string] } }).AWS;
      expect(deployPlanRoles).toContain(principal['Fn::GetAtt'][0]);
      expect(actions(statement)).toEqual(['s3:PutObject']);
      expect(statement.Condition).toEqual({ StringEquals: { 's3:if-none-match': '*' } });
      expect(JSON.stringify(statement.Resource)).toMatch(/\/env\/(ops|apps)\/\*\/terraform\.tfstate/);
    }
  });

  it('is written by apply roles in their own environment only, and only read by plan roles', () => {
    for (const build of gate.parts.builds.builds) {
      const roleId = stack.getLogicalId(build.role.node.defaultChild as never);
      const state = statementsOf(roleId).filter(onState);
      const objects = state.filter((s) => !actions(s).includes('s3:ListBucket'));
      expect(objects, `${build.environment.name} ${build.kind}`).toHaveLength(1);
      expect(JSON.stringify(objects[0]!.Resource)).toContain(`/env/${build.environment.name}/*`);
      expect(actions(objects[0]!)).toEqual(
        build.kind === 'apply' ? ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'] : ['s3:GetObject'],
      );
      const variables = (
        json.Resources[stack.getLogicalId(build.project.node.defaultChild as never)]!.Properties as {
          Environment: { EnvironmentVariables: Array<{ Name: string; Value: unknown }> };
        }
      ).Environment.EnvironmentVariables;
      expect(JSON.stringify(variables.find((v) => v.Name === 'TFGATE_STATE_BUCKET')?.Value)).toContain(stateId);
    }
  });
});

describe('the synth refuses, in one line', () => {
  const fresh = (region = 'eu-west-1') => {
    const scratch = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
    return new Stack(scratch, 'Platform', { env: { account: '123456789012', region } });
  };

  it('two Tfgate constructs whose build projects and state machine would share names', () => {
    const shared = fresh();
    new Tfgate(shared, 'One', { config: CONFIG });
    expect(() => new Tfgate(shared, 'Two', { config: CONFIG })).toThrow(
      /^tfgate: Platform\/Two and Platform\/One would both name .* tfgate-platform-…; give each Tfgate its own name/,
    );
    expect(() => new Tfgate(shared, 'Three', { config: CONFIG, name: 'Third' })).not.toThrow();
  });

  it('Lambda-compute plans in a region without CodeBuild Lambda compute, naming planCompute: ec2', () => {
    expect(() => new Tfgate(fresh('eu-south-2'), 'Gate', { config: CONFIG })).toThrow(
      /^tfgate: terraform.planCompute is lambda, but CodeBuild offers no Lambda compute in eu-south-2; set .*: ec2/,
    );
    expect(
      () =>
        new Tfgate(fresh('eu-south-2'), 'Gate', {
          config: { ...CONFIG, terraform: { version: '1.11.4', planCompute: 'ec2' } },
        }),
    ).not.toThrow();
  });
});

describe('alarms reach people', () => {
  it('lets CloudWatch and EventBridge publish to the TLS topic; each function has alarms and a destination', () => {
    const topicPolicy = Object.values(json.Resources).find((r) => r.Type === 'AWS::SNS::TopicPolicy')!;
    const statements = (topicPolicy.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument
      .Statement;
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
    for (const service of ['cloudwatch.amazonaws.com', 'events.amazonaws.com']) {
      const allow = statements.find((s) => JSON.stringify(s.Principal).includes(service))!;
      expect(allow).toMatchObject({ Effect: 'Allow', Action: 'sns:Publish' });
      expect(JSON.stringify(allow.Condition)).toContain('"aws:SourceAccount":"123456789012"');
    }
    const alarmed = Object.values(json.Resources)
      .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
      .filter((r) => (r.Properties as { MetricName?: string }).MetricName === 'Errors')
      .map((r) => JSON.stringify((r.Properties as { Dimensions: unknown }).Dimensions));
    const configs = Object.values(json.Resources).filter((r) => r.Type === 'AWS::Lambda::EventInvokeConfig');
    for (const fn of Object.values(gate.functions)) {
      const id = stack.getLogicalId(fn.node.defaultChild as never);
      expect(
        alarmed.some((dimensions) => dimensions.includes(`"${id}"`)),
        id,
      ).toBe(true);
      const config = configs.find((c) =>
        JSON.stringify((c.Properties as { FunctionName: unknown }).FunctionName).includes(`"${id}"`),
      );
      expect(JSON.stringify(config?.Properties), id).toContain('OnFailure');
    }
  });
});

describe('least reach', () => {
  const projectIds = new Set(
    gate.parts.builds.builds.map((build) => stack.getLogicalId(build.project.node.defaultChild as never)),
  );
  const everyStatement = Object.values(json.Resources)
    .filter((resource) => resource.Type === 'AWS::IAM::Policy')
    .flatMap(
      (policy) => (policy.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement,
    );

  it('names CodeBuild projects one by one: no prefix wildcard that another install (tfgate-x-prod-…) matches', () => {
    const onBuilds = everyStatement.filter((statement) => actions(statement).some((a) => a.startsWith('codebuild:')));
    expect(onBuilds.flatMap(actions)).toEqual(expect.arrayContaining(['codebuild:StartBuild', 'codebuild:StopBuild']));
    for (const statement of onBuilds) {
      const resources = [statement.Resource].flat() as unknown[];
      expect(resources).toHaveLength(projectIds.size);
      for (const resource of resources) {
        expect(JSON.stringify(resource)).not.toContain('*');
        expect(resource).toEqual({ 'Fn::GetAtt': [expect.any(String), 'Arn'] });
        expect(projectIds.has((resource as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0])).toBe(true);
      }
    }
  });
});

describe('the GitHub App private key', () => {
  const githubSecretId = stack.getLogicalId(gate.parts.secrets.github.node.defaultChild as never);
  const roleIdOf = (name: keyof typeof gate.functions) =>
    stack.getLogicalId(gate.parts.functions.roles[name].node.defaultChild as never);
  const readsGithubSecret = (name: keyof typeof gate.functions) =>
    statementsOf(roleIdOf(name)).some(
      (s) =>
        actions(s).includes('secretsmanager:GetSecretValue') && JSON.stringify(s.Resource).includes(githubSecretId),
    );
  const urls = Object.values(json.Resources)
    .filter((resource) => resource.Type === 'AWS::Lambda::Url')
    .map((resource) => JSON.stringify((resource.Properties as { TargetFunctionArn: unknown }).TargetFunctionArn));

  it('is read by no publicly reachable function; they invoke the token function, which has no URL', () => {
    const tokenFunctionId = stack.getLogicalId(gate.functions.githubToken.node.defaultChild as never);
    for (const name of Object.keys(gate.functions) as Array<keyof typeof gate.functions>) {
      const id = stack.getLogicalId(gate.functions[name].node.defaultChild as never);
      const isPublic = urls.some((url) => url.includes(`"${id}"`));
      expect(isPublic, name).toBe(name === 'webhook' || name === 'approvals');
      if (!isPublic) continue;
      expect(readsGithubSecret(name), name).toBe(false);
      const variables = (json.Resources[id]!.Properties as { Environment: { Variables: Record<string, unknown> } })
        .Environment.Variables;
      expect(variables.GITHUB_SECRET_ARN, name).toBeUndefined();
      expect(JSON.stringify(variables.GITHUB_MINTER_FUNCTION), name).toContain(tokenFunctionId);
      const invokes = statementsOf(roleIdOf(name)).filter((s) => actions(s).includes('lambda:InvokeFunction'));
      expect(JSON.stringify(invokes.map((s) => s.Resource)), name).toContain(tokenFunctionId);
    }
    expect(readsGithubSecret('githubToken')).toBe(true);
  });
});

describe("a build and another run's artifacts", () => {
  it('writes only new objects under its own environment and kind: never replaces another run’s tfplan or text', () => {
    for (const build of gate.parts.builds.builds) {
      const roleId = stack.getLogicalId(build.role.node.defaultChild as never);
      const artifactsId = stack.getLogicalId(gate.parts.storage.bucket.node.defaultChild as never);
      const writes = statementsOf(roleId).filter(
        (s) => actions(s).includes('s3:PutObject') && JSON.stringify(s.Resource).includes(artifactsId),
      );
      const label = `${build.environment.name} ${build.kind}`;
      const runWrites = writes.filter((s) => JSON.stringify(s.Resource).includes('/artifacts/runs/'));
      expect(runWrites, label).toHaveLength(1);
      expect(JSON.stringify(runWrites[0]!.Resource), label).toContain(
        `/artifacts/runs/*/${build.environment.name}/${build.kind}/*`,
      );
      expect(actions(runWrites[0]!), label).toEqual(['s3:PutObject']);
      expect(runWrites[0]!.Condition, label).toEqual({ StringEquals: { 's3:if-none-match': '*' } });
    }
  });
});

describe('timeouts at synth', () => {
  const fresh = () => {
    const scratch = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
    return new Stack(scratch, 'Platform', { env: { account: '123456789012', region: 'eu-west-1' } });
  };
  const warnings = (scope: Stack) =>
    Annotations.fromStack(scope)
      .findWarning('*', Match.anyValue())
      .map((w) => String(w.entry.data));

  it('a default configuration (Lambda-compute plans, timeouts.plan unset) has no timeout warning', () => {
    const scope = fresh();
    new Tfgate(scope, 'Gate', { config: CONFIG });
    expect(warnings(scope).filter((w) => w.includes('timeouts.'))).toEqual([]);
  });

  it('a plan timeout set past what Lambda compute allows still warns, once', () => {
    const scope = fresh();
    new Tfgate(scope, 'Gate', { config: { ...CONFIG, timeouts: { plan: '30m' } } });
    const timeoutWarnings = warnings(scope).filter((w) => w.includes('timeouts.'));
    expect(timeoutWarnings).toHaveLength(1);
    expect(timeoutWarnings[0]).toMatch(/timeouts\.plan of 30 minutes .* they stop after 15 minutes/);
  });

  it('refuses an over-budget configuration in one line (a SynthRefusal, which cdk synth prints alone)', () => {
    const long = {
      ...CONFIG,
      timeouts: { lockWait: '14d' },
      repositories: [
        {
          name: 'acme/infrastructure',
          environments: [{ name: 'ops', approval: { approvers: ['alice@example.com'], timeout: '14d' } }],
        },
      ],
    };
    let refusal: unknown;
    try {
      new Tfgate(fresh(), 'Gate', { config: long });
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(SynthRefusal);
    const message = (refusal as Error).message;
    expect(message).not.toContain('\n');
    expect(message).toMatch(/^tfgate: a run of acme\/infrastructure could take up to 2\d\.\d days, past .*timeouts$/);
  });
});
