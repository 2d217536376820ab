/**
 * Puts exactly one commit's files into an empty directory, from the source archive the pipeline stored
 * (`sources/<repo>/<sha>.tar.gz`) before any build ran. Builds hold no GitHub credential and fetch
 * nothing: the archive's sha256, computed by the pipeline, is checked before a byte of it is used.
 */
import { createHash } from 'node:crypto';
import { mkdir, realpath, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sourceArchiveKey } from '../domain/builds.js';
import type { ArtifactStore } from '../domain/ports.js';
import type { CommandResult, LogSink } from './process.js';
import type { SandboxMount } from './sandbox.js';
import { extractTerraformError } from './text.js';
import { TfgateError } from '../domain/errors.js';

export class BuildStepError extends TfgateError {
  override name = 'BuildStepError';
  constructor(
    readonly step: string,
    message: string,
    readonly terraformExitCode?: number,
  ) {
    super(message);
  }
}

export interface UnpackRequest {
  tar: string;
  repository: string;
  sha: string;
  /** The sha256 the pipeline computed when it stored the archive. */
  sourceSha256: string;
  directory: string;
  workDir: string;
  checkoutDir: string;
}

export interface UnpackTools {
  artifacts: ArtifactStore;
  log: { stdout: LogSink; stderr: LogSink };
  /** Runs a command (in the build's sandbox when there is one) seeing the mounts given besides the system. */
  run(command: string, args: string[], options: { cwd: string; mounts: SandboxMount[] }): Promise<CommandResult>;
}

/** Fetches the archive from the artifact store, checks it, unpacks it; returns the real path of the Terraform root. */
export async function unpackSource(request: UnpackRequest, tools: UnpackTools): Promise<string> {
  const key = sourceArchiveKey(request.repository, request.sha);
  const archive = await tools.artifacts.get(key).catch((error: Error) => {
    throw new BuildStepError('source', `could not read the source archive ${key}: ${error.message}`);
  });
  if (!archive) throw new BuildStepError('source', `no source archive at ${key}: the pipeline did not store one`);
  const actual = createHash('sha256').update(archive).digest('hex');
  if (actual !== request.sourceSha256) {
    throw new BuildStepError(
      'source',
      `the source archive's sha256 is ${actual}, but the pipeline stored ${request.sourceSha256}; refusing to build it`,
    );
  }
  const archiveFile = path.join(request.workDir, 'source.tar.gz');
  await writeFile(archiveFile, archive);
  await mkdir(request.checkoutDir, { recursive: true, mode: 0o700 });
  tools.log.stdout.write(`tfgate: source ${request.repository}@${request.sha} (archive sha256 ${actual})\n`);

  let result: CommandResult;
  try {
    // In the sandbox tar sees the archive and the (empty) checkout, nothing else to write through.
    result = await tools.run(
      request.tar,
      // One top-level directory in every archive (GitHub's owner-repo-sha/, git archive's source/).
      // Owners and permission bits from the archive are not taken over.
      [
        '-x',
        '-z',
        '-f',
        archiveFile,
        '-C',
        request.checkoutDir,
        '--strip-components=1',
        '--no-same-owner',
        '--no-same-permissions',
      ],
      {
        cwd: request.checkoutDir,
        mounts: [
          { kind: 'ro', source: archiveFile, target: archiveFile },
          { kind: 'rw', source: request.checkoutDir, target: request.checkoutDir },
        ],
      },
    );
  } catch (error) {
    throw new BuildStepError('source', (error as Error).message);
  }
  if (result.exitCode !== 0) {
    throw new BuildStepError(
      'source',
      `could not unpack the source archive: ` +
        `${extractTerraformError(result.stderr, result.output) ?? `tar exited with ${result.exitCode}`}`,
    );
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
    throw new BuildStepError(
      'checkout',
      `directory ${JSON.stringify(directory)} resolves outside the repository (a symbolic link?)`,
    );
  }
  if (!(await stat(real)).isDirectory())
    throw new BuildStepError('checkout', `${JSON.stringify(directory)} in commit ${sha} is not a directory`);
  return real;
}
