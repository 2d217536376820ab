import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The layout's dependency rules, checked on every import of every source file. The domain has its own,
 * stricter test (domain-imports.test.ts); these keep the rest of the house in order.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(ts|mts|js|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts'))
    .map((entry) => path.relative(ROOT, path.join(entry.parentPath, entry.name)));
}

/** Every relative import of a file, as a path from the repository root. */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const specifiers = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specifiers.map((spec) => path.normalize(path.join(path.dirname(file), spec)));
}

function violations(files: string[], forbidden: (target: string, file: string) => boolean): string[] {
  return files.flatMap((file) =>
    importsOf(file)
      .filter((target) => forbidden(target, file))
      .map((t) => `${file} → ${t}`),
  );
}

const inside = (target: string, folder: string) => target.startsWith(`${folder}/`);
const functionOf = (file: string) => file.split('/')[1];

describe('layout', () => {
  it('code under src/ does not import a function, except the two composition roots', () => {
    const files = sourceFiles('src').filter((f) => !inside(f, 'src/local-mode') && !inside(f, 'src/composition'));
    expect(files.length).toBeGreaterThan(20);
    expect(violations(files, (target) => inside(target, 'lambdas'))).toEqual([]);
  });

  it('a function does not import another function', () => {
    const files = sourceFiles('lambdas');
    expect(
      violations(files, (target, file) => inside(target, 'lambdas') && functionOf(target) !== functionOf(file)),
    ).toEqual([]);
  });

  it('nothing that runs in AWS imports the local mode', () => {
    const files = [...sourceFiles('lambdas'), ...sourceFiles('src'), ...sourceFiles('infra')].filter(
      (f) => !inside(f, 'src/local-mode'),
    );
    expect(violations(files, (target) => inside(target, 'src/local-mode'))).toEqual([]);
  });

  it('the build runner, a program of its own, imports no function, no local mode and no configuration', () => {
    const files = sourceFiles('src/build-runner');
    expect(files.length).toBeGreaterThan(3);
    const allowed = (target: string) =>
      ['src/build-runner', 'src/domain', 'src/adapters'].some((folder) => inside(target, folder)) ||
      target === 'src/env.js' ||
      target === 'src/terraform-locator.js';
    expect(violations(files, (target) => !allowed(target))).toEqual([]);
  });
});
