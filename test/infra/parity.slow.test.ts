import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definitionFor } from '../../infra/state-machine.js';
import { DEFINITION_FILE } from '../../src/local-mode/runtime.js';
import {
  decideThroughPage,
  nextApproval,
  pushChange,
  startTestStack,
  terraformFiles,
  waitForRun,
  type TestStack,
} from '../support/local-stack.js';
import { synthesizeSample } from './synth.js';
import type { TfgateConfig } from '../../src/config/load.js';
import { withRefusalWait } from '../../src/config/start-build-refusals.js';

/**
 * Parity: the definition the CDK stack deploys, taken from the synthesized template with its
 * substitutions filled by the local engine, runs a full push → approval → apply flow.
 */

let deployedDefinition: string;
let sampleConfig: TfgateConfig;
let substitutionKeys: string[];
let stack: TestStack | undefined;

beforeAll(async () => {
  const { template, source } = await synthesizeSample();
  sampleConfig = source.config;
  const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine')) as Array<{
    Properties: { DefinitionString: unknown; DefinitionSubstitutions: Record<string, unknown> };
  }>;
  expect(machines).toHaveLength(1);
  const { DefinitionString, DefinitionSubstitutions } = machines[0]!.Properties;
  expect(typeof DefinitionString).toBe('string');
  deployedDefinition = DefinitionString as string;
  substitutionKeys = Object.keys(DefinitionSubstitutions).sort();
}, 900_000);

afterAll(async () => {
  await stack?.cleanup();
});

function placeholders(definition: string): string[] {
  return [...new Set([...definition.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]!))].sort();
}

describe('the deployed definition runs locally', () => {
  it('is the statemachine file as tfgate local runs it, with the placeholders the stack substitutes', async () => {
    // The changes synth makes to the file: a Lambda-compute plan (the sample's) is started without the
    // timeout overrides CodeBuild does not take on Lambda compute (infra/state-machine.ts, definitionFor), and
    // the configuration's wait for a refused StartBuild, which tfgate local applies as well.
    const file = await readFile(DEFINITION_FILE, 'utf8');
    const lambdaCompute = { terraform: { planCompute: 'lambda' } } as Parameters<typeof definitionFor>[0];
    const expected = withRefusalWait(definitionFor(lambdaCompute, file), sampleConfig);
    expect(JSON.parse(deployedDefinition)).toEqual(JSON.parse(expected));
    expect(JSON.parse(expected).States.Plan.Parameters).not.toHaveProperty('TimeoutInMinutesOverride.$');
    expect(placeholders(deployedDefinition)).toEqual(substitutionKeys);
    expect(substitutionKeys).toEqual(['BuildProjectPrefix', 'NotifierFunctionArn', 'PipelineFunctionArn']);
  });

  it('takes a push through ops, an approval and apps on the local engine', async () => {
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'tfgate-parity-')), 'deployed.asl.json');
    await writeFile(file, deployedDefinition);
    stack = await startTestStack({ definitionFile: file });
    const approval = nextApproval(stack);
    await pushChange(stack, terraformFiles({ network: 'net' }));
    const request = await approval;
    expect((await decideThroughPage(request.url, 'approve')).status).toBe(200);
    const run = await waitForRun(stack, request.run.id);
    expect(run.status).toBe('succeeded');
    expect(run.stages.map((s) => [s.environment, s.status])).toEqual([
      ['ops', 'applied'],
      ['apps', 'applied'],
    ]);
  });
});
