import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LOCK_FILE, providerCacheKey, restoreProviders, saveProviders } from '../../src/build-runner/provider-cache.js';
import { directoryArtifactStore } from '../../src/adapters/fs/artifact-store.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});
const tempDir = async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-cache-test-'));
  dirs.push(dir);
  return dir;
};
const log = {
  lines: [] as string[],
  write(text: string) {
    this.lines.push(text);
    return true;
  },
};

const PROVIDER = 'registry.terraform.io/hashicorp/null/3.2.3/linux_arm64/terraform-provider-null_v3.2.3_x5';

describe('provider cache keyed by the lock file', () => {
  it('misses, is filled after init, then gives a second build (another host) the same providers', async () => {
    const store = directoryArtifactStore(await tempDir());
    const root = await tempDir();
    await writeFile(
      path.join(root, LOCK_FILE),
      'provider "registry.terraform.io/hashicorp/null" { version = "3.2.3" }\n',
    );

    const firstHost = await tempDir();
    const first = await restoreProviders(root, { store, pluginCacheDir: firstHost, log });
    expect(first.state).toBe('miss');
    // What `terraform init` would have downloaded into TF_PLUGIN_CACHE_DIR.
    await mkdir(path.dirname(path.join(firstHost, PROVIDER)), { recursive: true });
    await writeFile(path.join(firstHost, PROVIDER), 'provider binary');
    expect(await saveProviders(first, { store, pluginCacheDir: firstHost, log })).toBe(true);
    expect(await store.get(providerCacheKey(await readFile(path.join(root, LOCK_FILE))))).toBeDefined();

    const secondHost = await tempDir();
    const second = await restoreProviders(root, { store, pluginCacheDir: secondHost, log });
    expect(second.state).toBe('hit');
    expect(await readFile(path.join(secondHost, PROVIDER), 'utf8')).toBe('provider binary');
    // A hit is never written back.
    expect(await saveProviders(second, { store, pluginCacheDir: secondHost, log })).toBe(false);
  });

  it('another lock file is another key; no lock file, no cache', async () => {
    expect(providerCacheKey(Buffer.from('a'))).not.toBe(providerCacheKey(Buffer.from('b')));
    expect(providerCacheKey(Buffer.from('a'), 'linux_arm64')).toMatch(/^providers\/[0-9a-f]{64}-linux_arm64\.tar\.gz$/);
    const store = directoryArtifactStore(await tempDir());
    const outcome = await restoreProviders(await tempDir(), { store, pluginCacheDir: await tempDir(), log });
    expect(outcome).toEqual({ state: 'off', why: `no committed ${LOCK_FILE}` });
  });

  it('a damaged archive is reported and treated as a miss, never as a failure', async () => {
    const storeDir = await tempDir();
    const store = directoryArtifactStore(storeDir);
    const root = await tempDir();
    await writeFile(path.join(root, LOCK_FILE), 'lock');
    await store.put(providerCacheKey(Buffer.from('lock')), 'not a tarball');
    const outcome = await restoreProviders(root, { store, pluginCacheDir: await tempDir(), log });
    expect(outcome.state).toBe('miss');
    expect(log.lines.join('')).toMatch(/provider cache not used/);
  });
});
