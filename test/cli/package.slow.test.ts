import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../lambdas/core/package-files.js';
import { until } from '../support/local-stack.js';
import { REAL_TERRAFORM } from '../support/real-terraform.js';

/**
 * The package as people install it: `npm pack` (which builds dist/ through prepack), the tarball
 * installed into an empty directory from the local npm cache, and the CLI run from there with no
 * TypeScript compiler, tsx or esbuild installed.
 */

const exec = promisify(execFile);
const PACKING_MS = 240_000;

// The environment of a user's shell: none of the npm_* variables `npm test` sets for this process.
const USER_ENV: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')));

let root: string;
let app: string;
let packed: { filename: string; files: Array<{ path: string }> };

async function npx(args: string[], env: NodeJS.ProcessEnv = USER_ENV, timeout = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec('npx', ['tfgate', ...args], { cwd: app, env, timeout, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'tfgate-package-'));
  const { stdout } = await exec('npm', ['pack', '--json', '--pack-destination', root], { cwd: PACKAGE_ROOT, env: USER_ENV, maxBuffer: 16 * 1024 * 1024 });
  // Only the JSON array: lifecycle scripts may print before it.
  packed = (JSON.parse(stdout.slice(stdout.indexOf('\n[') + 1 || stdout.indexOf('['))) as (typeof packed)[])[0]!;

  app = path.join(root, 'app');
  await mkdir(app);
  await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'tfgate-user', private: true }));
  await exec('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(root, packed.filename)], { cwd: app, env: USER_ENV, maxBuffer: 16 * 1024 * 1024 });
}, PACKING_MS);

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('ships compiled JavaScript, declarations, the runner bundle and the definition, and no source, test or bench code', () => {
    const files = packed.files.map((file) => file.path);
    for (const expected of ['bin/tfgate.js', 'dist/bin/cli.js', 'dist/bin/cli.d.ts', 'dist/build-runner.mjs', 'statemachine/pipeline.asl.json', 'package.json', 'README.md']) {
      expect(files).toContain(expected);
    }
    expect(files.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((file) => /(^|\/)(test|bench|infra)\//.test(file))).toEqual([]);
  });

  it('installs without a TypeScript compiler, tsx or esbuild, and is not private', async () => {
    for (const tool of ['typescript', 'tsx', 'esbuild', 'vitest']) expect(existsSync(path.join(app, 'node_modules', tool)), tool).toBe(false);
    const compiled = (await readdir(path.join(app, 'node_modules', 'tfgate', 'dist'), { recursive: true })).filter((file) => file.endsWith('.js'));
    expect(compiled.length).toBeGreaterThan(50);
    for (const file of compiled) {
      const text = await readFile(path.join(app, 'node_modules', 'tfgate', 'dist', file), 'utf8');
      // A static import would fail at load; codebuild.js's dynamic import of esbuild is on the source-only path.
      expect(/(from |import )['"](tsx|esbuild|typescript)(\/[^'"]*)?['"]/.test(text), file).toBe(false);
    }
    const manifest = JSON.parse(await readFile(path.join(app, 'node_modules', 'tfgate', 'package.json'), 'utf8')) as { private?: boolean };
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
    for (const file of ['main.tf', 'config.tf', 'modules/configuration/main.tf', 'tfgate.yaml']) expect(existsSync(path.join(app, 'infra', file)), file).toBe(true);
    expect(await readFile(path.join(app, 'infra', 'tfgate.yaml'), 'utf8')).toContain('alice@example.com');
  });

  it('runs npx tfgate local until Ctrl-C stops it', async () => {
    // Its own process group, as in a terminal, where Ctrl-C reaches npx and tfgate alike.
    const child = spawn('npx', ['tfgate', 'local', '--port', '0', '--data', path.join(root, 'local-data'), '--terraform', REAL_TERRAFORM ?? '/bin/true'], {
      cwd: app,
      env: USER_ENV,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
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
      await until('tfgate local to start', () => (output.includes('Push to a remote above') ? true : child.exitCode !== null ? false : undefined), 60_000);
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
      const result = await npx(['demo', '--auto-approve'], { ...USER_ENV, TFGATE_TERRAFORM: REAL_TERRAFORM! }, 180_000);
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
      expect(result.stdout).toMatch(/finished: succeeded/);
      expect(result.stdout).toMatch(/apps\s+applied/);
    },
    200_000,
  );
});
