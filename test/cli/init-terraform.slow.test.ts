import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configurationTf, STARTER_SETTINGS } from '../../src/local-mode/starter-repository.js';
import { runCli } from '../support/cli-process.js';
import { REAL_TERRAFORM, terraform } from '../support/real-terraform.js';

/**
 * What `tfgate init` writes, run by the real terraform (the double speaks no modules): init,
 * validate and plan in both workspaces; apps' base settings reach every environment, ops'
 * overrides only ops. Slow: some twenty terraform invocations.
 */

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'tfgate-init-tf-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe.skipIf(!REAL_TERRAFORM)('the template with the real terraform', () => {
  const workspaces = ['ops', 'apps'] as const;
  let dir: string;

  async function tf(args: string[], expectedCode = 0): Promise<string> {
    const result = await terraform(dir, args);
    expect(result.code, `terraform ${args.join(' ')}:\n${result.output}`).toBe(expectedCode);
    return result.output;
  }

  /** Plans a workspace; returns the plan text and whether it changes anything (exit 2). */
  async function plan(workspace: string): Promise<{ changes: boolean; text: string }> {
    await tf(['workspace', 'select', workspace]);
    const result = await terraform(dir, ['plan', '-no-color', '-input=false', '-detailed-exitcode']);
    expect([0, 2], result.output).toContain(result.code);
    return { changes: result.code === 2, text: result.output };
  }

  async function setSettings(settings: typeof STARTER_SETTINGS): Promise<void> {
    await writeFile(path.join(dir, 'config.tf'), configurationTf(settings));
  }

  beforeAll(async () => {
    dir = path.join(root, 'terraform');
    expect((await runCli(['init', dir, '--approver', 'alice@example.com'])).code).toBe(0);
    await tf(['init', '-no-color', '-input=false']);
    await tf(['validate', '-no-color']);
    for (const workspace of workspaces) {
      await tf(['workspace', 'new', workspace]);
      const first = await plan(workspace);
      expect(first.changes).toBe(true);
      expect(first.text).toContain('Plan: 2 to add, 0 to change, 0 to destroy.');
      await tf(['apply', '-no-color', '-input=false', '-auto-approve']);
    }
  });

  it('plans each workspace with the merged settings: ops inherits apps and overrides node_count', async () => {
    const settingsIn = async (workspace: string) => {
      await tf(['workspace', 'select', workspace]);
      return JSON.parse(await tf(['output', '-json', 'settings']));
    };
    const ops = await settingsIn('ops');
    const apps = await settingsIn('apps');
    expect(apps).toEqual(STARTER_SETTINGS.base);
    expect(ops).toEqual({ ...STARTER_SETTINGS.base, node_count: '1' });
    for (const workspace of workspaces) expect((await plan(workspace)).changes).toBe(false);
  });

  it("a change to a base key in apps shows up in both workspaces' plans", async () => {
    await setSettings({ ...STARTER_SETTINGS, base: { ...STARTER_SETTINGS.base, cluster_version: '1.31' } });
    try {
      for (const workspace of workspaces) {
        const result = await plan(workspace);
        expect(result.changes, workspace).toBe(true);
        expect(result.text).toMatch(/version\s+= "1\.30" -> "1\.31"/);
      }
    } finally {
      await setSettings(STARTER_SETTINGS);
    }
  });

  it('an override in ops shows up only in the ops plan', async () => {
    await setSettings({ ...STARTER_SETTINGS, ops: { ...STARTER_SETTINGS.ops, instance_type: 't3.large' } });
    try {
      const ops = await plan('ops');
      expect(ops.changes).toBe(true);
      expect(ops.text).toMatch(/instance_type\s+= "m5\.large" -> "t3\.large"/);
      expect((await plan('apps')).changes).toBe(false);
    } finally {
      await setSettings(STARTER_SETTINGS);
    }
  });

  it('refuses a workspace that is not an environment, naming the environments', async () => {
    await tf(['workspace', 'select', 'default']);
    const result = await terraform(dir, ['plan', '-no-color', '-input=false']);
    expect(result.code).toBe(1);
    expect(result.output.replace(/\s+/g, ' ')).toContain(
      '"default" is not an environment of the configuration (apps, ops)',
    );
  });
});
