/**
 * Whether this machine can sandbox builds, found once when tfgate local starts (a trivial bubblewrap
 * run), and what tfgate local says about it. The sandbox itself is the build runner's
 * (src/build-runner/sandbox.ts): the runner wraps every command it starts.
 */
import os from 'node:os';
import { probeSandbox, type SandboxProbe } from '../build-runner/sandbox.js';
import { findOnPath } from '../terraform-locator.js';

export type LocalSandbox = SandboxProbe & { unsandboxedPullRequests: boolean };

export async function findSandbox(options: {
  bwrap?: string;
  environment: NodeJS.ProcessEnv;
  unsandboxedPullRequests: boolean;
  platform?: NodeJS.Platform;
}): Promise<LocalSandbox> {
  const platform = options.platform ?? process.platform;
  const bwrap =
    options.bwrap ||
    options.environment.TFGATE_BWRAP ||
    (platform === 'linux' ? await findOnPath('bwrap', options.environment) : undefined);
  const probe: SandboxProbe = bwrap
    ? await probeSandbox(bwrap, platform)
    : {
        available: false,
        reason:
          platform === 'linux' ? 'bubblewrap (bwrap) is not installed' : `bubblewrap needs Linux (this is ${platform})`,
      };
  return { ...probe, unsandboxedPullRequests: options.unsandboxedPullRequests };
}

/** What tfgate local prints at every start: one line with a sandbox, one paragraph without. */
export function describeSandbox(sandbox: LocalSandbox, dataDir: string): string {
  if (sandbox.available) {
    return (
      `builds run in a bubblewrap sandbox (${sandbox.bwrap}): each sees the system read-only, terraform, its ` +
      'checkout, its own empty home and temporary directory and the plugin cache; deploy builds also their ' +
      "environment's state and terraform.sandbox.readOnly; pull-request plans their state read-only. Nothing " +
      'else of this machine, and every process a build starts ends with it.' +
      (sandbox.unsandboxedPullRequests ? ' (--unsandboxed-builds has no effect here.)' : '')
    );
  }
  const account = `${os.userInfo().username} (uid ${process.getuid?.() ?? '?'})`;
  return (
    `WARNING: builds are not sandboxed: ${sandbox.reason}. The Terraform code a build runs (providers, ` +
    `provisioners, external data sources) runs as ${account} and can read and change whatever that account ` +
    `can: your home directory (~/.aws, ~/.ssh), tfgate's data directory ${dataDir} (its keys in secrets/, ` +
    "every repository's state, the stored plans) and the environment builds are given; a process it starts in a " +
    'new session outlives the build. Deploy builds run anyway. ' +
    (sandbox.unsandboxedPullRequests
      ? 'Pull-request plans run unsandboxed too: tfgate local was started with --unsandboxed-builds. '
      : 'Pull-request plans are refused (start with --unsandboxed-builds to run them anyway). ') +
    'To sandbox builds, use Linux with unprivileged user namespaces and install bubblewrap ' +
    '(apt-get install bubblewrap).'
  );
}
