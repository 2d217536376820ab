/**
 * Terraform providers from a shared cache (S3 in AWS, a directory locally), keyed by the
 * repository's committed `.terraform.lock.hcl`: a build downloads providers once per lock file, not
 * once per build, whichever host it lands on.
 *
 * Trust: terraform checks every provider it takes from TF_PLUGIN_CACHE_DIR against the lock file's
 * hashes, so a damaged or planted archive fails `init` instead of running. On top of that only apply
 * builds (reviewed, approved code) fill the cache; plans, which run code nobody has reviewed yet,
 * only read it. Without a lock file nothing is shared (lessons: share a provider cache only with a
 * committed lock file).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ArtifactStore } from '../domain/ports.js';
import type { LogSink } from './process.js';

const run = promisify(execFile);

export const LOCK_FILE = '.terraform.lock.hcl';

export type CacheOutcome = { state: 'hit' | 'miss'; key: string } | { state: 'off'; why: string };

export interface ProviderCacheOptions {
  store: ArtifactStore | undefined;
  /** TF_PLUGIN_CACHE_DIR; no directory, no cache. */
  pluginCacheDir: string | undefined;
  log: LogSink;
}

/** `providers/<sha256 of the lock file>-<os>_<arch>.tar.gz`: one archive per lock file and platform. */
export function providerCacheKey(lockFile: Buffer, platform = `${os.platform()}_${os.arch()}`): string {
  return `providers/${createHash('sha256').update(lockFile).digest('hex')}-${platform}.tar.gz`;
}

export async function restoreProviders(root: string, options: ProviderCacheOptions): Promise<CacheOutcome> {
  if (!options.store || !options.pluginCacheDir) return { state: 'off', why: 'no cache configured' };
  const lockFile = await readFile(path.join(root, LOCK_FILE)).catch(() => undefined);
  if (!lockFile) return { state: 'off', why: `no committed ${LOCK_FILE}` };
  const key = providerCacheKey(lockFile);
  try {
    const archive = await options.store.get(key);
    if (!archive) return { state: 'miss', key };
    await mkdir(options.pluginCacheDir, { recursive: true });
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'tfgate-providers-'));
    try {
      const file = path.join(scratch, 'providers.tar.gz');
      await writeFile(file, archive);
      // GNU tar drops leading "/" and refuses ".." members; owners from the archive are ignored.
      await run('tar', ['-xzf', file, '-C', options.pluginCacheDir, '--no-same-owner']);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
    options.log.write(`tfgate: providers restored from the cache (${key})\n`);
    return { state: 'hit', key };
  } catch (error) {
    // The cache only saves time: on any trouble, init downloads as if it were empty.
    options.log.write(`tfgate: provider cache not used: ${(error as Error).message}\n`);
    return { state: 'miss', key };
  }
}

/** After a successful init that missed the cache: store what init downloaded. Best effort. */
export async function saveProviders(outcome: CacheOutcome, options: ProviderCacheOptions): Promise<boolean> {
  if (outcome.state !== 'miss' || !options.store || !options.pluginCacheDir) return false;
  try {
    const entries = await readdir(options.pluginCacheDir).catch(() => []);
    if (entries.length === 0) return false;
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'tfgate-providers-'));
    try {
      const file = path.join(scratch, 'providers.tar.gz');
      await run('tar', ['-czf', file, '-C', options.pluginCacheDir, '.']);
      await options.store.put(outcome.key, await readFile(file), 'application/gzip');
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
    options.log.write(`tfgate: providers stored in the cache (${outcome.key})\n`);
    return true;
  } catch (error) {
    options.log.write(`tfgate: could not store providers in the cache: ${(error as Error).message}\n`);
    return false;
  }
}
