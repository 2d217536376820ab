/**
 * What `tfgate local` keeps private. Keys and secrets live in `<data>/secrets/` (0700, files 0600);
 * tfgate's own directories are owner-only, so other accounts on the machine see none of them. Builds
 * never see the data directory at all: each runs in a sandbox that shows it only its own directories
 * and, for a deploy build, its environment's state (src/build-runner/sandbox.ts). Nothing here, or
 * anywhere in tfgate, changes a file's owner.
 */
import { chmod, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';

/** Owner-only directories of tfgate's own. */
const PRIVATE_DIRECTORIES = ['secrets', 'artifacts', 'logs', 'dynamo', 'run', 'repos', 'state', 'cache'];

export async function protectDataDirectory(dataDir: string): Promise<void> {
  for (const name of PRIVATE_DIRECTORIES) await setMode(path.join(dataDir, name), 0o700);
}

/**
 * Creates the directory if needed and gives it the mode, when it does not have it already. A data
 * directory that cannot be changed (a read-only disk) is left as it is: the first write says so
 * clearly later, with the file it failed on.
 */
async function setMode(dir: string, mode: number): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode });
    if (((await stat(dir)).mode & 0o777) !== mode) await chmod(dir, mode);
  } catch {
    // See above: reported by the write that needs it.
  }
}
