import { readFile, readdir, writeFile, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFINITION_FILE } from '../../src/local-mode/runtime.js';
import {
  pushChange,
  runForSha,
  startTestStack,
  terraformFiles,
  waitForRun,
  type TestStack,
} from '../support/local-stack.js';

/**
 * The local engine executes statemachine/pipeline.asl.json itself: change the file and the
 * behaviour changes. Nothing else in the code base orchestrates a run.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.cleanup();
  stack = undefined;
});

async function editedDefinition(
  edit: (definition: { States: Record<string, Record<string, unknown>> }) => void,
): Promise<string> {
  const definition = JSON.parse(await readFile(DEFINITION_FILE, 'utf8'));
  edit(definition);
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'tfgate-asl-')), 'pipeline.asl.json');
  await writeFile(file, JSON.stringify(definition));
  return file;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => path.join(e.parentPath, e.name));
}

describe('the local engine runs the definition file', () => {
  it('uses statemachine/pipeline.asl.json by default', () => {
    expect(path.relative(ROOT, DEFINITION_FILE)).toBe(path.join('statemachine', 'pipeline.asl.json'));
  });

  it('follows an edited Choice: routing "approve" straight to Apply skips the approval', async () => {
    const file = await editedDefinition((definition) => {
      const choices = definition.States.RouteAfterPlan!.Choices as Array<{
        Variable: string;
        StringEquals: string;
        Next: string;
      }>;
      choices.find((c) => c.StringEquals === 'approve')!.Next = 'Apply';
      // Keeps AwaitApproval reachable, as the validator requires, through a value never returned.
      choices.push({ Variable: '$.plan.next', StringEquals: 'never', Next: 'AwaitApproval' });
    });
    stack = await startTestStack({ definitionFile: file });
    let approvalsAsked = 0;
    stack.runs.events.on('approval', () => (approvalsAsked += 1));
    const sha = await pushChange(stack, terraformFiles({ network: 'net' }));
    const run = await waitForRun(stack, (await runForSha(stack, sha)).id);
    expect(run.status).toBe('succeeded');
    expect(run.stages.map((s) => s.status)).toEqual(['applied', 'applied']);
    expect(approvalsAsked).toBe(0);
  });

  it('follows an edited start: a Fail state first fails every run with its error', async () => {
    const file = await editedDefinition((definition) => {
      definition.States.Start = {
        Type: 'Fail',
        Error: 'tfgate.EditedDefinition',
        Cause: 'the test edited the definition',
      };
    });
    stack = await startTestStack({ definitionFile: file });
    const sha = await pushChange(stack, terraformFiles({ network: 'net' }));
    const run = await waitForRun(stack, (await runForSha(stack, sha)).id);
    expect(run.status).toBe('failed');
    expect(run.error).toContain('tfgate.EditedDefinition');
    expect(await stack.stores.locks.listHeld()).toEqual([]);
  });

  it('has no second orchestration path: only the engine loads the state machine library', async () => {
    const files = [
      ...(await sourceFiles(path.join(ROOT, 'lambdas'))),
      ...(await sourceFiles(path.join(ROOT, 'src'))),
      ...(await sourceFiles(path.join(ROOT, 'bin'))),
    ];
    const importers: string[] = [];
    for (const file of files) {
      if (/from 'aws-local-stepfunctions'/.test(await readFile(file, 'utf8')))
        importers.push(path.relative(ROOT, file));
    }
    expect(importers).toEqual([path.join('src', 'local-mode', 'engine.ts')]);
  });
});
