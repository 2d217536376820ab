import { spawn as nodeSpawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockFileHash } from '../../src/build-runner/init-cache.js';
import type { SpawnFunction } from '../../src/build-runner/process.js';
import type { PlanSummary } from '../../src/domain/run.js';
import { artifactJson, createSandbox, runInProcess, type Sandbox } from './fixtures.js';

/**
 * TFGATE_INIT_CACHE (src/build-runner/init-cache.ts): init once per commit, lock file and backend;
 * builds sharing a lock file share the plugin cache. Runs with the terraform double, as runner.slow.test.ts.
 */

// biome-ignore lint/suspicious/noTemplateCurlyInString: Terraform interpolation in an HCL file, not JS.
const MAIN_TF = 'resource "terraform_data" "cluster" {\n  input = "cluster-${terraform.workspace}"\n}\n';
const LOCK_V1 = '# This file is maintained automatically by "terraform init".\n# v1\n';
const LOCK_V2 = '# This file is maintained automatically by "terraform init".\n# v2\n';

let sandbox: Sandbox;
let cacheDir: string;
beforeEach(async () => {
  sandbox = await createSandbox();
  cacheDir = path.join(sandbox.root, 'cache');
});
afterEach(async () => {
  await sandbox.cleanup();
});

/** Records each terraform init and the plugin cache it was given. */
function recordingInits(): { spawn: SpawnFunction; inits: Array<string | undefined> } {
  const inits: Array<string | undefined> = [];
  const spawn: SpawnFunction = (command, args, options) => {
    if (args[0] === 'init') inits.push(options.env?.TF_PLUGIN_CACHE_DIR);
    return (nodeSpawn as SpawnFunction)(command, args, options);
  };
  return { spawn, inits };
}

const env = () => ({ ...process.env, TFGATE_INIT_CACHE: cacheDir });
const planOf = async (runId: string, environment: string) =>
  (await artifactJson<PlanSummary>(sandbox, runId, environment, 'summary.json'))!;

describe('init cache', () => {
  it(
    'two concurrent builds of one commit share the plugin cache and one init; both succeed, and ' +
      'the apply reuses it',
    async () => {
      const sha = await sandbox.commit({ 'main.tf': MAIN_TF, '.terraform.lock.hcl': LOCK_V1 });
      const recorded = recordingInits();

      const [ops, apps] = await Promise.all([
        runInProcess(
          sandbox,
          { mode: 'plan', runId: 'run-1', environment: 'ops', sha },
          { env: env(), spawn: recorded.spawn },
        ),
        runInProcess(
          sandbox,
          { mode: 'plan', runId: 'run-1', environment: 'apps', sha },
          { env: env(), spawn: recorded.spawn },
        ),
      ]);

      expect([ops.exitCode, apps.exitCode], `${ops.stderr}\n${apps.stderr}`).toEqual([0, 0]);
      expect((await planOf('run-1', 'ops')).add).toBe(1);
      expect((await planOf('run-1', 'apps')).add).toBe(1);
      // One of them initialised (with the lock file's plugin cache), the other waited and reused it.
      const pluginDir = path.join(cacheDir, 'plugins', lockFileHash(Buffer.from(LOCK_V1)));
      expect(recorded.inits).toEqual([pluginDir]);
      expect(existsSync(pluginDir)).toBe(true);
      expect([ops.stdout, apps.stdout].filter((out) => out.includes('terraform init skipped'))).toHaveLength(1);

      const applied = await runInProcess(
        sandbox,
        { mode: 'apply', runId: 'run-1', environment: 'ops', sha, planSha256: (await planOf('run-1', 'ops')).sha256 },
        { env: env(), spawn: recorded.spawn },
      );
      expect(applied.exitCode, applied.stderr).toBe(0);
      expect(recorded.inits).toHaveLength(1);
      // The plan created the ops workspace in the state directory: the apply selects it by TF_WORKSPACE.
      expect(applied.spawned.filter((call) => call.args[0] === 'workspace')).toEqual([]);
      expect(applied.stdout).toMatch(/workspace ops \(TF_WORKSPACE\)/);
      // No lock left behind by either build.
      expect(await readdir(path.join(cacheDir, 'locks'))).toEqual([]);
    },
  );

  it('a build whose cached init is stale (the lock file changed) initialises again', async () => {
    const first = await sandbox.commit({ 'main.tf': MAIN_TF, '.terraform.lock.hcl': LOCK_V1 });
    const recorded = recordingInits();
    const plan = (runId: string, sha: string) =>
      runInProcess(sandbox, { mode: 'plan', runId, environment: 'ops', sha }, { env: env(), spawn: recorded.spawn });

    expect((await plan('run-1', first)).exitCode).toBe(0);
    const again = await plan('run-2', first);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toMatch(/terraform init skipped/);
    expect(recorded.inits).toHaveLength(1);

    const second = await sandbox.commit({ '.terraform.lock.hcl': LOCK_V2 });
    const changed = await plan('run-3', second);
    expect(changed.exitCode, changed.stderr).toBe(0);
    expect(changed.stdout).not.toMatch(/terraform init skipped/);
    expect(recorded.inits).toEqual([
      path.join(cacheDir, 'plugins', lockFileHash(Buffer.from(LOCK_V1))),
      path.join(cacheDir, 'plugins', lockFileHash(Buffer.from(LOCK_V2))),
    ]);
  });

  it(
    'without a lock file nothing is shared across commits, and a snapshot whose provider links ' + 'broke is not used',
    async () => {
      const sha = await sandbox.commit({ 'main.tf': MAIN_TF });
      const recorded = recordingInits();
      const plan = (runId: string) =>
        runInProcess(sandbox, { mode: 'plan', runId, environment: 'ops', sha }, { env: env(), spawn: recorded.spawn });
      expect((await plan('run-1')).exitCode).toBe(0);
      // No plugin cache without a committed lock file.
      expect(recorded.inits).toEqual([undefined]);

      // A provider link into a plugin cache that has been removed since.
      const [entry] = await readdir(path.join(cacheDir, 'init'));
      const providers = path.join(cacheDir, 'init', entry!, 'terraform-data', 'providers');
      const { mkdir, symlink } = await import('node:fs/promises');
      await mkdir(providers, { recursive: true });
      await symlink(path.join(sandbox.root, 'gone'), path.join(providers, 'example'));
      const rebuilt = await plan('run-2');
      expect(rebuilt.exitCode, rebuilt.stderr).toBe(0);
      expect(rebuilt.stdout).not.toMatch(/terraform init skipped/);
      expect(recorded.inits).toHaveLength(2);
      await rm(path.join(sandbox.root, 'gone'), { force: true });
    },
  );
});
