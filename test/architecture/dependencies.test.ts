import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { foldersOf, importsOf, importsOfSource, inside, ROOT, sourceFiles, type Import } from './source-imports.js';

/**
 * The layout's dependency rules, checked on every import (static, re-export, dynamic, type-only) of
 * every source file. The domain has its own, stricter test (domain-imports.test.ts); these keep the
 * rest of the house in order. Functions are the folders of lambdas/ as they are on disk; every folder
 * a rule names must exist, so that a rule can never pass by looking at nothing.
 */

const FUNCTIONS = 'lambdas';
const LOCAL_MODE = 'src/local-mode';
/** Where the targets are composed: the only code under src/ that may load a function. */
const COMPOSITION_ROOTS = [LOCAL_MODE, 'src/composition'];
const BUILD_RUNNER = 'src/build-runner';
const BUILD_RUNNER_MAY_USE = [
  'src/build-runner',
  'src/domain',
  'src/adapters',
  'src/env.ts',
  'src/terraform-locator.ts',
];

const functionOf = (target: string) => target.split('/')[1];
const asOnDisk = (target: string) => target.replace(/\.(m?)js$/, '.$1ts');

type Rule = (target: string, file: string, imported: Import) => boolean;

function violations(files: string[], forbidden: Rule, read = importsOf): string[] {
  return files.flatMap((file) =>
    read(file)
      .filter((imported) => imported.target !== undefined && forbidden(imported.target, file, imported))
      .map((imported) => `${file}:${imported.line} → ${imported.target}`),
  );
}

const rules = {
  srcLoadsNoFunction: ((target) => inside(target, FUNCTIONS)) as Rule,
  functionsApart: ((target, file) => inside(target, FUNCTIONS) && functionOf(target) !== functionOf(file)) as Rule,
  awsWithoutLocalMode: ((target) => inside(target, LOCAL_MODE)) as Rule,
  buildRunnerOwnProgram: ((target) =>
    !BUILD_RUNNER_MAY_USE.some((allowed) => inside(asOnDisk(target), allowed))) as Rule,
};

describe('layout', () => {
  it('every folder and file the rules name exists, and the functions are read from the tree', () => {
    for (const named of [FUNCTIONS, ...COMPOSITION_ROOTS, BUILD_RUNNER, ...BUILD_RUNNER_MAY_USE]) {
      expect(existsSync(path.join(ROOT, named)), named).toBe(true);
    }
    expect(foldersOf(FUNCTIONS).length).toBeGreaterThanOrEqual(5);
    for (const fn of foldersOf(FUNCTIONS)) expect(sourceFiles(`${FUNCTIONS}/${fn}`).length, fn).toBeGreaterThan(0);
  });

  it('code under src/ does not import a function, except the composition roots', () => {
    const files = sourceFiles('src').filter((f) => !COMPOSITION_ROOTS.some((root) => inside(f, root)));
    expect(files.length).toBeGreaterThan(20);
    expect(violations(files, rules.srcLoadsNoFunction)).toEqual([]);
  });

  it('a function does not import another function', () => {
    const files = foldersOf(FUNCTIONS).flatMap((fn) => sourceFiles(`${FUNCTIONS}/${fn}`));
    expect(violations(files, rules.functionsApart)).toEqual([]);
  });

  it('nothing that runs in AWS imports the local mode', () => {
    const files = [...sourceFiles(FUNCTIONS), ...sourceFiles('src'), ...sourceFiles('infra')].filter(
      (f) => !inside(f, LOCAL_MODE),
    );
    expect(violations(files, rules.awsWithoutLocalMode)).toEqual([]);
  });

  it('the build runner, a program of its own, imports no function, no local mode and no configuration', () => {
    const files = sourceFiles(BUILD_RUNNER);
    expect(files.length).toBeGreaterThan(3);
    expect(violations(files, rules.buildRunnerOwnProgram)).toEqual([]);
  });

  it('each rule catches its violation, in any import form', () => {
    const sources: Record<string, string> = {
      'src/adapters/github/example.ts': "export { handler } from '../../../lambdas/webhook/handler.js';",
      'lambdas/web/example.ts': "const tasks = await import('../stage-tasks/handler.js');",
      'infra/example.ts': "import type { LocalStack } from '../src/local-mode/runtime.js';",
      'src/build-runner/example.ts': "import { loadConfigFile } from '../config/load.js';",
    };
    const read = (file: string) => importsOfSource(file, sources[file]!);
    expect(violations(['src/adapters/github/example.ts'], rules.srcLoadsNoFunction, read)).toEqual([
      'src/adapters/github/example.ts:1 → lambdas/webhook/handler.js',
    ]);
    expect(violations(['lambdas/web/example.ts'], rules.functionsApart, read)).toEqual([
      'lambdas/web/example.ts:1 → lambdas/stage-tasks/handler.js',
    ]);
    expect(violations(['infra/example.ts'], rules.awsWithoutLocalMode, read)).toEqual([
      'infra/example.ts:1 → src/local-mode/runtime.js',
    ]);
    expect(violations(['src/build-runner/example.ts'], rules.buildRunnerOwnProgram, read)).toEqual([
      'src/build-runner/example.ts:1 → src/config/load.js',
    ]);
  });
});
