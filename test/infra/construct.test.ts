/**
 * The Tfgate construct from source, as a user's CDK app composes it: props in, what it exposes out.
 * Nothing is bundled, so the file stays fast: the runner asset's bundling is skipped (the
 * `aws:cdk:bundling-stacks` context) and each NodejsFunction gets inline code instead of having the
 * repository fingerprinted. The bundled synth is in stack.slow.test.ts, the installed package's in
 * test/cli/package-construct.slow.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../../src/config/load.js';
import { Tfgate, type TfgateProps, type TfgateSettings } from '../../infra/index.js';
import { TfgateStack } from '../../infra/tfgate-stack.js';
import { esbuildOptionsOf } from '../../infra/function-bundles.js';
import { FUNCTION_BUNDLING } from '../../infra/functions.js';
import { SAMPLE_CONFIG } from './synth.js';

vi.mock('aws-cdk-lib/aws-lambda-nodejs', async (original) =>
  (await import('../support/inline-functions.js')).withInlineFunctions(await original()),
);

/**
 * No bundling, and without CDK's built-in CloudFormation validation of the template (most of a first
 * synth's time); the bundled, validated, cdk-nag-checked synth is in the slow files.
 */
function fastApp(): App {
  return new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
}

const scratch = mkdtempSync(path.join(tmpdir(), 'tfgate-construct-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const MINIMAL: TfgateSettings = {
  terraform: { version: '1.11.4' },
  repositories: [
    {
      name: 'acme/infrastructure',
      environments: [{ name: 'ops' }, { name: 'apps', approval: { approvers: ['alice@example.com'], timeout: '24h' } }],
    },
  ],
};

function userApp(props: TfgateProps, stackName = 'Platform') {
  const app = fastApp();
  const stack = new Stack(app, stackName, { env: { account: '123456789012', region: 'eu-west-1' } });
  const gate = new Tfgate(stack, 'Gate', props);
  return { app, stack, gate, template: () => Template.fromStack(stack) };
}

describe("the Tfgate construct in a user's stack", () => {
  it('builds the state machine, tables, functions and build projects from a configuration object', () => {
    const { gate, stack, template } = userApp({ config: MINIMAL });
    const t = template();
    t.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    t.resourceCountIs('AWS::DynamoDB::Table', 4);
    t.resourceCountIs('AWS::Lambda::Url', 3);
    // ops and apps, each with plan, apply and pull-request plan projects.
    t.resourceCountIs('AWS::CodeBuild::Project', 6);
    // The stand-in for bundling is in place (else the repository is fingerprinted, which is what makes this slow).
    t.hasResourceProperties('AWS::Lambda::Function', { Code: { ZipFile: 'export const handler = async () => {};' } });
    expect(Object.keys(gate.functions).sort()).toEqual([
      'approvals',
      'githubToken',
      'notifier',
      'pipeline',
      'reconciler',
      'webhook',
    ]);
    expect(Object.keys(gate.tables).sort()).toEqual(['approvals', 'deliveries', 'locks', 'runs']);
    expect(gate.config.repositories[0]).toMatchObject({ name: 'acme/infrastructure', branch: 'main', directory: '.' });
    expect(gate.config.repositories[0]!.environments[1]!.approval).toEqual({
      approvers: ['alice@example.com'],
      required: 1,
      timeoutSeconds: 86400,
      allowSelfApproval: false,
    });
    // Named after the user's stack, so two stacks never share build project or state machine names.
    expect(gate.projectPrefix).toBe('tfgate-platform');
    t.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: 'tfgate-platform-pipeline' });

    // What it exposes resolves to the resources in the template, for the user's own alarms and wiring.
    const logicalIdOf = (construct: Parameters<Stack['getLogicalId']>[0]) => stack.getLogicalId(construct);
    expect(stack.resolve(gate.stateMachine.stateMachineArn)).toEqual({
      Ref: logicalIdOf(gate.stateMachine.node.defaultChild as never),
    });
    expect(stack.resolve(gate.alarmTopic.topicArn)).toEqual({
      Ref: logicalIdOf(gate.alarmTopic.node.defaultChild as never),
    });
    expect(stack.resolve(gate.tables.runs.tableName)).toEqual({
      Ref: logicalIdOf(gate.tables.runs.node.defaultChild as never),
    });
    const webhookUrl = JSON.stringify(stack.resolve(gate.webhookUrl));
    expect(webhookUrl).toContain(
      logicalIdOf(gate.functions.webhook.node.findChild('FunctionUrl').node.defaultChild as never),
    );
    expect(webhookUrl).toMatch(/webhook"\]\]\}$/);
    expect(JSON.stringify(stack.resolve(gate.webUrl))).toContain(
      logicalIdOf(gate.functions.approvals.node.findChild('FunctionUrl').node.defaultChild as never),
    );
  });

  it('hands people: to the functions, and lets the approvals function queue sign-in links to itself', () => {
    const { gate, stack, template } = userApp({
      config: { ...MINIMAL, people: [{ github: 'Alice', emails: ['Alice@Example.com'] }] },
    });
    expect(gate.config.people).toEqual([{ github: 'alice', emails: ['alice@example.com'] }]);
    expect(JSON.parse(gate.configDocument).people).toEqual([{ github: 'alice', emails: ['alice@example.com'] }]);
    const t = template();
    const approvals = stack.getLogicalId(gate.functions.approvals.node.defaultChild as never);
    // Its own policy (not the role's default one, which the function depends on: that would be a cycle).
    t.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          { Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: { 'Fn::GetAtt': [approvals, 'Arn'] } },
        ],
      },
    });
    // A link lives 15 minutes: no retry that could mail it twice, no event kept longer than the link.
    t.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: approvals },
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 900,
    });
  });

  it('adds outputs for the URLs, topic and secrets unless told not to', () => {
    const outputs = Object.keys(userApp({ config: MINIMAL }).template().toJSON().Outputs ?? {});
    for (const name of [
      'WebhookUrl',
      'ApprovalsUrl',
      'AlarmTopicArn',
      'StateMachineArn',
      'WebhookSecretName',
      'SignInSecretName',
    ]) {
      expect(
        outputs.some((output) => output.startsWith(`Gate${name}`)),
        name,
      ).toBe(true);
    }
    expect(userApp({ config: MINIMAL, outputs: false }).template().toJSON().Outputs).toBeUndefined();
  });

  it('takes a name for its build projects and state machine, and reserves concurrency only when asked', () => {
    const named = userApp({ config: MINIMAL, name: 'Second' });
    expect(named.gate.projectPrefix).toBe('tfgate-second');
    const reserved = (props: TfgateProps) =>
      Object.values(userApp(props).template().findResources('AWS::Lambda::Function')).filter(
        (fn) => (fn as { Properties: Record<string, unknown> }).Properties.ReservedConcurrentExecutions !== undefined,
      ).length;
    expect(reserved({ config: MINIMAL })).toBe(0);
    expect(reserved({ config: MINIMAL, reserveConcurrency: true })).toBe(7);
  });

  it('gives the functions the same CONFIG from a tfgate.yaml path as from the same content as an object', () => {
    const fromFile = userApp({ config: SAMPLE_CONFIG }).gate;
    const fromObject = userApp({ config: parseYaml(readFileSync(SAMPLE_CONFIG, 'utf8')) as TfgateSettings }).gate;
    expect(fromObject.configDocument).toBe(fromFile.configDocument);
    const config = (gate: Tfgate) => Template.fromStack(Stack.of(gate)).findResources('AWS::Lambda::Function');
    const environments = (gate: Tfgate) =>
      Object.values(config(gate)).map(
        (fn) =>
          (fn as { Properties: { Environment: { Variables: { CONFIG?: string } } } }).Properties.Environment.Variables
            .CONFIG,
      );
    expect(new Set(environments(fromFile))).toEqual(new Set([fromFile.configDocument]));
  });
});

describe('a bad configuration', () => {
  const OPEN_GATE =
    'repositories:\n  - name: acme/a\n    environments:\n      - name: ops\n      - name: apps\n        ' +
    'approval:\n          timeout: 24h\n';

  function errorOf(props: TfgateProps): ConfigError {
    try {
      userApp(props);
    } catch (error) {
      if (error instanceof ConfigError) return error;
      throw error;
    }
    throw new Error('no ConfigError');
  }

  it('as a file: the same FILE:LINE:COLUMN error as cdk synth here', () => {
    const file = path.join(scratch, 'open-gate.yaml');
    writeFileSync(file, OPEN_GATE);
    expect(errorOf({ config: file }).message).toBe(
      `${file}:6:9: repositories.0.environments.1.approval.approvers: a gate needs at least one approver (a ` +
        `GitHub login @alice, a team @acme/platform or an email address); an approval without approvers would let ` +
        `anyone approve`,
    );
  });

  it('as an object: the same rule, naming the path of the key', () => {
    const error = errorOf({ config: parseYaml(OPEN_GATE) as TfgateSettings });
    expect(error.message).toBe(
      'config: repositories.0.environments.1.approval.approvers: a gate needs at least one approver (a GitHub ' +
        'login @alice, a team @acme/platform or an email address); an approval without approvers would let anyone ' +
        'approve',
    );
    const several = errorOf({
      config: {
        repositories: [{ name: 'not a repo', environments: [{ name: 'Ops' }] }],
        extra: true,
      } as unknown as TfgateSettings,
    });
    expect(several.problems.map((problem) => problem.message)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^repositories\.0\.name: /),
        expect.stringMatching(/^repositories\.0\.environments\.0\.name: /),
        'top level: unknown key "extra"',
      ]),
    );
  });

  it('as neither a path nor an object: a clear error', () => {
    expect(() => userApp({ config: 42 as unknown as string })).toThrow(
      /config must be a tfgate\.yaml path or an object with its keys, not 42/,
    );
  });

  it('creates nothing: the error comes before any resource', () => {
    const app = fastApp();
    const stack = new Stack(app, 'Platform');
    expect(() => new Tfgate(stack, 'Gate', { config: { repositories: [] } })).toThrow(ConfigError);
    expect(
      stack.node
        .findAll()
        .filter((construct) => construct !== stack && construct.node.path.startsWith('Platform/Gate/')),
    ).toEqual([]);
  });
});

describe('TfgateStack, the thin stack this repository deploys', () => {
  it('wraps one Tfgate without changing the logical IDs of its resources and outputs', () => {
    const app = fastApp();
    const stack = new TfgateStack(app, 'Tfgate', {
      config: MINIMAL,
      env: { account: '123456789012', region: 'eu-west-1' },
    });
    const t = Template.fromStack(stack).toJSON() as {
      Resources: Record<string, unknown>;
      Outputs: Record<string, unknown>;
    };
    expect(Object.keys(t.Outputs)).toEqual(
      expect.arrayContaining(['WebhookUrl', 'ApprovalsUrl', 'AlarmTopicArn', 'StateMachineArn']),
    );
    expect(stack.resolve(stack.tfgate.stateMachine.stateMachineArn)).toEqual({
      Ref: expect.stringMatching(/^PipelineStateMachine[0-9A-F]{8}$/),
    });
    expect(Object.keys(t.Resources).some((id) => id.startsWith('Default'))).toBe(false);
    expect(stack.projectPrefix).toBe('tfgate');
    expect(stack.functions).toBe(stack.tfgate.parts.functions);
  });
});

describe('the prebuilt bundles the package ships', () => {
  it('are built with the options NodejsFunction gets here, and a new option cannot be silently dropped', () => {
    expect(esbuildOptionsOf(FUNCTION_BUNDLING)).toMatchObject({
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: FUNCTION_BUNDLING.target,
      minify: FUNCTION_BUNDLING.minify,
      external: [...FUNCTION_BUNDLING.externalModules],
      mainFields: [...FUNCTION_BUNDLING.mainFields],
      banner: { js: FUNCTION_BUNDLING.banner },
    });
    expect(() => esbuildOptionsOf({ ...FUNCTION_BUNDLING, keepNames: true } as typeof FUNCTION_BUNDLING)).toThrow(
      /translate the bundling option\(s\) keepNames/,
    );
  });
});
