import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { bundleBuildRunner } from '../../src/local-mode/codebuild.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The build runner bundled once for this test run; startTestStack copies it into each stack. */
    prebuiltRunner: string;
    /** The module that defines startLocalStack: the fast set's guard (fast-tier.ts) replaces it. */
    localStackModule: string;
    /** Where this run's one CDK synthesis of the sample stack is written (test/infra/synth.ts). */
    sharedSynthDir: string;
  }
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The source file that defines `startLocalStack`, found by reading src/ rather than named here, so
 * the fast set's guard follows it when it moves. None, or more than one, stops the test run.
 */
export function findLocalStackModule(root = ROOT): string {
  const definers = readdirSync(path.join(root, 'src'), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => path.join(entry.parentPath, entry.name))
    .filter((file) => /^export\s+(async\s+)?function\s+startLocalStack\s*[<(]/m.test(readFileSync(file, 'utf8')));
  if (definers.length !== 1) {
    throw new Error(
      `test/support/global-setup.ts: expected one module under src/ to define startLocalStack, found ` +
        `${definers.length}; the fast set's guard (test/support/fast-tier.ts) needs it`,
    );
  }
  return definers[0]!;
}

/**
 * Work every test file would otherwise repeat, done once per `vitest run`: bundling the build runner
 * with esbuild (about half a second of CPU per file that starts a local stack); and a directory for the
 * one CDK synthesis of the run, made by the first file that needs it (test/infra/synth.ts).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  project.provide('localStackModule', findLocalStackModule());
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-test-runner-'));
  project.provide('prebuiltRunner', await bundleBuildRunner(dir));
  const synthDir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-test-synth-'));
  project.provide('sharedSynthDir', synthDir);
  return async () => {
    await rm(dir, { recursive: true, force: true });
    await rm(synthDir, { recursive: true, force: true });
  };
}
