import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** The domain folder (runs, locks, approvals, plan summaries); the one line to change when it moves. */
const DOMAIN_DIR = 'src/domain';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DOMAIN = path.join(ROOT, DOMAIN_DIR);

/**
 * The domain imports nothing outward: no adapter folder, no AWS SDK or other package, no Node module that
 * does I/O. Relative imports are resolved to paths and must stay inside the domain folder; bare
 * specifiers must be on the short list of pure Node modules below.
 */
const PURE_NODE_MODULES = new Set(['node:crypto', 'node:events', 'node:util', 'node:assert']);

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : /\.(ts|mts|js|mjs)$/.test(name) ? [full] : [];
  });
}

// Static imports and re-exports (`import … from`, `export … from`, bare `import '…'`) and dynamic import().
const SPECIFIERS = new RegExp(
  String.raw`(?:^|[;\s])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]` +
    String.raw`|import\(\s*['"]([^'"]+)['"]\s*\)`,
  'gm',
);

function importsOf(source: string): string[] {
  // Comments may mention modules; only code counts.
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  return [...code.matchAll(SPECIFIERS)].map((match) => (match[1] ?? match[2])!);
}

function outwardImports(file: string, source: string, domainDir: string): string[] {
  const problems: string[] = [];
  for (const specifier of importsOf(source)) {
    if (specifier.startsWith('.')) {
      const target = path.resolve(path.dirname(file), specifier);
      const inside = path.relative(domainDir, target);
      if (inside.startsWith('..') || path.isAbsolute(inside))
        problems.push(`${specifier} (${path.relative(ROOT, target)})`);
    } else if (!PURE_NODE_MODULES.has(specifier)) {
      problems.push(specifier);
    }
  }
  return problems;
}

describe(`${DOMAIN_DIR} imports nothing outward`, () => {
  const files = filesUnder(DOMAIN);

  it('finds the domain files', () => {
    expect(files.length).toBeGreaterThan(5);
  });

  it.each(files.map((file) => [path.relative(ROOT, file), file]))('%s', (_name, file) => {
    expect(outwardImports(file, readFileSync(file, 'utf8'), DOMAIN)).toEqual([]);
  });

  it('the scan catches adapters, SDKs, I/O modules and dynamic imports', () => {
    const file = path.join(DOMAIN, 'example.ts');
    const source = [
      "import { DynamoRunStore } from '../adapters/dynamo/run-store.js';",
      "import type { Notifier } from '../adapters/notify/fan-out.js';",
      "export { GitHubClient } from '../adapters/github/client.js';",
      "import { S3Client } from '@aws-sdk/client-s3';",
      "import { readFile } from 'node:fs/promises';",
      "import { spawn } from 'child_process';",
      "const http = await import('node:http');",
      "import { ok } from './run.js';",
      "import { createHash } from 'node:crypto';",
      "// import { x } from '../local-mode/engine.js';",
    ].join('\n');
    expect(outwardImports(file, source, DOMAIN)).toEqual([
      `../adapters/dynamo/run-store.js (src/adapters/dynamo/run-store.js)`,
      `../adapters/notify/fan-out.js (src/adapters/notify/fan-out.js)`,
      `../adapters/github/client.js (src/adapters/github/client.js)`,
      '@aws-sdk/client-s3',
      'node:fs/promises',
      'child_process',
      'node:http',
    ]);
  });
});
