import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findOnPath, locateTerraform, TerraformNotFoundError } from '../../src/terraform-locator.js';

let root: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'tfgate-locator-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function executable(relative: string, mode = 0o755): Promise<string> {
  const file = path.join(root, relative);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, '#!/bin/sh\nexit 0\n');
  await chmod(file, mode);
  return file;
}

describe('locateTerraform', () => {
  it('takes the --terraform flag first', async () => {
    const flag = await executable('flag/terraform');
    const fromEnv = await executable('env/terraform');
    await executable('bin/terraform');
    const found = await locateTerraform({ flag, env: { TFGATE_TERRAFORM: fromEnv, PATH: path.join(root, 'bin') } });
    expect(found).toEqual({ path: flag, source: 'flag' });
  });

  it('takes TFGATE_TERRAFORM when there is no flag', async () => {
    const fromEnv = await executable('env/terraform');
    await executable('bin/terraform');
    expect(await locateTerraform({ env: { TFGATE_TERRAFORM: fromEnv, PATH: path.join(root, 'bin') } })).toEqual({
      path: fromEnv,
      source: 'env',
    });
  });

  it('resolves a relative flag against the given working directory', async () => {
    const file = await executable('tools/tf');
    expect((await locateTerraform({ flag: './tools/tf', cwd: root, env: {} })).path).toBe(file);
  });

  it('searches PATH for a bare name given as the flag', async () => {
    const tofu = await executable('bin/tofu');
    expect((await locateTerraform({ flag: 'tofu', env: { PATH: path.join(root, 'bin') } })).path).toBe(tofu);
  });

  it('prefers terraform on PATH over tofu, in PATH order', async () => {
    await executable('first/tofu');
    const terraform = await executable('second/terraform');
    const env = { PATH: [path.join(root, 'first'), path.join(root, 'second')].join(':') };
    expect(await locateTerraform({ env })).toEqual({ path: terraform, source: 'terraform-on-path' });
  });

  it('takes the first terraform in PATH order', async () => {
    const first = await executable('a/terraform');
    await executable('b/terraform');
    expect((await locateTerraform({ env: { PATH: `${path.join(root, 'a')}:${path.join(root, 'b')}` } })).path).toBe(
      first,
    );
  });

  it('falls back to tofu on PATH', async () => {
    const tofu = await executable('bin/tofu');
    expect(await locateTerraform({ env: { PATH: path.join(root, 'bin') } })).toEqual({
      path: tofu,
      source: 'tofu-on-path',
    });
  });

  it('skips files that are not executable, directories, and relative PATH entries', async () => {
    await executable('noexec/terraform', 0o644);
    await mkdir(path.join(root, 'dir/terraform'), { recursive: true });
    await executable('relative/terraform');
    const tofu = await executable('bin/tofu');
    const env = {
      PATH: [path.join(root, 'noexec'), path.join(root, 'dir'), 'relative', '', path.join(root, 'bin')].join(':'),
    };
    expect((await locateTerraform({ env, cwd: root })).path).toBe(tofu);
  });

  it('explains all four ways in one paragraph when nothing is found', async () => {
    const error = await locateTerraform({ env: { PATH: path.join(root, 'empty') } }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TerraformNotFoundError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    expect(message).toContain('--terraform');
    expect(message).toContain('TFGATE_TERRAFORM');
    expect(message).toMatch(/`terraform` executable on PATH/);
    expect(message).toMatch(/`tofu`.*on PATH/);
  });

  it('refuses a flag that names no executable instead of quietly using PATH', async () => {
    await executable('bin/terraform');
    const attempt = locateTerraform({ flag: path.join(root, 'missing'), env: { PATH: path.join(root, 'bin') } });
    await expect(attempt).rejects.toThrow(TerraformNotFoundError);
    await expect(attempt).rejects.toThrow(/--terraform names .*missing.*TFGATE_TERRAFORM/);
  });

  it('refuses a TFGATE_TERRAFORM that is not executable', async () => {
    const file = await executable('env/terraform', 0o644);
    await expect(locateTerraform({ env: { TFGATE_TERRAFORM: file } })).rejects.toThrow(/TFGATE_TERRAFORM names/);
  });
});

describe('findOnPath', () => {
  it('returns an absolute path or nothing', async () => {
    const git = await executable('bin/git');
    expect(await findOnPath('git', { PATH: `.:${path.join(root, 'bin')}` })).toBe(git);
    expect(await findOnPath('nothing-by-this-name', { PATH: path.join(root, 'bin') })).toBeUndefined();
  });
});
