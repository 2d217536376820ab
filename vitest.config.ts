import { defineConfig } from 'vitest/config';

/**
 * Two projects. `fast` (`npm test`, the everyday loop, under two minutes): every test/**\/*.test.ts
 * except the slow ones. `slow` (only in `npm run test:all`, which CI runs): files named
 * *.slow.test.ts — anything that starts the local stack or a CLI process beyond the handful of
 * end-to-end runs kept fast, synthesizes CDK, drives a browser, runs load, fuzz or the real
 * terraform, or packs the project. README's Development section states the rule.
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
      // Most fast files wait on I/O (dynalite, git, subprocesses): two at once use both cores. The
      // slow files keep one at a time (timing-sensitive fault and load tests) and run after the fast
      // ones in `test:all` (a project's own worker count needs its own group).
      {
        extends: true,
        test: {
          name: 'fast',
          include: ['test/**/*.test.ts'],
          exclude: [SLOW],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
          // The guard: the local stack, the CLI as a process, real terraform and browsers throw here.
          setupFiles: ['src/polyfills.ts', 'test/support/fast-tier.ts'],
        },
      },
      { extends: true, test: { name: 'slow', include: [SLOW], sequence: { groupOrder: 1 } } },
    ],
  },
});
