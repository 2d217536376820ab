import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { runCli } from '../support/cli-process.js';

/** `tfgate init` as a script runs it (no terminal): never a guessed approver; the terraform it found pinned. */

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'tfgate-init-cli-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('tfgate init without a terminal', () => {
  it('without --approver and without a terminal exits 2 naming --approver, and writes nothing', async () => {
    const dir = path.join(root, 'no-approver');
    // runCli gives the child no terminal (stdin ignored, output piped), as CI and scripts do.
    const result = await runCli(['init', dir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('tfgate init needs --approver');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    await expect(readFile(path.join(dir, 'tfgate.yaml'), 'utf8')).rejects.toThrow();
  });

  it('writes terraform.version as the version of the terraform it found', async () => {
    const dir = path.join(root, 'versioned');
    const bin = path.join(root, 'bin');
    await mkdir(bin, { recursive: true });
    await writeFile(path.join(bin, 'terraform'), '#!/bin/sh\necho "Terraform v1.10.3"\necho "on linux_amd64"\n', {
      mode: 0o755,
    });
    const result = await runCli(['init', dir, '--approver', 'alice@example.com'], {
      ...process.env,
      PATH: `${bin}:/usr/bin:/bin`,
      TFGATE_TERRAFORM: '',
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('terraform.version: 1.10.3');
    expect(loadConfigFile(path.join(dir, 'tfgate.yaml')).terraform.version).toBe('1.10.3');

    const none = path.join(root, 'unversioned');
    const without = await runCli(['init', none, '--approver', 'alice@example.com'], {
      ...process.env,
      PATH: '/nonexistent',
      TFGATE_TERRAFORM: '',
    });
    expect(without.code).toBe(0);
    expect(without.stdout).toContain('terraform.version is left unset');
    expect(loadConfigFile(path.join(none, 'tfgate.yaml')).terraform.version).toBeUndefined();
  });
});
