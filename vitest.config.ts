import { defineConfig } from 'vitest/config';

/**
 * Two projects. `fast` (`npm test`, the everyday loop, under a minute on 2 cores): every
 * test/**\/*.test.ts except the slow ones; it may not start the local stack, the CLI as a process, the
 * real terraform or a browser (test/support/fast-tier.ts throws, test/architecture/test-tiers.test.ts
 * shows it). `slow` (only in `npm run test:all`, which CI runs): files named *.slow.test.ts — the local
 * stack, CLI processes, CDK synthesis, browsers, load, fuzz, the real terraform, the package. README's
 * Development section states the rule.
 */
const SLOW = 'test/**/*.slow.test.ts';

export default defineConfig({
  test: {
    setupFiles: ['src/polyfills.ts'],
    // Once per run: the build runner bundle every local stack uses (instead of esbuild once per file).
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    reporters: ['default'],
    projects: [
      // Most files wait on I/O (dynalite, git, subprocesses, polling): two at once use both cores. The
      // slow files run after the fast ones in `test:all` (a project's own worker count needs its own group).
      {
        extends: true,
        test: {
          name: 'fast',
          include: ['test/**/*.test.ts'],
          exclude: [SLOW],
          maxWorkers: 2,
          // One module graph per worker, not per file: importing the SDK, zod and the handlers again for
          // each of ~120 files was half the set's CPU (111 s → 55 s of user CPU, same 666 tests). Files keep
          // no state in modules they share; a store or a stack is made per test.
          isolate: false,
          sequence: { groupOrder: 0 },
          // The guard: the local stack, the CLI as a process, real terraform and browsers throw here.
          setupFiles: ['src/polyfills.ts', 'test/support/fast-tier.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'slow',
          include: [SLOW],
          // Two at a time as well: the slow files mostly wait (processes, builds, polling), and every wait
          // is a generous poll, so a neighbour's load makes a file slower, never wrong.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
          // A bound for a stuck test, well above the steps' own named bounds (STEP_TIMEOUT_MS: 180 s).
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
