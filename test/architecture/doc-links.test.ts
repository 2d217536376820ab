import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './source-imports.js';

/**
 * The docs cite files; a cited file that is gone (renamed, merged, never written) sends a reader looking
 * for nothing. Every Markdown link to a local file must resolve, and every `backticked` path that names a
 * repository file must name one that exists:
 * - a path whose first folder is one of the repository's own top-level entries (`src/…`, `lambdas/*`,
 *   `test/support/`, `.ci/run`): it exists, with `*`, `<…>` and `…` read as wildcards;
 * - a source file name (`*.ts`, `*.js`, `*.mjs`), bare or with some of its folders (`engine.ts`,
 *   `notify/escape.ts`): a tracked file ends with it.
 * What is not the repository's (URLs, paths under the data directory or in S3, build output named in
 * .gitignore such as `dist/`, `../shared/…`) is left alone.
 */

const CODE_FILE = /\.(ts|mts|js|mjs|cjs)$/;

interface DocFinding {
  doc: string;
  line: number;
  reference: string;
}

interface Tree {
  files: string[];
  /** Files and every folder that holds one, as paths from the root (folders without a trailing slash). */
  entries: Set<string>;
  topLevel: Set<string>;
  /** Whether git ignores the path (build output, bench output: the docs may name what is made there). */
  ignored: (reference: string) => boolean;
}

function readTree(files: string[], ignored: (reference: string) => boolean): Tree {
  const entries = new Set<string>();
  for (const file of files) {
    const parts = file.split('/');
    for (let i = 1; i <= parts.length; i++) entries.add(parts.slice(0, i).join('/'));
  }
  return { files, entries, topLevel: new Set(files.map((file) => file.split('/')[0]!)), ignored };
}

function wildcard(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escaped.replace(/\\\$\\{[^}]*\\}|<[^>]*>|\*|…/g, '[^/]+')}$`);
}

function exists(tree: Tree, reference: string): boolean {
  const clean = reference.replace(/\/$/, '');
  if (/[*<…]/.test(clean)) {
    const pattern = wildcard(clean);
    return [...tree.entries].some((entry) => pattern.test(entry));
  }
  return tree.entries.has(clean);
}

/** What a backticked span names in the repository, if it names anything: the reference to check. */
function repositoryReference(span: string, tree: Tree): string | undefined {
  if (/\s|:\/\/|^[/~$@<-]|^\.\.\//.test(span)) return undefined;
  const reference = span.replace(/^\.\//, '').replace(/:\d+(:\d+)?$/, '');
  const first = reference.split('/')[0]!;
  if (reference.includes('/') && tree.topLevel.has(first)) return reference;
  if (CODE_FILE.test(reference) && !/[*<…]/.test(reference)) return reference;
  return undefined;
}

function brokenReferences(doc: string, text: string, tree: Tree): DocFinding[] {
  const found: DocFinding[] = [];
  const docDir = path.posix.dirname(doc);
  const lines = text.split('\n');
  let fenced = false;
  lines.forEach((line, index) => {
    if (/^\s*```/.test(line)) fenced = !fenced;
    if (fenced) return;
    for (const match of line.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1]!.split('#')[0]!;
      if (!target || /^[a-z]+:/i.test(target)) continue;
      const resolved = path.posix.normalize(path.posix.join(docDir, target));
      if (!exists(tree, resolved)) found.push({ doc, line: index + 1, reference: match[1]! });
    }
    for (const match of line.matchAll(/`([^`\n]+)`/g)) {
      const reference = repositoryReference(match[1]!, tree);
      if (!reference) continue;
      const fromDoc = path.posix.normalize(path.posix.join(docDir, reference));
      const ok =
        exists(tree, reference) ||
        exists(tree, fromDoc) ||
        (CODE_FILE.test(reference) &&
          tree.files.some((file) => file === reference || file.endsWith(`/${reference}`))) ||
        tree.ignored(reference.replace(/[*<…].*$/, 'x'));
      if (!ok) found.push({ doc, line: index + 1, reference: match[1]! });
    }
  });
  return found;
}

const trackedFiles = () =>
  execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);

function gitIgnores(reference: string): boolean {
  try {
    execFileSync('git', ['check-ignore', '-q', '--no-index', reference], { cwd: ROOT });
    return true;
  } catch {
    return false;
  }
}

/** The docs a reader follows: every tracked Markdown file but the changelog, which records the past. */
const DOCS = (files: string[]) => files.filter((file) => file.endsWith('.md') && file !== 'CHANGELOG.md');

describe("the docs' file references", () => {
  const files = trackedFiles();
  const tree = readTree(files, gitIgnores);

  it('read the docs and the tree', () => {
    expect(DOCS(files)).toEqual(expect.arrayContaining(['README.md', 'CONTRIBUTING.md', 'docs/architecture.md']));
    expect(tree.topLevel).toEqual(expect.objectContaining(new Set(['src', 'lambdas', 'test'])));
  });

  it('every cited repository file exists', () => {
    const broken = DOCS(files).flatMap((doc) =>
      brokenReferences(doc, readFileSync(path.join(ROOT, doc), 'utf8'), tree),
    );
    expect(broken.map((f) => `${f.doc}:${f.line} \`${f.reference}\``)).toEqual([]);
  });

  it('the check finds a missing file however it is cited, and leaves what is not the repository alone', () => {
    const example = readTree(
      ['src/local-mode/engine.ts', 'src/adapters/notify/escape.ts', 'lambdas/webhook/lambda.ts', 'docs/aws.md'],
      (reference) => reference.startsWith('dist/'),
    );
    const doc = [
      'Cited well: `engine.ts`, `notify/escape.ts`, `src/local-mode/`, `lambdas/*/lambda.ts`, `lambdas/<fn>/`,',
      '`src/local-mode/engine.ts:12`, [aws](aws.md), [up](../src/local-mode/engine.ts), `./src/…`.',
      'Not ours: `dist/bin/cli.js`, `<data>/run/builds/`, `artifacts/runs/x`, `s3://b/k`, `plan-result.json`.',
      'Missing: `grant-recorder.ts`, `src/local-mode/local-functions.ts`, `lambdas/*/entry.ts`, [gone](gone.md).',
      '```',
      '`inside-a-code-block.ts`',
      '```',
    ].join('\n');
    expect(brokenReferences('docs/example.md', doc, example).map((f) => `${f.line} ${f.reference}`)).toEqual([
      '4 gone.md',
      '4 grant-recorder.ts',
      '4 src/local-mode/local-functions.ts',
      '4 lambdas/*/entry.ts',
    ]);
  });
});
