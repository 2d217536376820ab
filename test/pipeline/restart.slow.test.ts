import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { reapLeftoverBuilds } from '../../src/local-mode/build-reaper.js';
import { commitAndPush } from '../../src/local-mode/git-repos.js';
import { localCredentialFile } from '../../src/local-mode/secrets.js';
import { heldTerraform, runCli, startLocalProcess, type LocalProcess } from '../support/cli-process.js';
import {
  configYaml,
  decideThroughPage,
  rememberOperatorCredential,
  TERRAFORM_DOUBLE,
  terraformFiles,
} from '../support/local-stack.js';

const TERRAFORM = existsSync('/usr/local/bin/terraform') ? '/usr/local/bin/terraform' : TERRAFORM_DOUBLE;

/**
 * `tfgate local` killed outright in the middle of a run, then started again on the same data directory.
 *
 * Every wait polls with a generous bound and names what it waited for: on a loaded machine each Node
 * process and each terraform call is many times slower (these tests once failed in CI on a busy machine
 * at a 60 s start bound and a 300 s test bound). The bounds add up to less than the test's own timeout,
 * so a slow step fails by its name and with the process's output, never as a bare test timeout.
 */

const STEP_MS = 180_000;
const TEST_MS = 1_500_000;

interface RunJson {
  id: string;
  sha: string;
  status: string;
  error?: string;
  stages: Array<{ environment: string; status: string }>;
}

let processes: LocalProcess[] = [];
let dirs: string[] = [];
afterEach(async () => {
  for (const p of processes) await p.stop('SIGKILL');
  // A killed tfgate local leaves its builds running (their own process groups): stop them as its next start would.
  for (const dir of dirs) await reapLeftoverBuilds(path.join(dir, 'data', 'run', 'builds')).catch(() => undefined);
  for (const dir of dirs) await rm(dir, { recursive: true, force: true, maxRetries: 5 });
  processes = [];
  dirs = [];
});

/** The data directory of the tfgate local under test: its local credential signs the requests in. */
let dataDir = '';

async function runs(url: string): Promise<RunJson[]> {
  const credential = (await readFile(localCredentialFile(dataDir), 'utf8')).trim();
  const response = await fetch(`${url}/runs`, {
    headers: { accept: 'application/json', authorization: `Bearer ${credential}` },
  });
  return ((await response.json()) as { runs: RunJson[] }).runs;
}

/** Polls `probe` (errors count as not yet) until it gives a value; on time-out, says what and shows its output. */
async function waitFor<T>(
  what: string,
  local: LocalProcess,
  probe: () => Promise<T | undefined>,
  timeoutMs = STEP_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      const tail = local.output().split('\n').slice(-30).join('\n');
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}; tfgate local said:\n${tail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const finished = (status: string) => !['running', 'awaiting_approval'].includes(status);

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('tfgate local killed during a run', () => {
  it(
    'keeps finished runs, plans again what was mid-build, and keeps its locks consistent',
    async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-restart-'));
      dirs.push(dir);
      const config = path.join(dir, 'tfgate.yaml');
      await writeFile(config, configYaml({ approval: false }));
      const terraform = await heldTerraform(dir);
      dataDir = path.join(dir, 'data');
      const args = ['--data', dataDir, '--config', config, '--terraform', terraform.file];
      // The held terraform waits on a file of this test's directory, which a build's sandbox does not show
      // (nor the double it runs): this test is about a crash, so its builds run unsandboxed.
      const unsandboxed = { ...process.env, TFGATE_BWRAP: path.join(dir, 'no-bwrap') };

      const first = await startLocalProcess(args, unsandboxed);
      processes.push(first);
      const doneSha = await commitAndPush(first.remote, {
        files: terraformFiles({ network: 'one' }),
        message: 'one',
        branch: 'main',
      });
      await waitFor('the first run to finish', first, async () =>
        (await runs(first.url)).find((r) => r.sha === doneSha && finished(r.status)),
      );

      // The second run is caught mid-build for certain: its terraform waits at the gate when tfgate is killed.
      await terraform.hold();
      const cutSha = await commitAndPush(first.remote, {
        files: terraformFiles({ network: 'two' }),
        message: 'two',
        branch: 'main',
      });
      await terraform.untilWaiting(STEP_MS);
      const cutBefore = await waitFor('the second run to be planning', first, async () =>
        (await runs(first.url)).find((r) => r.sha === cutSha && r.stages.some((s) => s.status === 'planning')),
      );
      expect(await first.stop('SIGKILL')).toBe(null);

      const second = await startLocalProcess(args, unsandboxed);
      processes.push(second);
      // The build the killed process left waiting at the gate is stopped at this start, not left to finish.
      expect(second.output()).toMatch(/cleaned up 1 build\(s\) left by the last stop/);
      expect(second.output()).toMatch(
        new RegExp(`run ${cutBefore.id} was mid-way through (ops|apps): planning it again`),
      );
      expect((await runs(second.url)).find((r) => r.sha === doneSha)?.status).toBe('succeeded');
      await terraform.release();
      // The run that was cut goes on from where it was and finishes; it is not abandoned.
      const cut = await waitFor('the cut run to finish', second, async () =>
        (await runs(second.url)).find((r) => r.sha === cutSha && finished(r.status)),
      );
      expect(cut.status).toBe('succeeded');
      expect(cut.stages.map((s) => s.status)).toEqual(['applied', 'applied']);
      expect((cut as RunJson & { notes?: string[] }).notes?.join('\n')).toContain('is planned again');

      // Its locks are free: the unlock command finds nothing to free, and a new push runs to the end.
      for (const env of ['ops', 'apps']) {
        const unlock = await runCli([
          'unlock',
          'acme/infrastructure',
          env,
          '--url',
          second.url,
          '--data',
          dataDir,
          '--reason',
          'checking',
        ]);
        expect(unlock.stdout).toContain('was not held');
      }
      const nextSha = await commitAndPush(second.remote, {
        files: terraformFiles({ network: 'three' }),
        message: 'three',
        branch: 'main',
      });
      const next = await waitFor('the third run to finish', second, async () =>
        (await runs(second.url)).find((r) => r.sha === nextSha && finished(r.status)),
      );
      expect(next.status).toBe('succeeded');
    },
    TEST_MS,
  );

  it(
    'keeps a pending approval: after a restart the same link approves and apps is applied',
    async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-restart-approval-'));
      dirs.push(dir);
      const config = path.join(dir, 'tfgate.yaml');
      await writeFile(config, configYaml({ approval: '1h' }));
      const port = String(await freePort());
      dataDir = path.join(dir, 'data');
      const args = ['--data', dataDir, '--config', config, '--terraform', TERRAFORM, '--port', port];

      const first = await startLocalProcess(args);
      processes.push(first);
      const sha = await commitAndPush(first.remote, {
        files: terraformFiles({ cluster: 'v1', ingress: 'on' }),
        message: 'one',
        branch: 'main',
      });
      const waiting = await waitFor('apps to wait for approval', first, async () =>
        (await runs(first.url)).find(
          (r) => r.sha === sha && r.stages.some((s) => s.environment === 'apps' && s.status === 'awaiting_approval'),
        ),
      );
      const link = await waitFor(
        'the approval link on the console',
        first,
        async () => /approve or reject[^:]*: (http:\/\/\S+\/approvals\/\S+)/.exec(first.output())?.[1],
      );
      const approvalBefore = (waiting.stages.find((s) => s.environment === 'apps') as { approval?: { id: string } })
        .approval!.id;
      const planBefore = (waiting.stages.find((s) => s.environment === 'apps') as { plan?: { sha256: string } }).plan!
        .sha256;
      expect(link).toContain(approvalBefore);
      expect(await first.stop('SIGKILL')).toBe(null);

      const second = await startLocalProcess(args);
      processes.push(second);
      expect(second.url).toBe(first.url);
      expect(second.output()).toContain(
        `run ${waiting.id} waits again for its apps approval: ${second.url}/approvals/${approvalBefore}`,
      );
      const resumed = (await runs(second.url)).find((r) => r.id === waiting.id)!;
      expect(resumed.status).toBe('awaiting_approval');

      // The very link sent before the restart decides it (signed in as the local operator).
      rememberOperatorCredential(second.url, (await readFile(localCredentialFile(dataDir), 'utf8')).trim());
      const decided = await decideThroughPage(link, 'approve');
      expect(decided.status).toBe(200);
      const done = await waitFor('the run to finish', second, async () =>
        (await runs(second.url)).find((r) => r.id === waiting.id && finished(r.status)),
      );
      expect(done.status).toBe('succeeded');
      const apps = done.stages.find((s) => s.environment === 'apps') as {
        status: string;
        plan?: { sha256: string };
        approval?: { id: string; status: string };
      };
      expect(apps.status).toBe('applied');
      expect(apps.approval).toMatchObject({ id: approvalBefore, status: 'approved' });
      expect(apps.plan?.sha256).toBe(planBefore);
      for (const env of ['ops', 'apps']) {
        const unlock = await runCli([
          'unlock',
          'acme/infrastructure',
          env,
          '--url',
          second.url,
          '--data',
          dataDir,
          '--reason',
          'checking',
        ]);
        expect(unlock.stdout).toContain('was not held');
      }
    },
    TEST_MS,
  );
});
