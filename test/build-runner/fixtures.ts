/**
 * Test fixtures for the build runner: a bare git repository whose commits are stored as source archives
 * (as the pipeline's prepareSource does), and an in-process runner.
 */
import { execFileSync, spawn as nodeSpawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBuild, type RawBuildSettings } from '../../src/build-runner/runner.js';
import type { SpawnFunction } from '../../src/build-runner/process.js';
import { sourceArchiveKey } from '../../src/domain/builds.js';
import { FsArtifactStore } from '../../src/adapters/fs/artifact-store.js';

export const REPOSITORY = 'acme/infrastructure';

/** The terraform double (test/terraform-double): CI machines have no terraform. */
export const TERRAFORM_DOUBLE = fileURLToPath(new URL('../terraform-double/terraform', import.meta.url));

const GIT_IDENTITY = {
  GIT_AUTHOR_NAME: 'tfgate test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'tfgate test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
};

function git(cwd: string, args: string[]): string {
  return execFileSync('git', args, { cwd, env: { ...process.env, ...GIT_IDENTITY }, encoding: 'utf8' }).trim();
}

export interface Sandbox {
  root: string;
  bareRepo: string;
  stateDir: string;
  artifactsDir: string;
  tmpDir: string;
  artifacts: FsArtifactStore;
  /** sha256 of each commit's stored source archive. */
  sources: Map<string, string>;
  /** Commits these files (path → content; a `{ symlink }` makes a link) and pushes; returns the sha. */
  commit(files: Record<string, string | { symlink: string }>): Promise<string>;
  cleanup(): Promise<void>;
}

export async function createSandbox(): Promise<Sandbox> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'tfgate-runner-'));
  const bareRepo = path.join(root, 'remote.git');
  const workTree = path.join(root, 'work');
  const stateDir = path.join(root, 'state');
  const artifactsDir = path.join(root, 'artifacts');
  const tmpDir = path.join(root, 'tmp');
  await mkdir(tmpDir);
  await mkdir(workTree);
  git(root, ['init', '-q', '--bare', bareRepo]);
  git(workTree, ['init', '-q']);
  const artifacts = new FsArtifactStore(artifactsDir);
  const sources = new Map<string, string>();

  return {
    root,
    bareRepo,
    stateDir,
    artifactsDir,
    tmpDir,
    artifacts,
    sources,
    async commit(files) {
      for (const [name, content] of Object.entries(files)) {
        const file = path.join(workTree, name);
        await mkdir(path.dirname(file), { recursive: true });
        await rm(file, { force: true, recursive: true });
        // A script (#!) is committed executable, as a provider under terraform.d/plugins must be.
        if (typeof content === 'string')
          await writeFile(file, content, { mode: content.startsWith('#!') ? 0o755 : 0o644 });
        else execFileSync('ln', ['-s', content.symlink, file]);
      }
      git(workTree, ['add', '-A']);
      git(workTree, ['commit', '-q', '--allow-empty', '-m', `commit ${Date.now()}`]);
      git(workTree, ['push', '-q', '--force', bareRepo, 'HEAD:refs/heads/main']);
      const sha = git(workTree, ['rev-parse', 'HEAD']);
      const archive = execFileSync(
        'git',
        ['--git-dir', bareRepo, 'archive', '--format=tar.gz', '--prefix=source/', sha],
        { maxBuffer: 64 * 1024 * 1024 },
      );
      await artifacts.put(sourceArchiveKey(REPOSITORY, sha), archive);
      sources.set(sha, createHash('sha256').update(archive).digest('hex'));
      return sha;
    },
    async cleanup() {
      await rm(root, { recursive: true, force: true });
    },
  };
}

export interface BuildOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
  spawned: Array<{ command: string; args: readonly string[] }>;
}

export async function runInProcess(
  sandbox: Sandbox,
  settings: RawBuildSettings,
  options: { env?: NodeJS.ProcessEnv; spawn?: SpawnFunction; signal?: AbortSignal } = {},
): Promise<BuildOutcome> {
  let stdout = '';
  let stderr = '';
  const spawned: BuildOutcome['spawned'] = [];
  const realSpawn = options.spawn ?? (nodeSpawn as SpawnFunction);
  const spawn: SpawnFunction = (command, args, spawnOptions) => {
    spawned.push({ command, args });
    return realSpawn(command, args, spawnOptions);
  };
  const kind = settings.mode === 'apply' ? 'apply' : 'plan';
  const sourceSha256 = settings.sha ? (sandbox.sources.get(settings.sha) ?? '0'.repeat(64)) : undefined;
  const exitCode = await runBuild(
    {
      terraform: TERRAFORM_DOUBLE,
      stateDir: sandbox.stateDir,
      artifacts: sandbox.artifactsDir,
      repository: REPOSITORY,
      directory: '.',
      kind,
      runMode: 'deploy',
      ...(sourceSha256 ? { sourceSha256 } : {}),
      ...settings,
    },
    {
      spawn,
      artifacts: sandbox.artifacts,
      env: options.env ?? process.env,
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
      tmpDir: sandbox.tmpDir,
      ...(options.signal ? { signal: options.signal } : {}),
    },
  );
  return { exitCode, stdout, stderr, spawned };
}

/** Apply artifacts live under `apply/`, everything else under the plan build's `plan/`. */
function kindOf(name: string): string {
  return name.startsWith('apply') ? 'apply' : 'plan';
}

export async function artifactText(
  sandbox: Sandbox,
  runId: string,
  environment: string,
  name: string,
): Promise<string | undefined> {
  return (await sandbox.artifacts.get(`runs/${runId}/${environment}/${kindOf(name)}/${name}`))?.toString('utf8');
}

export async function artifactJson<T = Record<string, unknown>>(
  sandbox: Sandbox,
  runId: string,
  environment: string,
  name: string,
): Promise<T | undefined> {
  const text = await artifactText(sandbox, runId, environment, name);
  return text === undefined ? undefined : (JSON.parse(text) as T);
}

export async function artifactNames(sandbox: Sandbox, runId: string, environment: string): Promise<string[]> {
  const names = await Promise.all(
    ['plan', 'apply'].map((kind) =>
      readdir(path.join(sandbox.artifactsDir, 'runs', runId, environment, kind)).catch(() => [] as string[]),
    ),
  );
  return names.flat().sort();
}
