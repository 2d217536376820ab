/**
 * Puts exactly one commit into an empty directory. `git fetch <url> <sha>` instead of a clone: only
 * that commit's tree comes over (depth 1), a branch that moved on since the push does not matter, and
 * nothing else of the repository lands on the build machine. Fetching an object by id needs protocol
 * version 2 (version 0 refuses "unadvertised objects" unless the server sets
 * uploadpack.allowAnySHA1InWant); it is git's default since 2.26 and is set explicitly in case a
 * machine's config says otherwise.
 */
import { mkdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { type CommandResult, type LogSink, runCommand, type SpawnFunction } from './process.js';
import { redactUrl } from './settings.js';
import { extractTerraformError } from './text.js';

export class BuildStepError extends Error {
  override name = 'BuildStepError';
  constructor(
    readonly step: string,
    message: string,
    readonly terraformExitCode?: number,
  ) {
    super(message);
  }
}

export interface CheckoutRequest {
  git: string;
  cloneUrl: string;
  sha: string;
  directory: string;
  checkoutDir: string;
  env: NodeJS.ProcessEnv;
  gitToken?: string;
  signal?: AbortSignal;
}

export interface GitTools {
  spawn: SpawnFunction;
  log: { stdout: LogSink; stderr: LogSink };
}

// Configuration for every git command: transports that run local programs stay off whatever the
// machine's config says, and hooks never run.
const SAFE_GIT_CONFIG = ['-c', 'protocol.ext.allow=never', '-c', 'protocol.fd.allow=never', '-c', 'core.hooksPath=/dev/null'];

/** Fetches and checks out the commit; returns the real path of the Terraform root inside it. */
export async function checkoutCommit(request: CheckoutRequest, tools: GitTools): Promise<string> {
  await mkdir(request.checkoutDir, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...request.env, GIT_TERMINAL_PROMPT: '0' };
  delete env['TFGATE_GIT_TOKEN'];
  const secrets: string[] = [];
  const authConfig: string[] = [];
  if (request.gitToken) {
    const basic = Buffer.from(`x-access-token:${request.gitToken}`).toString('base64');
    authConfig.push('-c', `http.extraHeader=Authorization: Basic ${basic}`);
    secrets.push(request.gitToken, basic);
  }

  const git = async (step: string, args: readonly string[], display: string, extra: { secrets?: string[]; capture?: boolean } = {}) => {
    tools.log.stdout.write(`$ git ${display}\n`);
    let result: CommandResult;
    try {
      result = await runCommand(
        tools.spawn,
        {
          command: request.git,
          args: [...SAFE_GIT_CONFIG, ...args],
          cwd: request.checkoutDir,
          env,
          secrets: extra.secrets ?? [],
          captureStdout: extra.capture ?? false,
          ...(request.signal ? { signal: request.signal } : {}),
        },
        tools.log,
      );
    } catch (error) {
      throw new BuildStepError('checkout', (error as Error).message);
    }
    if (result.exitCode !== 0) {
      const detail = extractTerraformError(result.stderr, result.output) ?? `exit code ${result.exitCode}`;
      throw new BuildStepError('checkout', `git ${step} failed: ${detail}`);
    }
    return result;
  };

  const shownUrl = redactUrl(request.cloneUrl);
  await git('init', ['init', '-q', '.'], 'init -q .');
  try {
    await git(
      'fetch',
      [...authConfig, '-c', 'protocol.version=2', 'fetch', '--depth', '1', '--no-tags', '--no-recurse-submodules', '--', request.cloneUrl, request.sha],
      `fetch --depth 1 --no-tags -- ${shownUrl} ${request.sha}`,
      { secrets: [...secrets, request.cloneUrl === shownUrl ? '' : request.cloneUrl].filter(Boolean) },
    );
  } catch (error) {
    const reason = error instanceof BuildStepError ? error.message.replace(/^git fetch failed: /, '') : (error as Error).message;
    throw new BuildStepError('checkout', `could not fetch commit ${request.sha} from ${shownUrl} (is it pushed, and can this build read the repository?): ${reason}`);
  }
  await git('checkout', ['-c', 'advice.detachedHead=false', 'checkout', '-q', '--detach', 'FETCH_HEAD'], 'checkout -q --detach FETCH_HEAD');
  const head = (await git('rev-parse', ['rev-parse', 'HEAD'], 'rev-parse HEAD', { capture: true })).stdout.trim();
  if (head !== request.sha) {
    throw new BuildStepError('checkout', `the fetched commit is ${JSON.stringify(head.slice(0, 64))}, not the requested ${request.sha}`);
  }

  return resolveTerraformRoot(request.checkoutDir, request.directory, request.sha);
}

async function resolveTerraformRoot(checkoutDir: string, directory: string, sha: string): Promise<string> {
  const checkoutReal = await realpath(checkoutDir);
  const lexical = path.resolve(checkoutReal, directory);
  if (lexical !== checkoutReal && !lexical.startsWith(checkoutReal + path.sep)) {
    throw new BuildStepError('checkout', `directory ${JSON.stringify(directory)} is outside the repository`);
  }
  let real: string;
  try {
    real = await realpath(lexical);
  } catch {
    throw new BuildStepError('checkout', `directory ${JSON.stringify(directory)} does not exist in commit ${sha}`);
  }
  // A committed symlink could point anywhere on the build machine; the root must really be inside.
  if (real !== checkoutReal && !real.startsWith(checkoutReal + path.sep)) {
    throw new BuildStepError('checkout', `directory ${JSON.stringify(directory)} resolves outside the repository (a symbolic link?)`);
  }
  if (!(await stat(real)).isDirectory()) throw new BuildStepError('checkout', `${JSON.stringify(directory)} in commit ${sha} is not a directory`);
  return real;
}
