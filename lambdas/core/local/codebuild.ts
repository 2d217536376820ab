import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { buildKindOfProject } from '../domain/builds.js';
import type { CodeBuildStartParams, LocalBuild, LocalCodeBuild } from './engine.js';

/**
 * CodeBuild's local stand-in: one build = one build-runner subprocess, with the overrides the
 * definition passes as its environment, plus what the CodeBuild project would set (artifact
 * location, terraform binary, the local state directory).
 */

const RUNNER_ENTRY = fileURLToPath(new URL('../../build-runner/main.ts', import.meta.url));

/**
 * Bundles the runner once per process, so each build starts plain `node` on one file instead of
 * compiling TypeScript on every start (the same single-file bundle CodeBuild receives in AWS).
 */
export async function bundleBuildRunner(outDir: string): Promise<string> {
  await mkdir(outDir, { recursive: true });
  const outfile = path.join(outDir, 'build-runner.mjs');
  await build({
    entryPoints: [RUNNER_ENTRY],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
    // The AWS SDK pieces (S3) stay external: locally they resolve from node_modules via this banner.
    banner: { js: "import { createRequire as __tfgateCreateRequire } from 'module'; const require = __tfgateCreateRequire(import.meta.url);" },
    nodePaths: [path.resolve(fileURLToPath(new URL('../../../node_modules', import.meta.url)))],
  });
  return outfile;
}

export interface LocalCodeBuildOptions {
  runnerFile: string;
  artifactsDir: string;
  logsDir: string;
  terraform: string;
  /** The local backend directory for a repository's state (survives between builds and runs). */
  stateDirFor(repository: string): string;
  /** Extra environment for every build (e.g. a test's terraform double settings). */
  extraEnv?: Record<string, string>;
  /** Local mode under root: builds' tar and terraform run as this unprivileged account. */
  buildUser?: { uid: number; gid: number };
  /** Receives each output line as it happens (live progress). */
  onOutput?: (build: { id: string; project: string; runId: string; environment: string; mode: string }, line: string) => void;
}

let buildCounter = 0;

export function createLocalCodeBuild(options: LocalCodeBuildOptions): LocalCodeBuild {
  return async (params: CodeBuildStartParams, signal: AbortSignal): Promise<LocalBuild> => {
    const overrides = Object.fromEntries((params.EnvironmentVariablesOverride ?? []).map((v) => [v.Name, String(v.Value)]));
    const runId = overrides.TFGATE_RUN_ID ?? 'unknown';
    const environment = overrides.TFGATE_ENVIRONMENT ?? 'unknown';
    const mode = overrides.TFGATE_MODE ?? 'unknown';
    const repository = overrides.TFGATE_REPOSITORY ?? '';
    buildCounter += 1;
    const id = `${params.ProjectName}:${runId}-${environment}-${mode}-${buildCounter}`;
    const startTime = new Date().toISOString();
    if (signal.aborted) return { Id: id, BuildStatus: 'STOPPED', StartTime: startTime, EndTime: startTime };

    const logFile = path.join(options.logsDir, runId, `${environment}-${mode}.log`);
    await mkdir(path.dirname(logFile), { recursive: true });
    const log = createWriteStream(logFile, { flags: 'a' });
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: process.env.TMPDIR,
      ...options.extraEnv,
      ...overrides,
      TFGATE_ARTIFACTS: options.artifactsDir,
      TFGATE_TERRAFORM: options.terraform,
      TFGATE_STATE_DIR: options.stateDirFor(repository),
      TF_IN_AUTOMATION: '1',
      TF_INPUT: '0',
      TFGATE_PARENT_PID: String(process.pid),
      // What CodeBuild sets per project in AWS: the kind is the project's, never the run's to choose.
      TFGATE_BUILD_KIND: buildKindOfProject(params.ProjectName) ?? 'unknown',
      ...(options.buildUser ? { TFGATE_BUILD_UID: String(options.buildUser.uid), TFGATE_BUILD_GID: String(options.buildUser.gid) } : {}),
    };
    const child = spawn(process.execPath, [options.runnerFile], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const info = { id, project: params.ProjectName, runId, environment, mode };
    const forward = (chunk: Buffer) => {
      log.write(chunk);
      if (options.onOutput) for (const line of chunk.toString('utf8').split('\n')) if (line) options.onOutput(info, line);
    };
    child.stdout.on('data', forward);
    child.stderr.on('data', forward);
    // What the runner said last on stderr is why it failed when it could not store a result file
    // (artifacts unwritable, killed mid-write): the build record carries it, as a log excerpt would.
    let stderrTail = '';
    child.stderr.on('data', (chunk: Buffer) => (stderrTail = `${stderrTail}${chunk.toString('utf8')}`.slice(-4000)));
    // StopBuild: the whole process group goes, terraform included.
    const stop = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    };
    signal.addEventListener('abort', stop, { once: true });
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
      child.once('close', (code, exitSignal) => resolve({ code, signal: exitSignal }));
    });
    signal.removeEventListener('abort', stop);
    await new Promise<void>((resolve) => log.end(resolve));
    const endTime = new Date().toISOString();
    const status: LocalBuild['BuildStatus'] = signal.aborted ? 'STOPPED' : exit.code === 0 ? 'SUCCEEDED' : 'FAILED';
    return {
      Id: id,
      BuildStatus: status,
      StartTime: startTime,
      EndTime: endTime,
      ProjectName: params.ProjectName,
      Logs: { DeepLink: logFile },
      ...(exit.error ? { Error: exit.error.message } : status !== 'SUCCEEDED' && lastLine(stderrTail) ? { Error: lastLine(stderrTail) } : {}),
      ...(exit.signal ? { Signal: exit.signal } : {}),
    };
  };
}

function lastLine(text: string): string | undefined {
  const line = text.split('\n').map((l) => l.trim()).filter(Boolean).pop();
  return line ? line.slice(0, 1000) : undefined;
}
