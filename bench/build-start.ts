/**
 * A model, not a measurement: how long from `git push` until terraform starts planning for ops, per
 * CodeBuild compute type, from documented (or stated-as-assumed) start-up figures. Nothing here can
 * be measured without an AWS account; each figure names where it comes from, so it can be replaced
 * by a measured one. Printed by `npm run bench` (figure `pushToOpsPlanStarted`) and on its own:
 * `node bin/run-ts.js bench/build-start.ts [--json]`.
 */

export interface Phase {
  name: string;
  ms: number;
  source: string;
}

export type ComputeType = 'lambda' | 'ec2';
export type CacheState = 'hit' | 'cold';

/** Sizes the download phases are computed from. */
const TERRAFORM_ZIP_MB = 27; // terraform 1.9.x linux_arm64 zip, as listed on releases.hashicorp.com
const PROVIDERS_ARCHIVE_MB = 120; // the AWS provider (the usual largest) as a compressed archive
const INTERNET_MB_PER_S = 25; // assumed: releases.hashicorp.com and the registry's CDN from a build host
const S3_MB_PER_S = 90; // assumed: one in-region S3 GET stream from a build host

export const STARTUP_FIGURES = {
  webhookColdStartMs: {
    ms: 400,
    source:
      'assumed: Lambda cold start, Node.js 22 on arm64 with a ~100 KB bundle (bench: coldStartMs is the part ' +
      'inside the process)',
  },
  intakeMs: { ms: 60, source: 'assumed: six DynamoDB calls and StartExecution from Lambda, ~10 ms each in region' },
  acquireLockMs: {
    ms: 600,
    source: 'assumed: AcquireLock invokes the pipeline function (cold) and the lock is granted by SendTaskSuccess',
  },
  transitionsMs: { ms: 100, source: 'assumed: the four Pass/Task transitions before Plan, ~25 ms each' },
  startBuildMs: { ms: 300, source: 'assumed: the StartBuild call made by the .sync integration' },
  provisioning: {
    lambda: {
      ms: 2_000,
      source:
        'documented: CodeBuild Lambda compute builds "start in seconds" (AWS launch announcement, Nov 2023); 2 s ' +
        'assumed',
    },
    ec2: {
      ms: 60_000,
      source:
        'assumed: on-demand EC2 fleet queue + provisioning, typically tens of seconds to minutes (CodeBuild ' +
        'documents reserved capacity fleets as the way to avoid it)',
    },
  },
  runnerAndCheckoutMs: { ms: 2_500, source: 'assumed: runner download from S3, shallow git fetch of one commit' },
  gpgVerifyMs: { ms: 300, source: 'assumed: importing the key and checking one detached signature' },
  unpackMs: { terraform: 800, providers: 3_000, source: 'assumed: unzip/tar on the build host' },
} as const;

const download = (mb: number, mbPerS: number) => Math.round((mb / mbPerS) * 1000);

export function pushToPlanStarted(compute: ComputeType, cache: CacheState): { totalMs: number; phases: Phase[] } {
  const f = STARTUP_FIGURES;
  const phases: Phase[] = [
    {
      name: 'webhook (cold start + intake)',
      ms: f.webhookColdStartMs.ms + f.intakeMs.ms,
      source: `${f.webhookColdStartMs.source}; ${f.intakeMs.source}`,
    },
    {
      name: 'lock for ops',
      ms: f.acquireLockMs.ms + f.transitionsMs.ms,
      source: `${f.acquireLockMs.source}; ${f.transitionsMs.source}`,
    },
    { name: 'StartBuild', ms: f.startBuildMs.ms, source: f.startBuildMs.source },
    { name: `provisioning (${compute})`, ms: f.provisioning[compute].ms, source: f.provisioning[compute].source },
    {
      name: `terraform (${cache === 'hit' ? 'S3 cache' : 'releases.hashicorp.com'}), verified`,
      ms:
        download(TERRAFORM_ZIP_MB, cache === 'hit' ? S3_MB_PER_S : INTERNET_MB_PER_S) +
        f.gpgVerifyMs.ms +
        f.unpackMs.terraform,
      source:
        `${TERRAFORM_ZIP_MB} MB at ` +
        (cache === 'hit' ? `${S3_MB_PER_S} MB/s (S3, assumed)` : `${INTERNET_MB_PER_S} MB/s (internet, assumed)`) +
        `; ${f.gpgVerifyMs.source}`,
    },
    { name: 'runner + checkout', ms: f.runnerAndCheckoutMs.ms, source: f.runnerAndCheckoutMs.source },
    {
      name: `providers (${cache === 'hit' ? 'S3 cache by lock file' : 'registry'}) in terraform init`,
      ms: download(PROVIDERS_ARCHIVE_MB, cache === 'hit' ? S3_MB_PER_S : INTERNET_MB_PER_S) + f.unpackMs.providers,
      source:
        `${PROVIDERS_ARCHIVE_MB} MB at ${cache === 'hit' ? S3_MB_PER_S : INTERNET_MB_PER_S} MB/s (assumed); ` +
        `${f.unpackMs.source}`,
    },
  ];
  return { totalMs: phases.reduce((sum, phase) => sum + phase.ms, 0), phases };
}

export function buildStartModel(): Record<string, { totalSeconds: number; phases: Phase[] }> {
  const model: Record<string, { totalSeconds: number; phases: Phase[] }> = {};
  for (const compute of ['lambda', 'ec2'] as const) {
    for (const cache of ['hit', 'cold'] as const) {
      const { totalMs, phases } = pushToPlanStarted(compute, cache);
      model[`${compute}-cache-${cache}`] = { totalSeconds: Number((totalMs / 1000).toFixed(1)), phases };
    }
  }
  return model;
}

export function renderBuildStartModel(model = buildStartModel()): string {
  const lines = ['push -> ops plan started (model from documented/assumed figures, not measured):'];
  for (const [key, { totalSeconds, phases }] of Object.entries(model)) {
    lines.push(
      `  ${key.padEnd(18)} ${String(totalSeconds).padStart(6)} s   ` +
        `(${phases.map((p) => `${p.name} ${(p.ms / 1000).toFixed(1)}s`).join(', ')})`,
    );
  }
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  if (process.argv.includes('--json'))
    process.stdout.write(`${JSON.stringify({ pushToOpsPlanStarted: buildStartModel() }, null, 2)}\n`);
  else process.stdout.write(`${renderBuildStartModel()}\n`);
}
