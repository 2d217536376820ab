/**
 * What `tfgate local` keeps private from the code it plans. Keys and secrets live in `<data>/secrets/`
 * (0700, files 0600), outside every directory a build is given (state, its work directory). When
 * tfgate local runs as root, builds run terraform as an unprivileged account (`nobody`), which can
 * reach its repository's state directory and nothing else of the data directory.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';

export interface BuildUser {
  uid: number;
  gid: number;
}

/** Under root: the `nobody` account (from /etc/passwd, 65534 otherwise). Otherwise none: builds run as the user. */
export function defaultBuildUser(): BuildUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((entry) => entry.startsWith('nobody:'));
    const [, , uid, gid] = line?.split(':') ?? [];
    if (uid && gid && Number(uid) > 0 && Number(gid) > 0) return { uid: Number(uid), gid: Number(gid) };
  } catch {
    // No passwd file: the conventional id below.
  }
  return { uid: 65534, gid: 65534 };
}

/**
 * Owner-only directories of tfgate's own, so a build account that can pass through the data directory sees none of
 * them.
 */
const PRIVATE_DIRECTORIES = ['secrets', 'artifacts', 'logs', 'dynamo', 'run', 'repos'];

/**
 * With a build account: the data directory may be passed through (0711) but not listed, every
 * directory of tfgate's own is owner-only, and the state directory tree belongs to the build account.
 */
export async function protectDataDirectory(
  dataDir: string,
  stateRoot: string,
  user: BuildUser | undefined,
): Promise<void> {
  for (const name of PRIVATE_DIRECTORIES) await setMode(path.join(dataDir, name), 0o700);
  if (!user) return;
  await setMode(dataDir, 0o711);
  await setMode(stateRoot, 0o711);
  for (const entry of await readdir(stateRoot).catch(() => [] as string[]))
    await chownTree(path.join(stateRoot, entry), user).catch(() => undefined);
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

async function chownTree(target: string, user: BuildUser): Promise<void> {
  const info = await lstat(target);
  if (info.isSymbolicLink()) return;
  await chown(target, user.uid, user.gid);
  if (info.isDirectory()) for (const entry of await readdir(target)) await chownTree(path.join(target, entry), user);
}

/**
 * Whether the build account can reach the state directory and run terraform: a data directory inside
 * a directory others may not pass through (root's home, 0700) cannot be used by it. Asked of the
 * system itself, as that account, so every ancestor and ACL counts.
 */
export function buildUserCanReach(user: BuildUser, stateRoot: string, terraform: string): boolean {
  const probe = spawnSync('/bin/sh', ['-c', 'cd "$1" && test -x "$2"', 'sh', stateRoot, terraform], {
    uid: user.uid,
    gid: user.gid,
    stdio: 'ignore',
    timeout: 10_000,
  });
  return probe.status === 0;
}
