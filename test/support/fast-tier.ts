import { createRequire, syncBuiltinESMExports } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, inject, vi } from 'vitest';

/**
 * Setup file of the `fast` project (`npm test`): the everyday loop may not start the local stack, the
 * tfgate CLI as a process, the real terraform or a browser. Those belong in `*.slow.test.ts` files
 * (README, Development). Here each of them throws at the call, naming the rule, and a test that
 * swallowed the error still fails when it ends (afterEach below).
 *
 * - the local stack: `startLocalStack` (found by global-setup.ts in whatever module defines it) is
 *   replaced for every fast file;
 * - processes: every child_process entry point is wrapped, so a spawn from the test, the code under
 *   test or a library (playwright launches Chromium this way) is seen, whatever the import style.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The terraform double is a test program of this repository, allowed in the fast set. */
const TERRAFORM_DOUBLE = path.join(ROOT, 'test', 'terraform-double', 'terraform');
const CLI_ENTRIES = [path.join(ROOT, 'bin', 'tfgate.js'), path.join(ROOT, 'bin', 'cli.ts'), path.join(ROOT, 'dist')];

export const FAST_TIER_RULE =
  'is not allowed in the fast set (npm test): name the test file *.slow.test.ts (README, Development)';

/** Kept on the process, so that the guard's own test (test/architecture/test-tiers.test.ts) can take them. */
const VIOLATIONS = Symbol.for('tfgate.fastTier.violations');
const store = globalThis as { [VIOLATIONS]?: string[] };
store[VIOLATIONS] ??= [];
const violations = store[VIOLATIONS];

/** The violations seen since the last call, cleared: for a test that commits one on purpose. */
export function takeViolations(): string[] {
  return violations.splice(0);
}

function forbidden(what: string): Error {
  const message = `${what} ${FAST_TIER_RULE}`;
  violations.push(message);
  return new Error(message);
}

/** What a process start would run, if it is one of the forbidden kinds. */
export function forbiddenProcess(command: string, args: readonly string[], shell = false): string | undefined {
  const words = shell ? command.split(/\s+/).filter(Boolean) : [command, ...args];
  const [program = '', ...rest] = words;
  const name = path.basename(program);
  const resolvedProgram = program.includes('/') ? path.resolve(program) : program;
  if (name === 'terraform' && resolvedProgram !== TERRAFORM_DOUBLE) return `running the real terraform (${program})`;
  if (/^(chromium|chromium-browser|chrome|google-chrome|headless_shell)$/.test(name))
    return `starting a browser (${program})`;
  if (name === 'tfgate') return 'starting the tfgate CLI as a process';
  if (/^node(\.exe)?$|^tsx$/.test(name) || program === process.execPath) {
    const script = rest.find((word) => !word.startsWith('-'));
    if (script && CLI_ENTRIES.some((entry) => path.resolve(script).startsWith(entry)))
      return `starting the tfgate CLI as a process (${script})`;
  }
  return undefined;
}

type AnyFunction = (...args: never[]) => unknown;

function guardChildProcess(): void {
  const require = createRequire(import.meta.url);
  const childProcess = require('node:child_process') as Record<string, AnyFunction> & { __fastTier?: true };
  if (childProcess.__fastTier) return;
  const argsOf = (value: unknown): readonly string[] => (Array.isArray(value) ? (value as string[]) : []);
  const wrap = (name: string, shell: boolean) => {
    const real = childProcess[name]!;
    childProcess[name] = function guarded(this: unknown, ...params: never[]) {
      const command = String(params[0] ?? '');
      const what =
        name === 'fork'
          ? forbiddenProcess(process.execPath, [command, ...argsOf(params[1])])
          : forbiddenProcess(command, argsOf(params[1]), shell);
      if (what) throw forbidden(what);
      return real.apply(this, params);
    } as AnyFunction;
  };
  for (const name of ['spawn', 'spawnSync', 'execFile', 'execFileSync', 'fork']) wrap(name, false);
  for (const name of ['exec', 'execSync']) wrap(name, true);
  childProcess.__fastTier = true;
  // `import { spawn } from 'node:child_process'` reads the ES module's own bindings: bring them in line.
  syncBuiltinESMExports();
}

guardChildProcess();

const stackModule = inject('localStackModule');
vi.doMock(stackModule, async (importOriginal) => ({
  ...(await importOriginal<Record<string, unknown>>()),
  startLocalStack: () => {
    throw forbidden('starting the local stack (startLocalStack)');
  },
}));

afterEach(() => {
  const found = takeViolations();
  if (found.length > 0) throw new Error(found.join('\n'));
});
