import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { CliError } from '../../bin/commands/client.js';
import { runInit } from '../../bin/commands/init.js';
import { runCli } from '../support/cli-process.js';

/**
 * `tfgate init`: what it writes, and that it never overwrites without --force (terraform runs it in
 * init-terraform.slow.test.ts).
 */

const WRITTEN = ['main.tf', 'config.tf', 'modules/configuration/main.tf', '.gitignore', 'README.md', 'tfgate.yaml'];

let root: string;
beforeAll(async () => {
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  root = await mkdtemp(path.join(os.tmpdir(), 'tfgate-init-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('tfgate init', () => {
  it('writes the Terraform root and a tfgate.yaml that names ops, apps and an approver', async () => {
    const dir = path.join(root, 'fresh');
    const result = await runCli(['init', dir, '--repository', 'acme/platform', '--approver', 'alice@example.com']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    for (const file of WRITTEN) expect(result.stdout).toContain(file);

    const config = loadConfigFile(path.join(dir, 'tfgate.yaml'));
    const repository = config.repositories[0]!;
    expect(repository.name).toBe('acme/platform');
    expect(repository.environments.map((env) => env.name)).toEqual(['ops', 'apps']);
    expect(repository.environments[1]!.approval?.approvers).toEqual(['alice@example.com']);
    expect(await readFile(path.join(dir, 'config.tf'), 'utf8')).toContain('node_count');
  });

  it(
    'refuses to overwrite existing files without --force, leaving them untouched, and overwrites ' + 'with it',
    async () => {
      const dir = path.join(root, 'existing');
      await runInit(dir, { approver: 'alice@example.com' });
      await writeFile(path.join(dir, 'main.tf'), '# mine\n');

      const refused = await runInit(dir, { approver: 'bob@example.com' }).catch((error: CliError) => error);
      expect(refused).toBeInstanceOf(CliError);
      expect((refused as CliError).exitCode).toBe(1);
      expect((refused as CliError).message).toContain('main.tf');
      expect((refused as CliError).message).toContain('--force');
      expect(await readFile(path.join(dir, 'main.tf'), 'utf8')).toBe('# mine\n');
      expect(await readFile(path.join(dir, 'tfgate.yaml'), 'utf8')).toContain('alice@example.com');

      await runInit(dir, { force: true, approver: 'bob@example.com' });
      expect(await readFile(path.join(dir, 'main.tf'), 'utf8')).toContain('module "settings"');
      expect(await readFile(path.join(dir, 'tfgate.yaml'), 'utf8')).toContain('bob@example.com');
    },
  );

  it('refuses a target that is a file', async () => {
    const file = path.join(root, 'a-file');
    await writeFile(file, 'not a directory\n');
    await expect(runInit(file, { approver: 'alice@example.com' })).rejects.toThrow('is a file, not a directory');
  });

  it('refuses an approver that is not an email address, writing nothing', async () => {
    const dir = path.join(root, 'bad-approver');
    const result = await runCli(['init', dir, '--approver', 'not an email']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--approver must be an email address');
    await runInit(dir, { approver: 'alice@example.com' });
  });
});
