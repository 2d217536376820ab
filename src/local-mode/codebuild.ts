import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { copyFile, cp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { packageFile, RUNNING_FROM_SOURCE } from '../package-files.js';
import { openBuildSlot } from './build-reaper.js';
import { localBuildLogFile } from './file-build-logs.js';
import type { BuildController, StageBuildQuery } from '../domain/ports.js';
import { buildKindOfProject } from '../domain/builds.js';
import type { CodeBuildStartParams, LocalBuild, LocalCodeBuild } from './engine.js';

/**
 * CodeBuild's local stand-in: one build = one build-runner subprocess, with the overrides the
 * definition passes as its environment, plus what the CodeBuild project would set (artifact
 * location, terraform binary, the local state directory).
 */

const RUNNER_ENTRY = packageFile('src', 'build-runner', 'main.ts');
/** The runner bundle the package ships (built by `npm run build`: bin/build.ts). */
export const PREBUILT_RUNNER = packageFile('dist', 'build-runner.mjs');

/** The runner bundle's files: the entry `build-runner.mjs` and the chunks it loads on demand. */
interface BundleFile {
  relativePath: string;
  contents: Uint8Array;
}

let runnerBundle: Promise<BundleFile[]> | undefined;

/**
 * The build runner as plain JavaScript, so each build starts `node` on it instead of compiling
 * TypeScript on every start. From the repository's source it is bundled with esbuild (a dev
 * dependency, hence loaded only here) once per process and written into `outDir` for each stack; the
 * installed package runs the bundle it ships.
 */
export async function bundleBuildRunner(outDir: string, prebuilt?: string): Promise<string> {
  if (!RUNNING_FROM_SOURCE) return PREBUILT_RUNNER;
  await mkdir(outDir, { recursive: true });
  const outfile = path.join(outDir, RUNNER_FILE_NAME);
  // Tests bundle once per test run (test/support/global-setup.ts) rather than once per file.
  if (prebuilt) {
    await copyFile(prebuilt, outfile);
    await cp(path.join(path.dirname(prebuilt), RUNNER_CHUNKS_DIR), path.join(outDir, RUNNER_CHUNKS_DIR), {
      recursive: true,
    });
    return outfile;
  }
  runnerBundle ??= bundleRunner();
  const files = await runnerBundle.catch((error: unknown) => {
    runnerBundle = undefined;
    throw error;
  });
  await writeBundleFiles(outDir, files);
  return path.join(outDir, RUNNER_FILE_NAME);
}

/** Writes the bundle the package ships (bin/build.ts): `outfile` and its chunks beside it. */
export async function writeRunnerBundle(outfile: string): Promise<void> {
  if (path.basename(outfile) !== RUNNER_FILE_NAME)
    throw new Error(`the runner bundle is named ${RUNNER_FILE_NAME}, not ${path.basename(outfile)}`);
  await writeBundleFiles(path.dirname(outfile), await bundleRunner());
}

async function writeBundleFiles(outDir: string, files: BundleFile[]): Promise<void> {
  for (const file of files) {
    const target = path.join(outDir, file.relativePath);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, file.contents);
  }
}

const RUNNER_FILE_NAME = 'build-runner.mjs';
const RUNNER_CHUNKS_DIR = 'build-runner-chunks';

/**
 * One esbuild configuration for both: the bundle made from source at start and the one shipped.
 * Every build starts a fresh `node` on it, so its size is paid per build: minified, and split so that
 * what only AWS uses (the S3 artifact store and its SDK, two thirds of the bytes) sits in a chunk
 * that a local build never loads.
 */
async function bundleRunner(): Promise<BundleFile[]> {
  const { build } = await import('esbuild');
  const outdir = path.resolve('/tfgate-runner-bundle');
  const result = await build({
    entryPoints: { 'build-runner': RUNNER_ENTRY },
    outdir,
    outExtension: { '.js': '.mjs' },
    chunkNames: `${RUNNER_CHUNKS_DIR}/[name]-[hash]`,
    splitting: true,
    write: false,
    bundle: true,
    minify: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
    // Bundled CommonJS dependencies call require(): give the ESM bundle one.
    banner: {
      js:
        "import { createRequire as __tfgateCreateRequire } from 'module'; const require = " +
        '__tfgateCreateRequire(import.meta.url);',
    },
    nodePaths: [packageFile('node_modules')],
  });
  const files = result.outputFiles.map((output) => ({
    relativePath: path.relative(outdir, output.path),
    contents: output.contents,
  }));
  if (!files.some((file) => file.relativePath === RUNNER_FILE_NAME))
    throw new Error('esbuild produced no build runner bundle');
  return files;
}

export interface LocalCodeBuildOptions {
  runnerFile: string;
  artifactsDir: string;
  logsDir: string;
  terraform: string;
  /** The local backend directory for a repository's state (survives between builds and runs). */
  stateDirFor(repository: string): string;
  /**
   * The user's environment as builds may see it (build-env.ts: tfgate's own TFGATE_* secrets already
   * removed). Without it only PATH, HOME and TMPDIR pass.
   */
  userEnv?: Record<string, string>;
  /** Extra environment for every build (e.g. a test's terraform double settings). */
  extraEnv?: Record<string, string>;
  /**
   * Where build records live (build-reaper.ts): each build gets its own `tfgate-build-*` TMPDIR and
   * process group, cleaned when it ends, or at the next start if tfgate local was killed first.
   */
  buildsDir?: string;
  /**
   * Shared by builds (TFGATE_INIT_CACHE, src/build-runner/init-cache.ts): initialised working
   * directories per commit and lock file, and the plugin cache per lock file. None, every build inits.
   */
  cacheDir?: string;
  /** Running builds, for StopBuild (the pipeline's `stopBuild` task). */
  registry?: LocalBuildRegistry;
  /** Test speed-up: the length of one of `TimeoutInMinutesOverride`'s minutes, in milliseconds. */
  minuteMs?: number;
  /**
   * The sandbox every command of a build runs in (src/build-runner/sandbox.ts), as tfgate local found it
   * at start; none, commands run unsandboxed (and pull-request plans are refused unless allowed).
   */
  sandbox?: { bwrap: string; disableNestedUserNamespaces: boolean };
  /** Without a sandbox: plan pull requests anyway (`tfgate local --unsandboxed-builds`). */
  unsandboxedPullRequests?: boolean;
  /**
   * What of the user's machine deploy builds see, read-only (tfgate.yaml `terraform.sandbox.readOnly`,
   * `~/` already resolved against the user's home). Pull-request plans never get any.
   */
  readOnly?: Array<{ source: string; target: string }>;
  /** Receives each output line as it happens (live progress). */
  onOutput?: (
    build: { id: string; project: string; runId: string; environment: string; mode: string },
    line: string,
  ) => void;
}

let buildCounter = 0;

interface RunningBuild {
  project: string;
  runId: string;
  environment: string;
  mode: string;
  stop(): void;
  ended: Promise<void>;
}

/** CodeBuild's StopBuild for local builds: finds a stage's running build by its overrides, as in AWS. */
export class LocalBuildRegistry implements BuildController {
  private readonly running = new Map<string, RunningBuild>();

  track(id: string, build: RunningBuild): void {
    this.running.set(id, build);
    void build.ended.then(() => this.running.delete(id));
  }

  async stopStageBuilds(query: StageBuildQuery, waitMs: number): Promise<{ stopped: number; stillRunning: number }> {
    const matching = [...this.running.values()].filter(
      (b) =>
        b.project === query.projectName &&
        b.runId === query.runId &&
        b.environment === query.environment &&
        b.mode === query.mode,
    );
    for (const build of matching) build.stop();
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), waitMs)));
    await Promise.race([Promise.all(matching.map((b) => b.ended)), gaveUp]);
    clearTimeout(timer);
    const stillRunning = matching.filter((b) => [...this.running.values()].includes(b)).length;
    return { stopped: matching.length, stillRunning };
  }
}

export function createLocalCodeBuild(options: LocalCodeBuildOptions): LocalCodeBuild {
  return async (params: CodeBuildStartParams, signal: AbortSignal): Promise<LocalBuild> => {
    const overrides = Object.fromEntries(
      (params.EnvironmentVariablesOverride ?? []).map((v) => [v.Name, String(v.Value)]),
    );
    const runId = overrides.TFGATE_RUN_ID ?? 'unknown';
    const environment = overrides.TFGATE_ENVIRONMENT ?? 'unknown';
    const mode = overrides.TFGATE_MODE ?? 'unknown';
    const repository = overrides.TFGATE_REPOSITORY ?? '';
    buildCounter += 1;
    const id = `${params.ProjectName}:${runId}-${environment}-${mode}-${buildCounter}`;
    const startTime = new Date().toISOString();
    if (signal.aborted) return { Id: id, BuildStatus: 'STOPPED', StartTime: startTime, EndTime: startTime };
    const kind = buildKindOfProject(params.ProjectName) ?? 'unknown';
    // Code nobody reviewed, on a machine where no sandbox can be made: not run unless the user said so.
    if (kind === 'pr-plan' && !options.sandbox && !options.unsandboxedPullRequests)
      return {
        Id: id,
        BuildStatus: 'FAILED',
        StartTime: startTime,
        EndTime: new Date().toISOString(),
        ProjectName: params.ProjectName,
        Error: UNSANDBOXED_PULL_REQUEST_REFUSED,
      };

    // Appended as the runner prints: the run page reads its end while the build runs (file-build-logs.ts).
    const logFile = localBuildLogFile(options.logsDir, runId, environment, mode);
    await mkdir(path.dirname(logFile), { recursive: true });
    const slot = options.buildsDir
      ? await openBuildSlot(options.buildsDir, options.userEnv?.TMPDIR || os.tmpdir())
      : undefined;
    const log = createWriteStream(logFile, { flags: 'a' });
    const env: NodeJS.ProcessEnv = {
      ...(options.userEnv ?? { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR }),
      ...options.extraEnv,
      ...overrides,
      TFGATE_ARTIFACTS: options.artifactsDir,
      TFGATE_TERRAFORM: options.terraform,
      TFGATE_STATE_DIR: options.stateDirFor(repository),
      TF_IN_AUTOMATION: '1',
      TF_INPUT: '0',
      TFGATE_PARENT_PID: String(process.pid),
      ...(options.cacheDir ? { TFGATE_INIT_CACHE: options.cacheDir } : {}),
      ...(slot ? { TMPDIR: slot.tmpDir } : {}),
      // What CodeBuild sets per project in AWS: the kind is the project's, never the run's to choose.
      TFGATE_BUILD_KIND: kind,
      ...(options.sandbox
        ? {
            TFGATE_SANDBOX: JSON.stringify({
              ...options.sandbox,
              // The user's files are for reviewed deploy builds only.
              readOnly: kind === 'pr-plan' ? [] : (options.readOnly ?? []),
            }),
          }
        : {}),
    };
    // detached: the runner leads its own process group, which terraform and its children join.
    const child = spawn(process.execPath, [options.runnerFile], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    // Nothing may be awaited until the exit listeners below are on: a runner that ends during an await
    // (a quick build while the file system is busy) emits 'close' to nobody, and the build never ends.
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
      child.once('close', (code, exitSignal) => resolve({ code, signal: exitSignal }));
    });
    const info = { id, project: params.ProjectName, runId, environment, mode };
    const forward = (chunk: Buffer) => {
      log.write(chunk);
      if (options.onOutput)
        for (const line of chunk.toString('utf8').split('\n')) if (line) options.onOutput(info, line);
    };
    child.stdout.on('data', forward);
    child.stderr.on('data', forward);
    // What the runner said last on stderr is why it failed when it could not store a result file
    // (artifacts unwritable, killed mid-write): the build record carries it, as a log excerpt would.
    let stderrTail = '';
    child.stderr.on('data', (chunk: Buffer) => (stderrTail = `${stderrTail}${chunk.toString('utf8')}`.slice(-4000)));
    // StopBuild: the whole process group goes, terraform included.
    let stoppedBy: 'request' | 'timeout' | undefined;
    const stop = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    };
    signal.addEventListener('abort', stop, { once: true });
    // Stopped while the slot and log were being prepared: the listener came too late to hear it.
    if (signal.aborted) stop();
    // CodeBuild ends a build that passes TimeoutInMinutesOverride itself and reports TIMED_OUT.
    const minutes = params.TimeoutInMinutesOverride;
    const timeout =
      minutes !== undefined
        ? setTimeout(
            () => {
              stoppedBy ??= 'timeout';
              stop();
            },
            minutes * (options.minuteMs ?? 60_000),
          )
        : undefined;
    options.registry?.track(id, {
      project: params.ProjectName,
      runId,
      environment,
      mode,
      stop: () => {
        stoppedBy ??= 'request';
        stop();
      },
      ended: exited.then(() => undefined),
    });
    if (slot && child.pid) await slot.started(child.pid);
    const exit = await exited;
    clearTimeout(timeout);
    signal.removeEventListener('abort', stop);
    // Whatever is left of the group goes (sandboxed commands ended with their namespaces already).
    await slot?.cleanUp().catch(() => undefined);
    await new Promise<void>((resolve) => log.end(resolve));
    const endTime = new Date().toISOString();
    const status: LocalBuild['BuildStatus'] =
      signal.aborted || stoppedBy === 'request'
        ? 'STOPPED'
        : stoppedBy === 'timeout'
          ? 'TIMED_OUT'
          : exit.code === 0
            ? 'SUCCEEDED'
            : 'FAILED';
    return {
      Id: id,
      BuildStatus: status,
      StartTime: startTime,
      EndTime: endTime,
      ProjectName: params.ProjectName,
      Logs: { DeepLink: logFile },
      ...(exit.error
        ? { Error: exit.error.message }
        : status !== 'SUCCEEDED' && lastLine(stderrTail)
          ? { Error: lastLine(stderrTail) }
          : {}),
      ...(exit.signal ? { Signal: exit.signal } : {}),
    };
  };
}

export const UNSANDBOXED_PULL_REQUEST_REFUSED =
  'pull-request plans are refused: no sandbox can be made on this machine (see the notice tfgate local printed ' +
  'at start), and a pull request runs code nobody has reviewed. Start tfgate local with --unsandboxed-builds to ' +
  'plan them anyway.';

function lastLine(text: string): string | undefined {
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .pop();
  return line ? line.slice(0, 1000) : undefined;
}
