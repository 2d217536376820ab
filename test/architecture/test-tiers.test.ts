import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { FAST_TIER_RULE, takeViolations } from '../support/fast-tier.js';
import { findLocalStackModule } from '../support/global-setup.js';
import { CLI, runCli } from '../support/cli-process.js';
import { startTestStack, TERRAFORM_DOUBLE } from '../support/local-stack.js';

/**
 * The fast set's guard (test/support/fast-tier.ts, the `fast` project's setup file) is on: each thing
 * the everyday loop may not do fails at the call, naming the rule. This file commits each violation on
 * purpose and takes the violations back, so that only the guard's own after-each check is spared.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

afterEach(() => {
  takeViolations();
});

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return (error as Error).message;
  }
  return 'not refused';
}

describe('the fast set (npm test)', () => {
  it('runs with the guard: the module that defines startLocalStack is found in src/', () => {
    const module = inject('localStackModule');
    expect(module).toBe(findLocalStackModule());
    expect(existsSync(module)).toBe(true);
    expect(path.relative(ROOT, module)).toMatch(/^src\//);
  });

  it('may not start the local stack', async () => {
    await expect(startTestStack()).rejects.toThrow(`starting the local stack (startLocalStack) ${FAST_TIER_RULE}`);
    expect(takeViolations()).toHaveLength(1);
  });

  it('may not start the tfgate CLI as a process, whichever way it is spawned', async () => {
    await expect(runCli(['--help'])).rejects.toThrow(`starting the tfgate CLI as a process (${CLI})`);
    expect(refusal(() => execFileSync(process.execPath, ['--no-warnings', CLI, 'local']))).toContain(FAST_TIER_RULE);
    expect(refusal(() => execFile('node', [path.join(ROOT, 'bin', 'cli.ts')]))).toContain(FAST_TIER_RULE);
    expect(takeViolations()).toHaveLength(3);
  });

  it('may not run the real terraform, but may run the double', () => {
    expect(refusal(() => spawn('terraform', ['version']))).toContain(`running the real terraform (terraform)`);
    expect(refusal(() => execFileSync('/usr/local/bin/terraform', ['version']))).toContain(FAST_TIER_RULE);
    expect(takeViolations()).toHaveLength(2);
    expect(execFileSync(TERRAFORM_DOUBLE, ['version'], { encoding: 'utf8' })).toMatch(/Terraform v/);
  });

  it('may not start a browser, also from a library that requires child_process (as playwright does)', () => {
    expect(refusal(() => spawn('/usr/bin/chromium', ['--headless']))).toContain(`starting a browser`);
    const required = createRequire(import.meta.url)('child_process') as typeof import('node:child_process');
    expect(refusal(() => required.spawn('/usr/bin/chromium', ['--headless']))).toContain(FAST_TIER_RULE);
    expect(takeViolations()).toHaveLength(2);
  });

  it('still runs the other programs tests use (git, a shell)', () => {
    expect(execFileSync('git', ['--version'], { encoding: 'utf8' })).toMatch(/^git version/);
    expect(execFileSync('sh', ['-c', 'echo ok'], { encoding: 'utf8' }).trim()).toBe('ok');
    expect(takeViolations()).toEqual([]);
  });
});
