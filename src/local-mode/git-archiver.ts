/**
 * Local mode's SourceArchiver: `git archive` of one commit of a configured repository, from its
 * configured location (the local bare repository by default, or `cloneUrl`), never from a URL a
 * payload named. git runs as the user running tfgate local, with that user's own git credentials, if
 * any; tfgate hands git no token. Builds then receive the archive, not the repository.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TfgateConfig } from '../config/load.js';
import { findRepository } from '../config/resolved.js';
import { TfgateError } from '../domain/errors.js';
import type { SourceArchiver } from '../domain/ports.js';

const run = promisify(execFile);
const MAX_ARCHIVE_BYTES = 512 * 1024 * 1024;
// Transports that run local programs stay off whatever the machine's config says, and hooks never run.
const SAFE_GIT_CONFIG = [
  '-c',
  'protocol.ext.allow=never',
  '-c',
  'protocol.fd.allow=never',
  '-c',
  'core.hooksPath=/dev/null',
];

export class SourceFetchError extends TfgateError {
  override name = 'SourceFetchError';
}

export class GitSourceArchiver implements SourceArchiver {
  constructor(
    private readonly config: TfgateConfig,
    /** Where a repository's commits come from when its configuration names no cloneUrl. */
    private readonly defaultLocation: (repository: string) => string,
  ) {}

  async archive(repositoryName: string, sha: string): Promise<Buffer> {
    const repository = findRepository(this.config, repositoryName);
    if (!repository) throw new SourceFetchError(`repository ${JSON.stringify(repositoryName)} is not configured`);
    if (!/^[0-9a-f]{40}$/.test(sha)) throw new SourceFetchError(`not a commit id: ${JSON.stringify(sha)}`);
    const location = repository.cloneUrl ?? this.defaultLocation(repository.name);
    if (location.startsWith('-')) throw new SourceFetchError(`${repository.name}: cloneUrl must not start with "-"`);
    const shown = location.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
    try {
      if (await isDirectory(location)) {
        const worktreeGitDir = path.join(location, '.git');
        return await archiveFrom((await isDirectory(worktreeGitDir)) ? worktreeGitDir : location, sha);
      }
      const scratch = await mkdtemp(path.join(os.tmpdir(), 'tfgate-source-'));
      try {
        await git(['init', '-q', '--bare', scratch]);
        await git([
          '--git-dir',
          scratch,
          '-c',
          'protocol.version=2',
          'fetch',
          '-q',
          '--depth',
          '1',
          '--no-tags',
          '--no-recurse-submodules',
          '--',
          location,
          sha,
        ]);
        return await archiveFrom(scratch, sha);
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    } catch (error) {
      const detail = ((error as { stderr?: string }).stderr || (error as Error).message)
        .trim()
        .split('\n')
        .slice(-3)
        .join(' ')
        .slice(0, 500);
      throw new SourceFetchError(
        `could not fetch commit ${sha} of ${repository.name} from ${shown} (is it pushed?): ${detail}`,
      );
    }
  }
}

async function archiveFrom(gitDir: string, sha: string): Promise<Buffer> {
  // The commit object must exist as such: a tag or tree id of the same length is refused.
  await git(['--git-dir', gitDir, 'cat-file', '-e', `${sha}^{commit}`]);
  const { stdout } = await run(
    'git',
    [...SAFE_GIT_CONFIG, '--git-dir', gitDir, 'archive', '--format=tar.gz', '--prefix=source/', sha],
    {
      encoding: 'buffer',
      maxBuffer: MAX_ARCHIVE_BYTES,
      env: gitEnv(),
    },
  );
  return stdout;
}

async function git(args: string[]): Promise<void> {
  await run('git', [...SAFE_GIT_CONFIG, ...args], { env: gitEnv(), maxBuffer: 16 * 1024 * 1024 });
}

function gitEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GIT_TERMINAL_PROMPT: '0' };
}

async function isDirectory(location: string): Promise<boolean> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location) || /^[^/]+@[^/]+:/.test(location)) return false;
  return stat(location).then(
    (s) => s.isDirectory(),
    () => false,
  );
}
