/**
 * Every StartBuild the state machine makes, as CodeBuild receives it: the Plan and Apply states'
 * Parameters resolved against a real execution input, per compute type, sent through the SDK (mocked)
 * and held against StartBuild's documented constraints. Lambda compute takes no build timeout at all
 * (CDK refuses the project setting; terraform-provider-aws #34376, #35043), so no plan on it may send one.
 */
import { readFileSync } from 'node:fs';
import { CodeBuildClient, StartBuildCommand, type StartBuildCommandInput } from '@aws-sdk/client-codebuild';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { loadStackConfig } from '../../infra/config.js';
import { DEFINITION_FILE, definitionFor } from '../../infra/state-machine.js';
import { pipelineInputFor } from '../../src/application/intake.js';
import type { TfgateConfig } from '../../src/config/load.js';
import type { Run } from '../../src/domain/run.js';
import { assertDocumentedRequests } from '../doctor/aws-constraints.js';
import { SAMPLE_CONFIG } from './synth.js';

const PREFIX = 'tfgate-sample';

/** Resolves `Key.$` entries: a JSONPath into the input or context, or States.Format over such paths. */
function resolve(value: unknown, input: unknown, context: unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => resolve(item, input, context));
  if (!value || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (!key.endsWith('.$')) {
      out[key] = resolve(inner, input, context);
      continue;
    }
    out[key.slice(0, -2)] = evaluate(String(inner), input, context);
  }
  return out;
}

function evaluate(expression: string, input: unknown, context: unknown): unknown {
  const format = /^States\.Format\('([^']*)'((?:,\s*[$.\w]+)*)\)$/.exec(expression);
  if (format) {
    const args = format[2]!
      .split(',')
      .map((arg) => arg.trim())
      .filter(Boolean)
      .map((arg) => String(evaluate(arg, input, context)));
    let index = 0;
    return format[1]!.replace(/\{\}/g, () => args[index++]!);
  }
  const [root, ...parts] = expression.startsWith('$$.')
    ? ['$$', ...expression.slice(3).split('.')]
    : expression.split('.');
  let current: unknown = root === '$$' ? context : input;
  for (const part of parts) current = (current as Record<string, unknown> | undefined)?.[part];
  if (current === undefined) throw new Error(`${expression} resolves to nothing`);
  return current;
}

/** Step Functions' CodeBuild integration names the API's fields in PascalCase. */
function asApiInput(parameters: Record<string, unknown>): StartBuildCommandInput {
  const camel = (name: string) => name[0]!.toLowerCase() + name.slice(1);
  const variables = (parameters.EnvironmentVariablesOverride as Array<Record<string, unknown>>).map((v) => ({
    name: String(v.Name),
    value: String(v.Value),
    type: String(v.Type) as 'PLAINTEXT',
  }));
  const input: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parameters)) {
    input[camel(key)] = key === 'EnvironmentVariablesOverride' ? variables : value;
  }
  return input as unknown as StartBuildCommandInput;
}

function startBuilds(planCompute: 'lambda' | 'ec2') {
  const source = loadStackConfig(SAMPLE_CONFIG).config;
  const config: TfgateConfig = { ...source, terraform: { ...source.terraform, planCompute } };
  const definition = JSON.parse(
    definitionFor(config, readFileSync(DEFINITION_FILE, 'utf8')).replaceAll(
      ['$', '{BuildProjectPrefix}'].join(''),
      PREFIX,
    ),
  ) as { States: Record<string, { Parameters: Record<string, unknown> }> };
  const repository = config.repositories[0]!;
  const run = { id: 'run-01J0ABCDEF', mode: 'deploy', repository: repository.name, sha: 'a'.repeat(40), sequence: 4 };
  const input = pipelineInputFor(run as Run, repository, config);
  const execution = { Execution: { Name: 'gh-6f1c2a90-1111-2222-3333-444455556666' } };
  const stage = { ...input, current: { environment: input.environments[0] }, source: { sha256: 'b'.repeat(64) } };
  return {
    plan: asApiInput(resolve(definition.States.Plan!.Parameters, stage, execution) as Record<string, unknown>),
    apply: asApiInput(
      resolve(
        definition.States.Apply!.Parameters,
        { ...stage, plan: { planSha256: 'c'.repeat(64) }, lock: { holder: { fence: 2 } } },
        execution,
      ) as Record<string, unknown>,
    ),
  };
}

describe('StartBuild as the state machine sends it', () => {
  it.each(['lambda', 'ec2'] as const)('is accepted as documented with planCompute: %s', async (planCompute) => {
    const codeBuild = mockClient(CodeBuildClient);
    codeBuild.on(StartBuildCommand).resolves({ build: { id: 'b:1' } });
    const client = new CodeBuildClient({ region: 'eu-west-1' });
    const { plan, apply } = startBuilds(planCompute);
    await client.send(new StartBuildCommand(plan));
    await client.send(new StartBuildCommand(apply));
    const calls = codeBuild.commandCalls(StartBuildCommand).map((call) => ({
      command: 'StartBuildCommand',
      input: call.args[0].input as unknown as Record<string, unknown>,
    }));
    const planProject = String(plan.projectName);
    assertDocumentedRequests(calls, { lambdaProjects: new Set(planCompute === 'lambda' ? [planProject] : []) });
    if (planCompute === 'lambda') {
      expect(plan.timeoutInMinutesOverride).toBeUndefined();
      expect(plan.queuedTimeoutInMinutesOverride).toBeUndefined();
    } else {
      expect(plan.timeoutInMinutesOverride).toBeGreaterThanOrEqual(5);
    }
    // Applies always run on EC2 compute, with CodeBuild's own limits.
    expect(apply.timeoutInMinutesOverride).toBeGreaterThanOrEqual(5);
    expect(plan.projectName).toMatch(new RegExp(`^${PREFIX}-[a-z0-9_-]+-plan$`));
    expect(plan.environmentVariablesOverride?.find((v) => v.name === 'TFGATE_ENVIRONMENTS')?.value).toBe(
      loadStackConfig(SAMPLE_CONFIG)
        .config.repositories[0]!.environments.map((environment) => environment.name)
        .join(','),
    );
    codeBuild.restore();
  });
});
