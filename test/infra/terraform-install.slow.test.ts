/**
 * The buildspec's terraform install, run for real (bash, gpg, sha256sum) against fakes of curl, aws
 * and unzip: what comes from HashiCorp or from the S3 cache is used only when SHA256SUMS carries a
 * good signature by the pinned key and the zip's checksum is in it. A throwaway key stands in for
 * HashiCorp's (whose private half nobody here has); the real key's presence in the buildspec is
 * checked in aws-account.slow.test.ts.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installTerraformScript } from '../../infra/builds.js';

const run = promisify(execFile);
const VERSION = '1.9.8';
const ZIP = `terraform_${VERSION}_linux_arm64.zip`;
const SUMS = `terraform_${VERSION}_SHA256SUMS`;
const SIG = `${SUMS}.72D7468F.sig`;

let root: string;
let signer: { home: string; key: string; fingerprint: string };
let stranger: { home: string };

async function makeKey(name: string): Promise<{ home: string; key: string; fingerprint: string }> {
  const home = await mkdtemp(path.join(root, `gnupg-${name}-`));
  await chmod(home, 0o700);
  await run('gpg', [
    '--batch',
    '--homedir',
    home,
    '--passphrase',
    '',
    '--quick-gen-key',
    `${name} <${name}@example.com>`,
    'ed25519',
    'sign',
    'never',
  ]);
  const { stdout: key } = await run('gpg', ['--batch', '--homedir', home, '--armor', '--export']);
  const { stdout: colons } = await run('gpg', ['--batch', '--homedir', home, '--with-colons', '--fingerprint']);
  const fingerprint = colons
    .split('\n')
    .find((line) => line.startsWith('fpr:'))!
    .split(':')[9]!;
  return { home, key: key.trim(), fingerprint };
}

/** A release as releases.hashicorp.com would serve it, signed by `by`, optionally with a different zip. */
async function release(dir: string, options: { by: { home: string }; zip?: Buffer }): Promise<void> {
  await mkdir(dir, { recursive: true });
  const zip = Buffer.from('the real terraform zip');
  const sum = createHash('sha256').update(zip).digest('hex');
  await writeFile(path.join(dir, SUMS), `${'0'.repeat(64)}  terraform_${VERSION}_linux_amd64.zip\n${sum}  ${ZIP}\n`);
  await writeFile(path.join(dir, ZIP), options.zip ?? zip);
  await run('gpg', [
    '--batch',
    '--homedir',
    options.by.home,
    '--detach-sign',
    '--output',
    path.join(dir, SIG),
    path.join(dir, SUMS),
  ]);
}

interface Outcome {
  code: number;
  stderr: string;
  stdout: string;
  calls: string[];
  cached: string[];
}

/** Runs the install phase in a sandbox: `release` is what curl serves, `bucket` what the S3 cache holds. */
async function install(sandbox: string): Promise<Outcome> {
  const home = path.join(sandbox, 'tfgate');
  const bin = path.join(sandbox, 'bin');
  await mkdir(bin, { recursive: true });
  const log = path.join(sandbox, 'calls.log');
  const fake = async (name: string, body: string) => {
    await writeFile(path.join(bin, name), `#!/bin/bash\necho "${name} $*" >> "${log}"\n${body}\n`);
    await chmod(path.join(bin, name), 0o755);
  };
  // curl ... -o FILE URL: serve the release directory.
  await fake(
    'curl',
    `out=""; url=""; while [ $# -gt 0 ]; do case "$1" in -o) out="$2"; shift 2;; http*) url="$1"; shift;; *) ` +
      `shift;; esac; done; cp "${sandbox}/release/$(basename "$url")" "$out"`,
  );
  // aws s3 cp SRC DST: the bucket is a directory.
  await fake(
    'aws',
    `[ "$1 $2" = "s3 cp" ] || exit 2; shift 2; args=(); for a in "$@"; do [ "$a" = --only-show-errors ] || ` +
      `args+=("$a"); done; src="\${args[0]}"; dst="\${args[1]}"; ` +
      `src="\${src/s3:\\/\\/bucket/${sandbox.replace(/\//g, '\\/')}\\/bucket}"; ` +
      `dst="\${dst/s3:\\/\\/bucket/${sandbox.replace(/\//g, '\\/')}\\/bucket}"; [ -f "$src" ] || exit 1; mkdir -p ` +
      `"$(dirname "$dst")"; cp "$src" "$dst"`,
  );
  await fake(
    'unzip',
    `d=""; while [ $# -gt 0 ]; do case "$1" in -d) d="$2"; shift 2;; *) shift;; esac; done; printf ` +
      `'#!/bin/bash\\necho "Terraform v${VERSION}"\\n' > "$d/terraform"; chmod 755 "$d/terraform"`,
  );
  const script = ['(', 'set -euo pipefail', ...installTerraformScript(VERSION, signer.key, signer.fingerprint), ')']
    .join('\n')
    .split('/tmp/tfgate')
    .join(home);
  let code = 0;
  let stdout = '';
  let stderr = '';
  try {
    ({ stdout, stderr } = await run('bash', ['-c', script], {
      env: { PATH: `${bin}:${process.env.PATH}`, TFGATE_CACHE: 's3://bucket/cache', HOME: sandbox },
    }));
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    ({ code, stdout, stderr } = failed);
  }
  const calls = (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const cached = await readdir(path.join(sandbox, 'bucket', 'cache', 'terraform', VERSION)).catch(() => [] as string[]);
  await rm(home, { recursive: true, force: true });
  await writeFile(log, '');
  return { code, stderr, stdout, calls, cached: cached.sort() };
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'tfgate-install-'));
  signer = await makeKey('signer');
  stranger = await makeKey('stranger');
}, 300_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('terraform install (buildspec)', () => {
  it('downloads, verifies signature and checksum, fills the cache; the next build uses the cache ' +
    'without downloading', async () => {
    const sandbox = await mkdtemp(path.join(root, 'ok-'));
    await release(path.join(sandbox, 'release'), { by: signer });
    const first = await install(sandbox);
    expect(first.code, first.stderr).toBe(0);
    expect(first.calls.filter((c) => c.startsWith('curl'))).toHaveLength(3);
    expect(first.calls.some((c) => c.startsWith('unzip'))).toBe(true);
    expect(first.cached).toEqual([SUMS, SIG, ZIP].sort());

    const second = await install(sandbox);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('tfgate: terraform from the cache, signature and checksum verified');
    expect(second.calls.filter((c) => c.startsWith('curl'))).toEqual([]);
  }, 300_000);

  it('refuses a zip whose checksum is not in the signed SHA256SUMS, and never unpacks it', async () => {
    const sandbox = await mkdtemp(path.join(root, 'zip-'));
    await release(path.join(sandbox, 'release'), { by: signer, zip: Buffer.from('a trojan') });
    const outcome = await install(sandbox);
    expect(outcome.code).not.toBe(0);
    expect(outcome.stderr).toContain('did not verify; refusing to run it');
    expect(outcome.calls.some((c) => c.startsWith('unzip'))).toBe(false);
    expect(outcome.cached).toEqual([]);
  }, 300_000);

  it('refuses SHA256SUMS signed by any other key', async () => {
    const sandbox = await mkdtemp(path.join(root, 'sig-'));
    await release(path.join(sandbox, 'release'), { by: stranger });
    const outcome = await install(sandbox);
    expect(outcome.code).not.toBe(0);
    expect(outcome.stderr).toContain('did not verify; refusing to run it');
    expect(outcome.calls.some((c) => c.startsWith('unzip'))).toBe(false);
  }, 300_000);

  it('does not trust a tampered cache: it downloads again, verifies, and repairs the cache', async () => {
    const sandbox = await mkdtemp(path.join(root, 'poison-'));
    await release(path.join(sandbox, 'release'), { by: signer });
    await release(path.join(sandbox, 'bucket', 'cache', 'terraform', VERSION), {
      by: signer,
      zip: Buffer.from('planted by a plan build'),
    });
    const outcome = await install(sandbox);
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(outcome.stdout).not.toContain('from the cache');
    expect(outcome.calls.filter((c) => c.startsWith('curl'))).toHaveLength(3);
    expect(await readFile(path.join(sandbox, 'bucket', 'cache', 'terraform', VERSION, ZIP), 'utf8')).toBe(
      'the real terraform zip',
    );
  }, 300_000);
});
