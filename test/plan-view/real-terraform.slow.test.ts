import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planViewOfText, renderPlanViewText } from '../../src/domain/plan-view.js';
import { renderPlanViewHtml } from '../../src/web/plan-view-html.js';
import { runCli } from '../support/cli-process.js';
import { REAL_TERRAFORM } from '../support/real-terraform.js';
import { generatePlans, SECRETS, type GeneratedPlans } from './generate.js';

/**
 * Plans written just now by the real terraform on this machine (creates, updates, a destroy, a
 * replacement by triggers_replace, a local module with for_each, a moved block, sensitive values and
 * outputs, an errored and a refresh-only plan), read by the view and by `tfgate plan show` as a user runs it.
 */

let plans: GeneratedPlans;
let dir: string;

beforeAll(async () => {
  if (!REAL_TERRAFORM) return;
  plans = await generatePlans();
  dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-planshow-'));
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!REAL_TERRAFORM)('plan JSON from the real terraform', () => {
  it('the view names each kind of change and shows no sensitive value that terraform itself prints', () => {
    const view = planViewOfText(plans.mixed);
    expect(view.formatVersion).toMatch(/^1\.\d+$/);
    expect(view.problems).toEqual([]);
    expect(view.summary).toMatchObject({ create: 1, update: 4, delete: 1, replace: 1, moved: 1 });
    expect(view.resources.slice(0, 2).map((r) => [r.action, r.address])).toEqual([
      ['delete', 'terraform_data.retired[0]'],
      ['replace', 'terraform_data.rebuilt'],
    ]);
    expect(view.resources.map((r) => r.address)).toContain('module.box["b"].terraform_data.inner');
    const shown = [JSON.stringify(view), renderPlanViewText(view), renderPlanViewHtml(view)].join('\n');
    for (const secret of SECRETS) expect(shown).not.toContain(secret);
    // terraform's own text plan shows the unmarked echo (terraform_data's output); the view does not.
    expect(plans.mixedText).toContain(SECRETS[0]);
  });

  it('an errored plan and a refresh-only plan are read and said for what they are', () => {
    const errored = planViewOfText(plans.errored);
    expect(errored.errored).toBe(true);
    expect(errored.problems).toEqual([]);
    const refresh = planViewOfText(plans.refreshOnly);
    expect(refresh.refreshOnly).toBe(true);
    for (const view of [errored, refresh]) {
      const shown = JSON.stringify(view) + renderPlanViewText(view);
      for (const secret of SECRETS) expect(shown).not.toContain(secret);
    }
  });

  it('tfgate plan show prints the view, --json the counts and actions; both without secrets', async () => {
    const files: Record<string, string> = {};
    for (const [name, text] of Object.entries(plans)) {
      files[name] = path.join(dir, `${name}.json`);
      await writeFile(files[name]!, text);
    }
    const shown = await runCli(['plan', 'show', files.mixed!]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^Plan: 1 to create, 4 to update, 1 to replace, 1 to destroy, 1 moved\.\n/);
    expect(shown.stdout).toContain('-/+ terraform_data.rebuilt: REPLACED');
    expect(shown.stdout).toContain('terraform_data.renamed: moved from terraform_data.original');
    const json = await runCli(['plan', 'show', '--json', files.mixed!]);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout);
    expect(parsed.summary).toEqual({ create: 1, update: 4, delete: 1, replace: 1 });
    expect(parsed.resources).toContainEqual({ address: 'terraform_data.rebuilt', action: 'replace' });
    expect(parsed.resources).toContainEqual({ address: 'terraform_data.kept', action: 'no-op' });
    const errored = await runCli(['plan', 'show', files.errored!]);
    expect(errored.code).toBe(0);
    expect(errored.stdout).toMatch(/^ERRORED: /);
    for (const output of [shown.stdout, json.stdout, errored.stdout, shown.stderr])
      for (const secret of SECRETS) expect(output).not.toContain(secret);
    const notJson = await runCli(['plan', 'show', path.join(dir, 'missing.json')]);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toMatch(/^tfgate: cannot read /);
  });
});
