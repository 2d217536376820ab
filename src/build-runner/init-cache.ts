/**
 * `terraform init` once per commit, not once per build: locally the four builds of a push run (plan and
 * apply of each environment) unpack the same source, write the same backend override and would run
 * the same init. The runner keeps what init left in the root (`.terraform/` and the lock file) in
 * TFGATE_INIT_CACHE, keyed by everything init reads: the source archive's sha256, the Terraform root
 * inside it, the state directory (the backend override), the lock file as the build has it before
 * init, the terraform binary and whether the build is a pull request's. A later build with the same key
 * copies the snapshot in and skips init; anything else (another commit, a changed lock file)
 * initialises again.
 *
 * Providers: with a committed lock file, builds sharing it share TF_PLUGIN_CACHE_DIR
 * (`plugins/<sha256 of the lock file>`). Terraform does not promise a plugin cache is safe for
 * concurrent inits, so every init that uses one runs under one lock per lock file; a build of the
 * same commit waiting on that lock finds the snapshot afterwards and skips init. Terraform checks the
 * providers it runs against the lock file's hashes, so a tampered cache entry fails instead of running.
 *
 * Trust: the snapshot is taken by the runner right after init and before plan or apply runs any of the
 * commit's code, and only builds of that same commit (same archive sha256) use it; a pull request's
 * snapshots only pull-request builds. The runner copies it, before the build's sandbox starts, into
 * a data directory that does not exist yet (created exclusively, every file O_EXCL|O_NOFOLLOW), and
 * takes a snapshot only once the init's sandbox has ended, so no process of the build is alive to
 * swap a path under either copy. No file is ever chowned.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, readlink, rename, rm, stat, symlink, unlink } from 'node:fs/promises';
import path from 'node:path';
import { TfgateError } from '../domain/errors.js';
import type { LogSink } from './process.js';

export const LOCK_FILE = '.terraform.lock.hcl';
const SNAPSHOT_DATA_DIR = 'terraform-data';
const SNAPSHOT_LOCK_FILE = 'lock.hcl';

export class InitCacheError extends TfgateError {
  override name = 'InitCacheError';
}

export interface InitKeyParts {
  sourceSha256: string;
  directory: string;
  stateDir: string | undefined;
  /** The lock file the build has before init (committed, or the plan's for an apply); none, undefined. */
  lockFile: Buffer | undefined;
  terraform: { path: string; size: number; mtimeMs: number };
  /** `pull-request` or `deploy`: a pull request's init never serves a deploy build. */
  variant: string;
}

export function initCacheKey(parts: InitKeyParts): string {
  const hash = createHash('sha256');
  for (const part of [
    'tfgate-init-v1',
    parts.sourceSha256,
    parts.directory,
    parts.stateDir ?? '',
    parts.lockFile ? createHash('sha256').update(parts.lockFile).digest('hex') : 'no-lock-file',
    `${parts.terraform.path}:${parts.terraform.size}:${parts.terraform.mtimeMs}`,
    parts.variant,
  ]) {
    hash.update(part).update('\0');
  }
  return hash.digest('hex');
}

export function lockFileHash(lockFile: Buffer): string {
  return createHash('sha256').update(lockFile).digest('hex');
}

/** Where builds sharing a lock file share providers. */
export function pluginCacheDir(cacheDir: string, lockFile: Buffer): string {
  return path.join(cacheDir, 'plugins', lockFileHash(lockFile));
}

export interface InitCacheRequest {
  cacheDir: string;
  key: string;
  /** Serialises inits sharing a plugin cache (the lock file's hash), or of one commit (the key). */
  lockName: string;
  /** The Terraform root (its lock file is restored and kept). */
  root: string;
  /** Terraform's data directory (`.terraform`, or what the sandbox mounts there): must not exist yet. */
  dataDir: string;
  log: LogSink;
  signal?: AbortSignal;
  /** Runs `terraform init`; throws on failure (nothing is cached then). */
  init(): Promise<void>;
}

/** Restores the snapshot for `key`, or runs init and stores one. Resolves to whether init was skipped. */
export async function initialiseOnce(request: InitCacheRequest): Promise<'reused' | 'initialised'> {
  const entry = path.join(request.cacheDir, 'init', request.key);
  return withFileLock(path.join(request.cacheDir, 'locks', `${request.lockName}.lock`), request.signal, async () => {
    if (await restoreSnapshot(entry, request.root, request.dataDir)) {
      request.log.write(
        `tfgate: terraform init skipped: this commit was initialised for this lock file and backend before ` +
          `(${request.key.slice(0, 12)})\n`,
      );
      return 'reused';
    }
    await mkdir(request.dataDir);
    await request.init();
    await saveSnapshot(request.root, request.dataDir, entry).catch((error: Error) =>
      request.log.write(`tfgate: could not keep the initialised directory: ${error.message}\n`),
    );
    return 'initialised';
  });
}

async function restoreSnapshot(entry: string, root: string, dataDir: string): Promise<boolean> {
  const data = path.join(entry, SNAPSHOT_DATA_DIR);
  if (!(await lstat(data).catch(() => undefined))?.isDirectory()) return false;
  // Provider links into a plugin cache that was removed since: initialise again instead.
  if (!(await linksResolve(path.join(data, 'providers')))) {
    await rm(entry, { recursive: true, force: true });
    return false;
  }
  await copyTreeExclusive(data, dataDir);
  const lock = await readFile(path.join(entry, SNAPSHOT_LOCK_FILE)).catch(() => undefined);
  if (lock) {
    await unlink(path.join(root, LOCK_FILE)).catch(() => undefined);
    await writeExclusive(path.join(root, LOCK_FILE), lock, 0o644);
  }
  return true;
}

async function saveSnapshot(root: string, dataDir: string, entry: string): Promise<void> {
  const data = await lstat(dataDir).catch(() => undefined);
  // A data directory that is a link (or missing) is not what init makes: nothing to keep.
  if (!data?.isDirectory()) return;
  const scratch = `${entry}.${randomBytes(6).toString('hex')}.tmp`;
  await mkdir(path.dirname(scratch), { recursive: true, mode: 0o700 });
  await mkdir(scratch, { mode: 0o700 });
  try {
    await copyTreeExclusive(dataDir, path.join(scratch, SNAPSHOT_DATA_DIR));
    const lockFile = await readNoFollow(path.join(root, LOCK_FILE));
    if (lockFile) await writeExclusive(path.join(scratch, SNAPSHOT_LOCK_FILE), lockFile, 0o600);
    // Complete or absent: readers only ever see a renamed, finished snapshot.
    await rename(scratch, entry);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Copies a tree into `to`, which must not exist: directories are made exclusively, links copied as
 * links (never followed, in the source or the target), files created with O_EXCL|O_NOFOLLOW with their
 * permission bits. Anything already at a name, or appearing there meanwhile, fails the copy instead
 * of being written through. Sockets, devices and fifos are left out.
 */
export async function copyTreeExclusive(from: string, to: string): Promise<void> {
  await mkdir(to, { mode: 0o700 });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    const target = path.join(to, entry.name);
    if (entry.isSymbolicLink()) await symlink(await readlink(source), target);
    else if (entry.isDirectory()) await copyTreeExclusive(source, target);
    else if (entry.isFile()) {
      const handle = await open(source, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
      try {
        const info = await handle.stat();
        if (!info.isFile()) continue;
        await writeExclusive(target, await handle.readFile(), info.mode & 0o777);
      } finally {
        await handle.close();
      }
    }
  }
  const mode = (await lstat(from)).mode & 0o777;
  await open(to, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW).then(async (handle) => {
    try {
      await handle.chmod(mode | 0o700);
    } finally {
      await handle.close();
    }
  });
}

async function writeExclusive(file: string, body: Buffer, mode: number): Promise<void> {
  const handle = await open(
    file,
    fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW,
    mode,
  );
  try {
    await handle.writeFile(body);
    // The umask took bits away (an executable provider keeps its x).
    await handle.chmod(mode);
  } finally {
    await handle.close();
  }
}

async function readNoFollow(file: string): Promise<Buffer | undefined> {
  const handle = await open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW).catch(() => undefined);
  if (!handle) return undefined;
  try {
    return (await handle.stat()).isFile() ? await handle.readFile() : undefined;
  } finally {
    await handle.close();
  }
}

async function linksResolve(dir: string): Promise<boolean> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isSymbolicLink()) continue;
    const ok = await stat(path.join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name)).then(
      () => true,
      () => false,
    );
    if (!ok) return false;
  }
  return true;
}

const LOCK_POLL_MS = 20;
/** Longer than any init should take (large providers on a slow link); a dead holder's lock is taken over at once. */
const LOCK_WAIT_MS = 15 * 60_000;

/**
 * A lock between build processes: a file created exclusively, holding the holder's pid. A holder that
 * died (killed build) leaves it behind; the next build finds the pid gone and takes the lock over.
 */
export async function withFileLock<T>(
  lockPath: string,
  signal: AbortSignal | undefined,
  body: () => Promise<T>,
): Promise<T> {
  await mkdir(path.dirname(lockPath), { recursive: true, mode: 0o700 });
  const started = Date.now();
  for (;;) {
    if (signal?.aborted)
      throw new InitCacheError('interrupted while waiting for another build to finish terraform init');
    try {
      const handle = await open(lockPath, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new InitCacheError(`could not take ${lockPath}: ${(error as Error).message}`, { cause: error });
    }
    const holder = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(holder) && holder > 0 && !isAlive(holder)) {
      await unlink(lockPath).catch(() => undefined);
      continue;
    }
    if (Date.now() - started > LOCK_WAIT_MS)
      throw new InitCacheError(
        `another build (pid ${holder}) has held ${lockPath} for ${LOCK_WAIT_MS / 60_000} minutes`,
      );
    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
  }
  try {
    return await body();
  } finally {
    await unlink(lockPath).catch(() => undefined);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
