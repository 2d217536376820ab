import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * `tfgate local`'s own secrets live in `<data>/secrets/` (directory 0700, files 0600), apart from
 * artifacts, state and repositories, which builds can read.
 */

export function secretsDir(dataDir: string): string {
  return path.join(path.resolve(dataDir), 'secrets');
}

/** The credential the tfgate CLI on this machine presents to `tfgate local` (owner-only file). */
export function localCredentialFile(dataDir: string): string {
  return path.join(secretsDir(dataDir), 'local-credential');
}

/**
 * Reads `<data>/secrets/<name>`, creating it (random, 256 bits) the first time. One left at the old
 * place (the data directory itself, before secrets had their own directory) is moved, not replaced,
 * so webhook settings keep working.
 */
export async function readOrCreateLocalSecret(dataDir: string, name: string): Promise<string> {
  const dir = secretsDir(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const file = path.join(dir, name);
  const legacy = path.join(path.resolve(dataDir), name);
  if ((await lstat(legacy).catch(() => undefined))?.isFile() && !(await lstat(file).catch(() => undefined)))
    await rename(legacy, file);
  try {
    const existing = (await readFile(file, 'utf8')).trim();
    if (existing) {
      await chmod(file, 0o600);
      return existing;
    }
  } catch {
    // Not there yet: created below.
  }
  const secret = randomBytes(32).toString('hex');
  await writeFile(file, `${secret}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return secret;
}
