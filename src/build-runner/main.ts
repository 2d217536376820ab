/**
 * Entry point of the build runner: CodeBuild runs it in AWS (buildspec), the local engine runs it as
 * a subprocess (see command.ts). Reads the environment once, runs, exits 0 on success and 1 on failure.
 */
import { spawn } from 'node:child_process';
import type { ArtifactStore } from '../domain/ports.js';
import { runBuild, type StateBucketAccess } from './runner.js';
import { readBuildSettings } from './settings.js';

async function main(): Promise<number> {
  // Plans and state hold secrets from the Terraform state: whatever the build writes is its own to read.
  process.umask(0o077);
  let raw: ReturnType<typeof readBuildSettings>;
  try {
    raw = readBuildSettings(process.env);
  } catch (error) {
    process.stderr.write(`tfgate build runner: ${(error as Error).message}\n`);
    return 1;
  }

  // CodeBuild stops a build with SIGTERM, the local engine on timeout likewise: terraform gets an
  // interrupt so it can stop cleanly and release its state lock; a second signal is not waited for.
  const interruption = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (interruption.signal.aborted) process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    process.stderr.write(`tfgate build runner: ${signal} received, interrupting terraform\n`);
    interruption.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  watchParent(process.env.TFGATE_PARENT_PID, () => onSignal('SIGTERM'));

  let artifacts: ArtifactStore;
  try {
    artifacts = await artifactStoreFor(raw.artifacts ?? '');
  } catch (error) {
    process.stderr.write(`tfgate build runner: TFGATE_ARTIFACTS: ${(error as Error).message}\n`);
    return 1;
  }

  // The provider cache is an optimization: a bad location is reported and the build goes on without it.
  const cacheLocation = process.env.TFGATE_CACHE;
  const cache = cacheLocation
    ? await artifactStoreFor(cacheLocation).catch((error: Error) => {
        process.stderr.write(
          `tfgate build runner: TFGATE_CACHE: ${error.message}; building without the provider cache\n`,
        );
        return undefined;
      })
    : undefined;

  const stateBucket = raw.stateBucket ? await stateBucketAccess(raw.stateBucket) : undefined;

  return runBuild(raw, {
    spawn,
    artifacts,
    ...(cache ? { cache } : {}),
    ...(stateBucket ? { stateBucket } : {}),
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    signal: interruption.signal,
  });
}

/**
 * The S3 client is loaded only when artifacts go to S3: locally (a directory) it would add a
 * quarter of a second to every build's start for nothing.
 */
async function artifactStoreFor(location: string): Promise<ArtifactStore> {
  if (location.startsWith('s3://'))
    return (await import('../adapters/aws/s3-artifact-store.js')).artifactStoreFromLocation(location);
  return (await import('../adapters/fs/artifact-store.js')).directoryArtifactStore(location);
}

/** The state bucket through the build role's own credentials (terraform's backend uses them too). */
async function stateBucketAccess(bucket: string): Promise<StateBucketAccess> {
  const { S3Client } = await import('@aws-sdk/client-s3');
  const { s3StateBucketAccess } = await import('../adapters/aws/s3-state.js');
  return s3StateBucketAccess(new S3Client({}), bucket);
}

/**
 * Locally the runner is a child of `tfgate local`. If that process dies without stopping its builds
 * (kill -9), the build is stopped too rather than applying on behalf of a run nobody follows any more.
 */
function watchParent(parentPid: string | undefined, stop: () => void): void {
  const pid = Number(parentPid);
  if (!Number.isInteger(pid) || pid <= 1) return;
  const timer = setInterval(() => {
    try {
      process.kill(pid, 0);
    } catch {
      clearInterval(timer);
      stop();
    }
  }, 1000);
  timer.unref();
}

process.exitCode = await main();
