/**
 * The local ArtifactStore: one file per key under a root directory. Keys come from run ids and
 * environment names, so every key is checked before it touches a path; writes land in a temporary
 * file first and are renamed into place, so a reader never sees half an artifact.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ArtifactStore, ArtifactWriteOptions } from '../../domain/ports.js';
import {
  ArtifactExistsError,
  assertArtifactKey,
  InvalidArtifactKeyError,
  InvalidArtifactLocationError,
} from '../../domain/artifact-keys.js';

export { assertArtifactKey, InvalidArtifactKeyError } from '../../domain/artifact-keys.js';

export class FsArtifactStore implements ArtifactStore {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  async put(key: string, body: Buffer | string, _contentType?: string, options?: ArtifactWriteOptions): Promise<void> {
    const target = this.pathFor(key);
    await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
    const temporary = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      // Plans hold values from the Terraform state: owner-only, whatever the umask says.
      await writeFile(temporary, body, { mode: 0o600 });
      if (options?.createOnly) {
        // link() refuses an existing target atomically, as S3 refuses If-None-Match: *.
        await link(temporary, target).catch((error: NodeJS.ErrnoException) => {
          if (error.code === 'EEXIST') throw new ArtifactExistsError(`artifact ${key} already exists`);
          throw error;
        });
        await rm(temporary, { force: true });
      } else {
        await rename(temporary, target);
      }
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.pathFor(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  pathFor(key: string): string {
    assertArtifactKey(key);
    const target = path.resolve(this.root, ...key.split('/'));
    // The key check already rules escapes out; this is the second lock on the same door.
    if (!target.startsWith(this.root + path.sep))
      throw new InvalidArtifactKeyError(`artifact key ${JSON.stringify(key)} leaves the store`);
    return target;
  }
}

export { InvalidArtifactLocationError } from '../../domain/artifact-keys.js';

/** A directory location (the local artifact store); URLs other than s3:// are refused, not taken as paths. */
export function directoryArtifactStore(location: string, cwd = process.cwd()): FsArtifactStore {
  if (location === '') throw new InvalidArtifactLocationError('the artifact location is empty');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new InvalidArtifactLocationError(
      `unsupported artifact location ${JSON.stringify(location)}: use s3://bucket/prefix or a directory`,
    );
  }
  return new FsArtifactStore(path.resolve(cwd, location));
}
