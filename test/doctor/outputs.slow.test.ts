/**
 * The doctor reads what the construct writes (slow: CDK synth): every output it needs is in the
 * template, under tfgate's own stack and under a construct in a user's app (id in front, hash behind),
 * and DoctorFacts names exactly the build projects the template creates.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { Stack as CfnStack } from '@aws-sdk/client-cloudformation';
import { describe, expect, it, vi } from 'vitest';
import { Tfgate, type TfgateSettings } from '../../infra/index.js';
import { TfgateStack } from '../../infra/tfgate-stack.js';
import { BUILD_KINDS } from '../../src/domain/builds.js';
import { parseDoctorFacts } from '../../src/doctor/facts.js';
import { OUTPUT_NAMES, outputsByConstruct } from '../../src/doctor/stack.js';

vi.mock('aws-cdk-lib/aws-lambda-nodejs', async (original) =>
  (await import('../support/inline-functions.js')).withInlineFunctions(await original()),
);

const CONFIG: TfgateSettings = {
  repositories: [
    {
      name: 'acme/infrastructure',
      environments: [{ name: 'ops' }, { name: 'apps', approval: { approvers: ['@alice'], timeout: '24h' } }],
    },
  ],
  notifications: { slack: { webhookUrl: 'tfgate/slack' }, email: { from: 'tfgate@example.com' } },
  terraform: { version: '1.11.4' },
};

function fastApp(): App {
  return new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
}

/** The template's outputs as DescribeStacks would give them (tokens resolve to something at deploy). */
function describedOutputs(template: Template): CfnStack {
  const outputs = (template.toJSON().Outputs ?? {}) as Record<string, { Value: unknown }>;
  return {
    StackName: 'x',
    StackStatus: 'CREATE_COMPLETE',
    CreationTime: new Date(),
    Outputs: Object.entries(outputs).map(([key, output]) => ({
      OutputKey: key,
      OutputValue: typeof output.Value === 'string' ? output.Value : 'resolved-at-deploy',
    })),
  };
}

function projectNames(template: Template): string[] {
  return Object.values(template.findResources('AWS::CodeBuild::Project')).map(
    (project) => (project as { Properties: { Name: string } }).Properties.Name,
  );
}

describe('the outputs the doctor reads', () => {
  it("tfgate's own stack: every output, top level, facts matching its projects", () => {
    const stack = new TfgateStack(fastApp(), 'TfgateProd', {
      config: CONFIG,
      env: { account: '123456789012', region: 'eu-west-1' },
    });
    const template = Template.fromStack(stack);
    const groups = outputsByConstruct(describedOutputs(template));
    expect([...groups.keys()]).toEqual(['']);
    const outputs = groups.get('')!;
    for (const name of OUTPUT_NAMES) expect(outputs[name], name).toBeDefined();
    const facts = parseDoctorFacts(outputs.DoctorFacts!);
    expect(facts).toMatchObject({
      projectPrefix: 'tfgateprod',
      environments: ['ops', 'apps'],
      mailFrom: 'tfgate@example.com',
      githubSignIn: true,
      slack: true,
      planCompute: 'lambda',
    });
    const expected = facts.environments.flatMap((env) =>
      BUILD_KINDS.map((kind) => `${facts.projectPrefix}-${env}-${kind}`),
    );
    expect(projectNames(template).sort()).toEqual(expected.sort());
  });

  it("a construct in a user's app: found under its id, one group", () => {
    const stack = new Stack(fastApp(), 'Platform', { env: { account: '123456789012', region: 'eu-west-1' } });
    new Tfgate(stack, 'Gate', { config: CONFIG, name: 'gate' });
    const groups = outputsByConstruct(describedOutputs(Template.fromStack(stack)));
    expect([...groups.keys()]).toEqual(['Gate']);
    const outputs = groups.get('Gate')!;
    for (const name of OUTPUT_NAMES) expect(outputs[name], name).toBeDefined();
    expect(parseDoctorFacts(outputs.DoctorFacts!).projectPrefix).toBe('tfgate-gate');
  });
});
