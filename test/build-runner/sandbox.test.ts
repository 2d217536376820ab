import { describe, expect, it } from 'vitest';
import { bwrapArguments, ETC_ENTRIES, probeSandbox, type SandboxSpec } from '../../src/build-runner/sandbox.js';
import { describeSandbox, findSandbox } from '../../src/local-mode/sandbox-notice.js';

/** The bubblewrap argument list (src/build-runner/sandbox.ts), held to what the sandbox promises. */

const MERGED_USR = [
  { path: '/usr' },
  { path: '/bin', symlinkTo: 'usr/bin' },
  { path: '/lib', symlinkTo: 'usr/lib' },
  { path: '/lib64', symlinkTo: 'usr/lib64' },
];

const spec = (mounts: SandboxSpec['mounts'], extra: Partial<SandboxSpec> = {}): SandboxSpec => ({
  system: MERGED_USR,
  mounts,
  cwd: '/work/checkout',
  ...extra,
});

/** The (flag, source, target) triples of the bind mounts, in order. */
function binds(args: string[]): Array<[string, string, string]> {
  const found: Array<[string, string, string]> = [];
  args.forEach((arg, index) => {
    if (arg === '--bind' || arg === '--ro-bind') found.push([arg, args[index + 1]!, args[index + 2]!]);
  });
  return found;
}

describe('bwrapArguments', () => {
  const args = bwrapArguments(
    spec(
      [
        { kind: 'rw', source: '/work/checkout/.terraform-data', target: '/work/checkout/.terraform' },
        { kind: 'rw', source: '/work/checkout', target: '/work/checkout' },
        { kind: 'ro', source: '/opt/terraform', target: '/opt/terraform' },
      ],
      { disableNestedUserNamespaces: true, infoFd: 3 },
    ),
    ['terraform', 'plan', '-out=/work/out/tfplan'],
  );

  it('makes new user, mount, PID, IPC and UTS namespaces, keeps the network, and ends with its parent', () => {
    for (const flag of ['--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts'])
      expect(args).toContain(flag);
    expect(args).not.toContain('--unshare-net');
    expect(args).not.toContain('--unshare-all');
    expect(args).not.toContain('--share-net');
    // The command is PID 1: when it exits the kernel ends everything it started.
    expect(args).toContain('--as-pid-1');
    expect(args).toContain('--die-with-parent');
    // A session of its own: no TIOCSTI into the terminal tfgate local runs in.
    expect(args).toContain('--new-session');
    expect(args.slice(args.indexOf('--cap-drop'), args.indexOf('--cap-drop') + 2)).toEqual(['--cap-drop', 'ALL']);
    expect(args).toContain('--disable-userns');
    expect(args.slice(args.indexOf('--info-fd'), args.indexOf('--info-fd') + 2)).toEqual(['--info-fd', '3']);
  });

  it('shows the system read-only, merged /usr links as links, and a minimal /etc, never all of it', () => {
    expect(binds(args)).toContainEqual(['--ro-bind', '/usr', '/usr']);
    const link = args.indexOf('usr/bin');
    expect(args.slice(link - 1, link + 2)).toEqual(['--symlink', 'usr/bin', '/bin']);
    expect(args.filter((arg) => arg === '/etc')).toEqual([]);
    for (const secret of ['/etc/shadow', '/etc/gshadow', '/etc/ssh', '/etc/sudoers', '/root', '/home'])
      expect(args).not.toContain(secret);
    expect(ETC_ENTRIES).toContain('/etc/resolv.conf');
    expect(ETC_ENTRIES.every((entry) => entry.startsWith('/etc/'))).toBe(true);
    // A fresh /proc of its own PID namespace, a minimal /dev, an empty /tmp.
    expect(args.join(' ')).toContain('--proc /proc --dev /dev --tmpfs /tmp');
  });

  it('mounts what the step names, parents before children, read-only unless said, and runs the command last', () => {
    expect(binds(args).filter(([, , target]) => target.startsWith('/work') || target.startsWith('/opt'))).toEqual([
      ['--bind', '/work/checkout', '/work/checkout'],
      ['--ro-bind', '/opt/terraform', '/opt/terraform'],
      ['--bind', '/work/checkout/.terraform-data', '/work/checkout/.terraform'],
    ]);
    const separator = args.indexOf('--');
    expect(args.slice(separator + 1)).toEqual(['terraform', 'plan', '-out=/work/out/tfplan']);
    expect(args.slice(separator - 4, separator)).toEqual(['--remount-ro', '/', '--chdir', '/work/checkout']);
  });

  it('makes empty directories and in-memory ones, and refuses relative paths', () => {
    const made = bwrapArguments(
      spec([
        { kind: 'tmpfs', target: '/state/terraform.tfstate.d' },
        { kind: 'dir', target: '/home/build' },
      ]),
      ['true'],
    );
    expect(made.join(' ')).toContain('--dir /home/build');
    expect(made.join(' ')).toContain('--tmpfs /state/terraform.tfstate.d');
    expect(() => bwrapArguments(spec([{ kind: 'rw', source: 'relative', target: '/x' }]), ['true'])).toThrow(
      /absolute source/,
    );
    expect(() => bwrapArguments(spec([{ kind: 'ro', source: '/x', target: 'x' }]), ['true'])).toThrow(/not absolute/);
  });
});

describe('when no sandbox can be made', () => {
  it('says why: bubblewrap missing, or not Linux', async () => {
    expect(await probeSandbox('/nonexistent/bwrap')).toEqual({
      available: false,
      reason: '/nonexistent/bwrap is not installed',
    });
    expect(await probeSandbox('/usr/bin/bwrap', 'darwin')).toEqual({
      available: false,
      reason: 'bubblewrap needs Linux (this is darwin)',
    });
    const mac = await findSandbox({
      environment: { PATH: '/usr/bin' },
      unsandboxedPullRequests: false,
      platform: 'darwin',
    });
    expect(mac).toMatchObject({ available: false, reason: 'bubblewrap needs Linux (this is darwin)' });
  });

  it('TFGATE_BWRAP names the binary; the start paragraph names what is exposed and what is refused', async () => {
    const missing = await findSandbox({
      environment: { PATH: '/usr/bin:/bin', TFGATE_BWRAP: '/nonexistent/bwrap' },
      unsandboxedPullRequests: false,
    });
    expect(missing).toMatchObject({ available: false, reason: '/nonexistent/bwrap is not installed' });
    const paragraph = describeSandbox(missing, '/srv/tfgate');
    expect(paragraph).toMatch(/^WARNING: builds are not sandboxed: \/nonexistent\/bwrap is not installed\./);
    for (const exposed of ['~/.aws', '/srv/tfgate', 'secrets/', "every repository's state", 'stored plans'])
      expect(paragraph).toContain(exposed);
    expect(paragraph).toContain('Pull-request plans are refused (start with --unsandboxed-builds');
    expect(paragraph).not.toContain('\n');
    const allowed = describeSandbox({ ...missing, unsandboxedPullRequests: true }, '/srv/tfgate');
    expect(allowed).toContain(
      'Pull-request plans run unsandboxed too: tfgate local was started with --unsandboxed-builds',
    );
  });
});
