import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { Run, Stage } from '../../src/domain/run.js';
import {
  configYaml,
  decideThroughPage,
  nextApproval,
  pushChange,
  runForSha,
  startTestStack,
  statePath,
  TERRAFORM_DOUBLE,
  terraformFiles,
  waitForRun,
  type TestStack,
} from '../support/local-stack.js';

const exec = promisify(execFile);

let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.cleanup();
  stack = undefined;
});

function applyWindow(stage: Stage): { start: number; end: number } {
  const start = stage.transitions.find((t) => t.status === 'applying');
  const end = stage.transitions.find((t) => t.status === 'applied');
  if (!start || !end) throw new Error(`stage ${stage.environment} was not applied: ${stage.status}`);
  return { start: Date.parse(start.at), end: Date.parse(end.at) };
}

describe('concurrent pushes', () => {
  it('two pushes in quick succession both complete, applied in push order, never interleaved', async () => {
    // apps without approval here, so the second push does not supersede the first (that is the approvals' own test).
    stack = await startTestStack({
      config: configYaml({ approval: false }),
      buildEnv: { TFGATE_DOUBLE_DELAY_MS: '300' },
    });
    const firstSha = await pushChange(stack, terraformFiles({ network: 'net-a' }), { message: 'first' });
    const secondSha = await pushChange(stack, terraformFiles({ network: 'net-b', cluster: 'k8s' }), {
      message: 'second',
    });
    const first = await waitForRun(stack, (await runForSha(stack, firstSha)).id, 120_000);
    const second = await waitForRun(stack, (await runForSha(stack, secondSha)).id, 120_000);
    expect([first.status, second.status]).toEqual(['succeeded', 'succeeded']);
    expect(first.sequence).toBeLessThan(second.sequence);

    for (const environment of ['ops', 'apps']) {
      const a = applyWindow(first.stages.find((s) => s.environment === environment)!);
      const b = applyWindow(second.stages.find((s) => s.environment === environment)!);
      // The first push's apply ends before the second's begins: push order, no interleaving.
      expect(a.end).toBeLessThanOrEqual(b.start);
      const state = JSON.parse(await readFile(statePath(stack, environment), 'utf8')) as {
        resources: Array<{ name: string; instances: Array<{ attributes: { input: { value: string } } }> }>;
      };
      const network = state.resources.find((r) => r.name === 'network');
      expect(network?.instances[0]?.attributes.input.value).toBe(`net-b-${environment}`);
    }
    expect(await stack.stores.locks.listHeld()).toEqual([]);
  });
});

describe('stale plans', () => {
  it(
    "an apply whose plan was made stale by another apply fails with terraform's message, and " + 'nothing is lost',
    async () => {
      stack = await startTestStack();
      const approval = nextApproval(stack);
      await pushChange(stack, terraformFiles({ network: 'net' }));
      const request = await approval;

      // Someone applies to the apps state outside tfgate while the plan waits for approval.
      const outside = await mkdtemp(path.join(os.tmpdir(), 'tfgate-outside-'));
      try {
        const stateDir = path.dirname(path.dirname(path.dirname(statePath(stack, 'apps'))));
        await writeFile(
          path.join(outside, 'main.tf'),
          'resource "terraform_data" "hotfix" {\n  input = "by hand"\n}\n',
        );
        await writeFile(
          path.join(outside, 'backend_override.tf'),
          `terraform {\n  backend "local" {\n    path = ` +
            `${JSON.stringify(path.join(stateDir, 'terraform.tfstate'))}\n    workspace_dir = ` +
            `${JSON.stringify(path.join(stateDir, 'terraform.tfstate.d'))}\n  }\n}\n`,
        );
        const tf = (...args: string[]) =>
          exec(TERRAFORM_DOUBLE, args, { cwd: outside, env: { ...process.env, TF_IN_AUTOMATION: '1' } });
        await tf('init', '-input=false', '-no-color');
        await tf('workspace', 'select', '-or-create', '-no-color', 'apps');
        await tf('plan', '-input=false', '-no-color', '-out=hotfix.tfplan');
        await tf('apply', '-input=false', '-no-color', 'hotfix.tfplan');
      } finally {
        await rm(outside, { recursive: true, force: true });
      }

      expect((await decideThroughPage(request.url, 'approve')).status).toBe(200);
      const run: Run = await waitForRun(stack, request.run.id);
      expect(run.status).toBe('failed');
      expect(run.stages[1]!.status).toBe('failed');
      expect(run.error).toContain('Saved plan is stale');
      // Nothing lost: the outside change is still in the apps state, and no lock is left behind.
      const state = JSON.parse(await readFile(statePath(stack, 'apps'), 'utf8')) as {
        resources: Array<{ name: string }>;
      };
      expect(state.resources.map((r) => r.name)).toEqual(['hotfix']);
      expect(await stack.stores.locks.listHeld()).toEqual([]);
    },
  );
});
