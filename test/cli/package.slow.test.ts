import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App, Stack } from 'aws-cdk-lib';
import { PACKAGE_ROOT } from '../../src/package-files.js';
import { ConfigError } from '../../src/config/load.js';
import { Tfgate, type TfgateSettings } from '../../infra/index.js';
import { until } from '../support/local-stack.js';
import { REAL_TERRAFORM } from '../support/real-terraform.js';

/**
 * The package as people install it: `npm pack` (which builds dist/ through prepack), the tarball
 * installed into an empty directory from the local npm cache, and the CLI run from there with no
 * TypeScript compiler, tsx or esbuild installed. Then the same tarball in a user's CDK app beside
 * aws-cdk-lib and constructs: `import { Tfgate } from 'tfgate/cdk'`, synthesized with plain node.
 */

const exec = promisify(execFile);
// npm pack builds dist/ (tsc and six bundles): minutes on a busy 2-core machine.
const PACKING_MS = 480_000;

// The environment of a user's shell: none of the npm_* variables `npm test` sets for this process.
const USER_ENV: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')),
);

let root: string;
let app: string;
let packed: { filename: string; files: Array<{ path: string }> };

async function npx(
  args: string[],
  env: NodeJS.ProcessEnv = USER_ENV,
  timeout = 120_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec('npx', ['tfgate', ...args], {
      cwd: app,
      env,
      timeout,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === 'number' ? failed.code : 1,
      stdout: failed.stdout ?? '',
      stderr: failed.stderr ?? '',
    };
  }
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'tfgate-package-'));
  const { stdout } = await exec('npm', ['pack', '--json', '--pack-destination', root], {
    cwd: PACKAGE_ROOT,
    env: USER_ENV,
    maxBuffer: 16 * 1024 * 1024,
  });
  // Only the JSON array: lifecycle scripts may print before it.
  packed = (JSON.parse(stdout.slice(stdout.indexOf('\n[') + 1 || stdout.indexOf('['))) as (typeof packed)[])[0]!;

  app = path.join(root, 'app');
  await mkdir(app);
  await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'tfgate-user', private: true }));
  await exec('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(root, packed.filename)], {
    cwd: app,
    env: USER_ENV,
    maxBuffer: 16 * 1024 * 1024,
  });
}, PACKING_MS);

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('the npm package', () => {
  it(
    'ships compiled JavaScript, declarations, the runner bundle and the definition, and no source, test ' +
      'or bench code',
    () => {
      const files = packed.files.map((file) => file.path);
      for (const expected of [
        'bin/tfgate.js',
        'bin/post-receive.js',
        'dist/bin/cli.js',
        'dist/bin/cli.d.ts',
        'dist/build-runner.mjs',
        'statemachine/pipeline.asl.json',
        'package.json',
        'README.md',
      ]) {
        expect(files).toContain(expected);
      }
      // The construct: compiled, declared, and the bundles a user's synth packages instead of sources.
      for (const expected of [
        'dist/infra/index.js',
        'dist/infra/index.d.ts',
        'dist/functions/webhook/index.mjs',
        'dist/functions/build-runner/runner.mjs',
        'infra/keys/hashicorp-release.asc',
        'cdk.json',
      ]) {
        expect(files).toContain(expected);
      }
      expect(files.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))).toEqual([]);
      // The only file of the infra source folder it carries is the HashiCorp key the buildspec verifies terraform with.
      expect(
        files.filter(
          (file) =>
            /(^|\/)(test|bench|infra)\//.test(file) &&
            !file.startsWith('dist/infra/') &&
            !file.startsWith('infra/keys/'),
        ),
      ).toEqual([]);
      expect(files.filter((file) => file.startsWith('dist/') && /(^|\/)function-bundles\./.test(file))).toEqual([]);
    },
  );

  it('installs without a TypeScript compiler, tsx or esbuild, and is not private', async () => {
    // aws-cdk-lib and constructs are optional peers: a CLI user does not get them.
    for (const tool of ['typescript', 'tsx', 'esbuild', 'vitest', 'aws-cdk-lib', 'constructs'])
      expect(existsSync(path.join(app, 'node_modules', tool)), tool).toBe(false);
    const compiled = (await readdir(path.join(app, 'node_modules', 'tfgate', 'dist'), { recursive: true })).filter(
      (file) => file.endsWith('.js'),
    );
    expect(compiled.length).toBeGreaterThan(50);
    for (const file of compiled) {
      const text = await readFile(path.join(app, 'node_modules', 'tfgate', 'dist', file), 'utf8');
      // A static import would fail at load; codebuild.js's dynamic import of esbuild is on the source-only path.
      expect(/(from |import )['"](tsx|esbuild|typescript)(\/[^'"]*)?['"]/.test(text), file).toBe(false);
    }
    const manifest = JSON.parse(await readFile(path.join(app, 'node_modules', 'tfgate', 'package.json'), 'utf8')) as {
      private?: boolean;
    };
    expect(manifest.private).toBeUndefined();
  });

  it('runs npx tfgate --help', async () => {
    const result = await npx(['--help']);
    expect(result.code, result.stderr).toBe(0);
    for (const command of ['local', 'demo', 'init', 'runs', 'approve']) expect(result.stdout).toContain(command);
  });

  it('runs npx tfgate init, writing the Terraform root and tfgate.yaml', async () => {
    const result = await npx(['init', 'infra', '--approver', 'alice@example.com']);
    expect(result.code, result.stderr).toBe(0);
    for (const file of ['main.tf', 'config.tf', 'modules/configuration/main.tf', 'tfgate.yaml'])
      expect(existsSync(path.join(app, 'infra', file)), file).toBe(true);
    expect(await readFile(path.join(app, 'infra', 'tfgate.yaml'), 'utf8')).toContain('alice@example.com');
  });

  it('runs npx tfgate local until Ctrl-C stops it', async () => {
    // Its own process group, as in a terminal, where Ctrl-C reaches npx and tfgate alike.
    const child = spawn(
      'npx',
      [
        'tfgate',
        'local',
        '--port',
        '0',
        '--data',
        path.join(root, 'local-data'),
        '--terraform',
        REAL_TERRAFORM ?? '/bin/true',
      ],
      {
        cwd: app,
        env: USER_ENV,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const groupAlive = () => {
      try {
        process.kill(-child.pid!, 0);
        return true;
      } catch {
        return false;
      }
    };
    try {
      await until(
        'tfgate local to start',
        () => (output.includes('Push to a remote above') ? true : child.exitCode !== null ? false : undefined),
        180_000,
      );
      expect(output).toContain('example/infrastructure: git push');
      process.kill(-child.pid!, 'SIGINT');
      await until('every process of tfgate local to end', () => (groupAlive() ? undefined : true), 30_000);
      expect(output).toContain('stopping…');
    } finally {
      if (groupAlive()) process.kill(-child.pid!, 'SIGKILL');
    }
  });

  // The template uses a local module, which only the real terraform speaks.
  it.skipIf(!REAL_TERRAFORM)(
    'runs npx tfgate demo --auto-approve to a succeeded run',
    async () => {
      const result = await npx(['demo', '--auto-approve'], { ...USER_ENV, TFGATE_TERRAFORM: REAL_TERRAFORM! }, 300_000);
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
      expect(result.stdout).toMatch(/finished: succeeded/);
      expect(result.stdout).toMatch(/apps\s+applied/);
    },
    600_000,
  );
});

/** A user's CDK app, as the README shows it: their own App and Stack, tfgate one construct in it. */
const USER_APP = `
import { writeFileSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import { Tfgate } from 'tfgate/cdk';

const app = new App({ outdir: process.env.OUTDIR });
const stack = new Stack(app, 'Platform', { env: { account: '123456789012', region: 'eu-west-1' } });
const config = process.env.CONFIG_FILE ?? JSON.parse(process.env.CONFIG_JSON);
let gate;
try {
  gate = new Tfgate(stack, 'Gate', { config });
} catch (error) {
  console.error(error.name + ': ' + error.message);
  process.exit(3);
}
const assembly = app.synth();
writeFileSync(process.env.RESULT, JSON.stringify({
  template: assembly.getStackByName('Platform').template,
  exposed: {
    webhookUrl: stack.resolve(gate.webhookUrl),
    webUrl: stack.resolve(gate.webUrl),
    stateMachine: stack.resolve(gate.stateMachine.stateMachineArn),
    alarmTopic: stack.resolve(gate.alarmTopic.topicArn),
    runsTable: stack.resolve(gate.tables.runs.tableName),
  },
}));
`;

// Its types, checked the way a TypeScript user's app would resolve them (NodeNext, the `types` condition).
const USER_APP_TS = `
import { App, Stack } from 'aws-cdk-lib';
import { Tfgate, type TfgateProps } from 'tfgate/cdk';

const props: TfgateProps = {
  config: { repositories: [{ name: 'acme/infrastructure', environments: [{ name: 'ops' }] }] },
  reserveConcurrency: false,
};
const gate: Tfgate = new Tfgate(new Stack(new App(), 'Platform'), 'Gate', props);
const url: string = gate.webhookUrl;
// @ts-expect-error readonly props
props.reserveConcurrency = true;
export { url };
`;

const MINIMAL: TfgateSettings = {
  terraform: { version: '1.11.4' },
  repositories: [
    {
      name: 'acme/infrastructure',
      environments: [{ name: 'ops' }, { name: 'apps', approval: { approvers: ['alice@example.com'] } }],
    },
  ],
};
const OPEN_GATE =
  'repositories:\n  - name: acme/a\n    environments:\n      - name: ops\n      - name: apps\n        approval:\n ' +
  '         timeout: 24h\n';

/** What the construct from this repository's source throws for a configuration: the reference for the package's. */
function sourceConfigError(config: TfgateSettings | string): string {
  try {
    new Tfgate(new Stack(new App(), 'Reference'), 'Gate', { config });
  } catch (error) {
    if (error instanceof ConfigError) return `${error.name}: ${error.message}`;
    throw error;
  }
  throw new Error('the source construct accepted the configuration');
}

/** What the test CDK app writes: the synthesized template and what the construct exposes, as tokens. */
type SynthOutput = {
  template: {
    Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    Outputs: Record<string, unknown>;
  };
  exposed: Record<string, unknown>;
};

describe('the construct from the installed package', () => {
  let cdkApp: string;

  async function synth(
    config: { file: string } | { value: unknown },
  ): Promise<{ code: number; stderr: string; result?: SynthOutput }> {
    const result = path.join(cdkApp, `result-${Date.now()}.json`);
    const env = {
      ...USER_ENV,
      OUTDIR: path.join(cdkApp, `cdk.out-${Date.now()}`),
      RESULT: result,
      ...('file' in config ? { CONFIG_FILE: config.file } : { CONFIG_JSON: JSON.stringify(config.value) }),
    };
    try {
      await exec(process.execPath, ['app.mjs'], { cwd: cdkApp, env, timeout: 180_000, maxBuffer: 16 * 1024 * 1024 });
      return { code: 0, stderr: '', result: JSON.parse(await readFile(result, 'utf8')) };
    } catch (error) {
      const failed = error as { code?: number; stderr?: string };
      return { code: typeof failed.code === 'number' ? failed.code : 1, stderr: failed.stderr ?? '' };
    }
  }

  beforeAll(async () => {
    cdkApp = path.join(root, 'cdk-app');
    await mkdir(cdkApp);
    await writeFile(
      path.join(cdkApp, 'package.json'),
      JSON.stringify({ name: 'platform', private: true, type: 'module' }),
    );
    const versions = JSON.parse(await readFile(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    await exec(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        path.join(root, packed.filename),
        `aws-cdk-lib@${versions.devDependencies['aws-cdk-lib']}`,
        `constructs@${versions.devDependencies.constructs}`,
      ],
      { cwd: cdkApp, env: USER_ENV, maxBuffer: 16 * 1024 * 1024 },
    );
    await writeFile(path.join(cdkApp, 'app.mjs'), USER_APP);
  }, PACKING_MS);

  it('installs beside aws-cdk-lib without TypeScript, esbuild or cdk-nag', () => {
    for (const tool of ['typescript', 'tsx', 'esbuild', 'cdk-nag'])
      expect(existsSync(path.join(cdkApp, 'node_modules', tool)), tool).toBe(false);
  });

  it("synthesizes a user's stack with node: state machine, tables, functions from the prebuilt bundles", async () => {
    const { code, stderr, result } = await synth({ value: MINIMAL });
    expect(code, stderr).toBe(0);
    const resources = Object.values(result!.template.Resources);
    const ofType = (type: string) => resources.filter((resource) => resource.Type === type);
    expect(ofType('AWS::StepFunctions::StateMachine')).toHaveLength(1);
    expect(ofType('AWS::StepFunctions::StateMachine')[0]!.Properties.StateMachineName).toBe('tfgate-platform-pipeline');
    expect(ofType('AWS::DynamoDB::Table')).toHaveLength(4);
    // webhook, web, stage tasks, approval request, reconciler, GitHub token minter, GitHub setup.
    const functions = ofType('AWS::Lambda::Function').filter((fn) =>
      String(fn.Properties.Description ?? '').startsWith('tfgate: '),
    );
    expect(functions).toHaveLength(7);
    for (const fn of functions)
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Handler: 'index.handler',
        Architectures: ['arm64'],
      });
    expect(ofType('AWS::CodeBuild::Project')).toHaveLength(6);
    expect(ofType('AWS::Lambda::Url')).toHaveLength(3);
    // What it exposes refers to those resources.
    expect(JSON.stringify(result!.exposed.webhookUrl)).toMatch(/FunctionUrl.*webhook/);
    for (const key of ['stateMachine', 'alarmTopic', 'runsTable'])
      expect(result!.exposed[key], key).toEqual({ Ref: expect.any(String) });
    expect(Object.keys(result!.template.Outputs)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^GateWebhookUrl/), expect.stringMatching(/^GateAlarmTopicArn/)]),
    );
  }, 300_000);

  it('packages each function from its bundle in the package, and the CodeBuild runner likewise', async () => {
    const outdirs = (await readdir(cdkApp)).filter((name) => name.startsWith('cdk.out-'));
    expect(outdirs.length).toBeGreaterThan(0);
    const out = path.join(cdkApp, outdirs[0]!);
    const assets = (await readdir(out)).filter((name) => name.startsWith('asset.'));
    const staged = await Promise.all(
      assets.map(async (name) => ({
        name,
        files: existsSync(path.join(out, name)) ? await readdir(path.join(out, name)).catch(() => [name]) : [],
      })),
    );
    const functionBundles = staged.filter((asset) => asset.files.length === 1 && asset.files[0] === 'index.mjs');
    // One per function (the seven above), each from its bundle in the package.
    expect(functionBundles).toHaveLength(7);
    expect(assets.some((name) => name.endsWith('.mjs'))).toBe(true);
  });

  it('refuses a bad configuration with the same error as the construct here: a file by FILE:LINE:COLUMN', async () => {
    const file = path.join(cdkApp, 'open-gate.yaml');
    await writeFile(file, OPEN_GATE);
    const { code, stderr } = await synth({ file });
    expect(code).toBe(3);
    expect(stderr.trim()).toBe(sourceConfigError(file));
    expect(stderr).toContain(
      `${file}:6:9: repositories.0.environments.1.approval.approvers: a gate needs at least one approver`,
    );
  }, 300_000);

  it('and an object by the path of the key', async () => {
    const bad = {
      repositories: [
        { name: 'acme/a', environments: [{ name: 'ops' }, { name: 'apps', approval: { timeout: '24h' } }] },
      ],
    };
    const { code, stderr } = await synth({ value: bad });
    expect(code).toBe(3);
    expect(stderr.trim()).toBe(sourceConfigError(bad as unknown as TfgateSettings));
    expect(stderr).toContain(
      'config: repositories.0.environments.1.approval.approvers: a gate needs at least one approver',
    );
  }, 300_000);

  it('declares its types for a TypeScript app (tfgate/cdk through the exports map)', async () => {
    await writeFile(path.join(cdkApp, 'app-types.ts'), USER_APP_TS);
    const tsc = path.join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const args = [
      '--noEmit',
      '--strict',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--skipLibCheck',
      'app-types.ts',
    ];
    const checked = await exec(process.execPath, [tsc, ...args], { cwd: cdkApp, env: USER_ENV }).then(
      () => ({ code: 0, stdout: '' }),
      (error: { code?: number; stdout?: string }) => ({ code: error.code ?? 1, stdout: error.stdout ?? '' }),
    );
    expect(checked.stdout).toBe('');
    expect(checked.code).toBe(0);
    // And a wrong prop is an error there, so the check above has teeth.
    await writeFile(
      path.join(cdkApp, 'app-wrong.ts'),
      USER_APP_TS.replace('reserveConcurrency: false', 'reserveConcurrency: "no"'),
    );
    const wrong = await exec(process.execPath, [tsc, ...args.slice(0, -1), 'app-wrong.ts'], {
      cwd: cdkApp,
      env: USER_ENV,
    }).then(
      () => ({ code: 0, stdout: '' }),
      (error: { code?: number; stdout?: string }) => ({ code: error.code ?? 1, stdout: error.stdout ?? '' }),
    );
    expect(wrong.code).not.toBe(0);
    // Line 7 holds reserveConcurrency in the props; the column is that of its value.
    expect(wrong.stdout).toMatch(
      /^app-wrong\.ts\(7,\d+\): error TS2322: Type 'string' is not assignable to type 'boolean \| undefined'/,
    );
  }, 300_000);
});
