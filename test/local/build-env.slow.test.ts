import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { buildEnvironment } from '../../src/local-mode/build-env.js';
import { commitAndPush } from '../../src/local-mode/git-repos.js';
import { startLocalProcess, type LocalProcess } from '../support/cli-process.js';
import { configYaml, TERRAFORM_DOUBLE, until } from '../support/local-stack.js';

/** Issue 12 point 5: local builds see the user's environment, minus tfgate's own secrets. */

const REAL_TERRAFORM = '/usr/local/bin/terraform';
const TERRAFORM = existsSync(REAL_TERRAFORM) ? REAL_TERRAFORM : TERRAFORM_DOUBLE;

describe('the build environment rule', () => {
  const user = {
    PATH: '/usr/bin',
    HOME: '/home/u',
    AWS_PROFILE: 'staging',
    AWS_REGION: 'eu-west-1',
    TF_VAR_region: 'eu',
    TF_CLI_CONFIG_FILE: '/home/u/.terraformrc',
    TF_PLUGIN_CACHE_DIR: '/home/u/.cache/tf',
    HTTPS_PROXY: 'http://proxy:3128',
    TFGATE_WEBHOOK_SECRET: 'w',
    TFGATE_GITHUB_TOKEN: 'g',
    TFGATE_GITHUB_PRIVATE_KEY_FILE: '/k.pem',
    tfgate_lowercase_secret: 'x',
    TF_WORKSPACE: 'prod',
    TF_CLI_ARGS_apply: '-target=x',
  };

  it("passes the user's variables and holds back tfgate's own and those that would change what tfgate runs", () => {
    expect(buildEnvironment(user)).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/u',
      AWS_PROFILE: 'staging',
      AWS_REGION: 'eu-west-1',
      TF_VAR_region: 'eu',
      TF_CLI_CONFIG_FILE: '/home/u/.terraformrc',
      TF_PLUGIN_CACHE_DIR: '/home/u/.cache/tf',
      HTTPS_PROXY: 'http://proxy:3128',
    });
  });

  it('applies terraform.env deny and allow, and no allow entry lets TFGATE_* through', () => {
    expect(Object.keys(buildEnvironment(user, { deny: ['AWS_*', 'HTTPS_PROXY'] })).sort()).toEqual([
      'HOME',
      'PATH',
      'TF_CLI_CONFIG_FILE',
      'TF_PLUGIN_CACHE_DIR',
      'TF_VAR_region',
    ]);
    expect(Object.keys(buildEnvironment(user, { allow: ['TF_VAR_*', 'TFGATE_*', 'TF_WORKSPACE'] })).sort()).toEqual([
      'HOME',
      'PATH',
      'TF_VAR_region',
    ]);
  });

  it('reads terraform.env from tfgate.yaml and reports a bad entry with its line', () => {
    const base = configYaml({ approval: false, environments: ['ops'] });
    const config = parseConfig(
      `${base}\nterraform:\n  env:\n    deny: [AWS_SECRET_ACCESS_KEY, "TF_VAR_*"]\n`,
      'tfgate.yaml',
    );
    expect(config.terraform.env).toEqual({ deny: ['AWS_SECRET_ACCESS_KEY', 'TF_VAR_*'] });
    const text = `${base}\nterraform:\n  env:\n    allow:\n      - AWS_PROFILE\n      - "bad name"\n`;
    let error: unknown;
    try {
      parseConfig(text, 'tfgate.yaml');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const line = text.split('\n').findIndex((l) => l.includes('bad name')) + 1;
    expect((error as Error).message).toContain(`tfgate.yaml:${line}`);
    expect((error as Error).message).toContain('prefix ending in *');
  });
});

let processes: LocalProcess[] = [];
let dirs: string[] = [];
afterEach(async () => {
  for (const p of processes) await p.stop('SIGTERM');
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  processes = [];
  dirs = [];
});

describe(`tfgate local's builds (${path.basename(path.dirname(TERRAFORM))}/${path.basename(TERRAFORM)})`, () => {
  it('hand AWS_PROFILE and TF_VAR_x to a local-exec provisioner, but not the webhook secret', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-env-'));
    dirs.push(dir);
    const config = path.join(dir, 'tfgate.yaml');
    await writeFile(config, configYaml({ approval: false, environments: ['ops'] }));
    const webhookSecret = `webhook-secret-${Date.now()}`;
    const local = await startLocalProcess(
      ['--data', path.join(dir, 'data'), '--config', config, '--terraform', TERRAFORM],
      {
        ...process.env,
        AWS_PROFILE: 'tfgate-probe-profile',
        TF_VAR_x: 'value-from-the-shell',
        TFGATE_WEBHOOK_SECRET: webhookSecret,
        TFGATE_SOME_OTHER_SETTING: 'kept-out',
      },
    );
    processes.push(local);
    expect(local.output()).toContain('webhook secret: from TFGATE_WEBHOOK_SECRET');

    // The build sees nothing of this machine outside its sandbox: the provisioner prints its environment
    // into the apply's output, which tfgate keeps as the apply.txt artifact.
    const main = [
      'variable "x" {',
      '  type = string',
      '}',
      'resource "terraform_data" "probe" {',
      '  input = var.x',
      '  provisioner "local-exec" {',
      '    command = "env"',
      '  }',
      '}',
      '',
    ].join('\n');
    await commitAndPush(local.remote, { files: { 'main.tf': main }, message: 'probe', branch: 'main' });
    const runs = path.join(dir, 'data', 'artifacts', 'runs');
    const environment = await until(
      'the probe to run',
      async () => {
        for (const run of await readdir(runs).catch(() => [] as string[])) {
          const text = await readFile(path.join(runs, run, 'ops', 'apply', 'apply.txt'), 'utf8').catch(() => undefined);
          if (text) return text;
        }
        return undefined;
      },
      180_000,
    );
    const variables = Object.fromEntries(
      environment
        .split('\n')
        .map((line) => /\(local-exec\): ([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line))
        .filter((match) => match !== null)
        .map((match) => [match[1]!, match[2]!]),
    );
    expect(variables.AWS_PROFILE).toBe('tfgate-probe-profile');
    expect(variables.TF_VAR_x).toBe('value-from-the-shell');
    expect(environment).not.toContain(webhookSecret);
    expect(variables.TFGATE_WEBHOOK_SECRET).toBeUndefined();
    expect(variables.TFGATE_SOME_OTHER_SETTING).toBeUndefined();
    // Its HOME is its own empty one, not the user's.
    expect(variables.HOME).toMatch(/\/tfgate-build-[^/]+\/home$/);
    expect(variables.HOME).not.toBe(process.env.HOME);
  }, 300_000);
});
