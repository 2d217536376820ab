import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { bundleBuildRunner } from '../../src/local-mode/codebuild.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The build runner bundled once for this test run; startTestStack copies it into each stack. */
    prebuiltRunner: string;
  }
}

/**
 * Work every test file would otherwise repeat, done once per `vitest run`: bundling the build runner
 * with esbuild (about half a second of CPU per file that starts a local stack).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-test-runner-'));
  project.provide('prebuiltRunner', await bundleBuildRunner(dir));
  return async () => {
    await rm(dir, { recursive: true, force: true });
  };
}
