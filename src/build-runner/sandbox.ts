/**
 * The build sandbox: every command a local build runs (tar, terraform) runs in bubblewrap (Debian's
 * `bubblewrap`, /usr/bin/bwrap), in new user, mount, PID, IPC and UTS namespaces, in a session of its
 * own (no TIOCSTI into tfgate's terminal), with no capabilities and no way to make further user
 * namespaces. The command is the namespace's PID 1: when it exits the kernel ends every process it
 * started (an `env -i setsid` daemon included), and `--die-with-parent` ends it with the runner.
 *
 * What it sees is listed, never subtracted: a read-only system (/usr and the /lib, /bin, /sbin links
 * to it, a handful of /etc files), the terraform binary, and the mounts the runner names for the step
 * (checkout, its own temporary and home directories, the state directory a deploy build owns, the
 * plugin cache). Nothing else of the machine: no HOME, no data directory, no other build. The network
 * stays on (providers need it).
 *
 * `bwrapArguments` is pure (the host's layout is an input) so the argument list is unit-tested.
 */
import { execFile } from 'node:child_process';
import { lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';

export interface SandboxMount {
  /** ro/rw: bind `source` (a host path) at `target`; dir: an empty directory; tmpfs: an empty in-memory one. */
  kind: 'ro' | 'rw' | 'dir' | 'tmpfs';
  target: string;
  source?: string;
}

/** One top-level system path as the host has it: a directory to bind read-only, or a link to copy. */
export interface SystemEntry {
  path: string;
  symlinkTo?: string;
}

export interface SandboxSpec {
  /** The system paths (`hostSystem()`), bound read-only. */
  system: readonly SystemEntry[];
  /** What the step may see besides the system, in any order (parents are mounted before children). */
  mounts: readonly SandboxMount[];
  cwd: string;
  /** bubblewrap 0.8+: refuse nested user namespaces inside the sandbox. */
  disableNestedUserNamespaces?: boolean;
  /** File descriptor bubblewrap reports the command's pid on (the runner interrupts terraform through it). */
  infoFd?: number;
}

/** The system a build needs, read-only. Top-level directories, or links to them (merged /usr). */
export const SYSTEM_PATHS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/**
 * A minimal /etc: name resolution, TLS roots, time zone, the dynamic linker's cache, Debian's
 * alternatives links. Not /etc as a whole: under root a sandboxed process keeps root's uid, and root
 * may read its own 0600 files (shadow, ssh host keys) without any capability.
 */
export const ETC_ENTRIES = [
  '/etc/resolv.conf',
  '/etc/hosts',
  '/etc/host.conf',
  '/etc/nsswitch.conf',
  '/etc/gai.conf',
  '/etc/services',
  '/etc/protocols',
  '/etc/passwd',
  '/etc/group',
  '/etc/localtime',
  '/etc/ssl',
  '/etc/ca-certificates',
  '/etc/ca-certificates.conf',
  '/etc/pki',
  '/etc/crypto-policies',
  '/etc/alternatives',
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
];

const NAMESPACES = [
  '--unshare-user',
  '--unshare-pid',
  '--unshare-ipc',
  '--unshare-uts',
  '--unshare-cgroup-try',
  '--hostname',
  'tfgate-build',
];

const LIFETIME = ['--as-pid-1', '--die-with-parent', '--new-session', '--cap-drop', 'ALL'];

/** The bubblewrap arguments that run `command` in the sandbox described by `spec`. */
export function bwrapArguments(spec: SandboxSpec, command: readonly string[]): string[] {
  const args = [...NAMESPACES, ...LIFETIME];
  if (spec.disableNestedUserNamespaces) args.push('--disable-userns');
  if (spec.infoFd !== undefined) args.push('--info-fd', String(spec.infoFd));
  for (const entry of spec.system) {
    if (entry.symlinkTo !== undefined) args.push('--symlink', entry.symlinkTo, entry.path);
    else args.push('--ro-bind', entry.path, entry.path);
  }
  for (const file of ETC_ENTRIES) args.push('--ro-bind-try', file, file);
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
  // Parents before children: a mount on a path inside another must come after it.
  const ordered = [...spec.mounts].sort((a, b) => depth(a.target) - depth(b.target));
  for (const mount of ordered) {
    if (!path.isAbsolute(mount.target)) throw new Error(`sandbox mount target ${mount.target} is not absolute`);
    if (mount.kind === 'dir') args.push('--dir', mount.target);
    else if (mount.kind === 'tmpfs') args.push('--tmpfs', mount.target);
    else {
      if (!mount.source || !path.isAbsolute(mount.source))
        throw new Error(`sandbox mount of ${mount.target} needs an absolute source`);
      args.push(mount.kind === 'rw' ? '--bind' : '--ro-bind', mount.source, mount.target);
    }
  }
  // Whatever bubblewrap made in its own root (mount points) stays as it is.
  args.push('--remount-ro', '/', '--chdir', spec.cwd, '--', ...command);
  return args;
}

function depth(target: string): number {
  return path.normalize(target).split('/').filter(Boolean).length;
}

let system: SystemEntry[] | undefined;

/** The host's system paths, read once per process: which exist, and which are links (merged /usr). */
export function hostSystem(): SystemEntry[] {
  if (system) return system;
  const found: SystemEntry[] = [];
  for (const entry of SYSTEM_PATHS) {
    try {
      const info = lstatSync(entry);
      if (info.isSymbolicLink()) found.push({ path: entry, symlinkTo: readlinkSync(entry) });
      else if (info.isDirectory()) found.push({ path: entry });
    } catch {
      // Not on this system.
    }
  }
  system = found;
  return found;
}

/** The sandbox a machine can make, found once when tfgate local starts. */
export type SandboxProbe =
  | { available: true; bwrap: string; disableNestedUserNamespaces: boolean }
  | { available: false; reason: string };

/**
 * Tries the sandbox once with a trivial command. Fails on macOS and Windows (no bubblewrap), when
 * `bwrap` is missing, and where the kernel refuses unprivileged user namespaces.
 */
export async function probeSandbox(bwrap: string, platform: NodeJS.Platform = process.platform): Promise<SandboxProbe> {
  if (platform !== 'linux') return { available: false, reason: `bubblewrap needs Linux (this is ${platform})` };
  const attempt = (disableNested: boolean) =>
    new Promise<string | undefined>((resolve) => {
      const args = bwrapArguments(
        { system: hostSystem(), mounts: [], cwd: '/', disableNestedUserNamespaces: disableNested },
        ['true'],
      );
      execFile(bwrap, args, { timeout: 10_000, env: { PATH: '/usr/bin:/bin' } }, (error, _stdout, stderr) => {
        if (!error) return resolve(undefined);
        const said = `${stderr}`.trim().split('\n')[0];
        resolve(said || (error as NodeJS.ErrnoException).code?.toString() || error.message);
      });
    });
  const full = await attempt(true);
  if (full === undefined) return { available: true, bwrap, disableNestedUserNamespaces: true };
  // bubblewrap before 0.8 has no --disable-userns: the rest of the sandbox still holds.
  if (/disable-userns/.test(full) && (await attempt(false)) === undefined)
    return { available: true, bwrap, disableNestedUserNamespaces: false };
  return { available: false, reason: full === 'ENOENT' ? `${bwrap} is not installed` : `${bwrap} failed: ${full}` };
}
