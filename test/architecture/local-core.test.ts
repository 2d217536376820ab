import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** The local runtime (core) is handed the function handlers; it may name their types, never load them. */
const RUNTIME_FILE = 'src/local-mode/runtime.ts';
const FUNCTION_FOLDERS = ['approvals', 'notifier', 'pipeline', 'reconciler', 'webhook', 'build-runner'];

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

describe(`${RUNTIME_FILE} depends on no function folder`, () => {
  it("imports from the functions' folders are type-only", () => {
    const source = readFileSync(path.join(ROOT, RUNTIME_FILE), 'utf8');
    const loaded = [...source.matchAll(/^import\s+(type\s+)?[^;]*?from\s+'([^']+)';/gms)]
      .filter((match) => !match[1])
      .map((match) =>
        path.relative(path.join(ROOT, 'lambdas'), path.resolve(path.dirname(path.join(ROOT, RUNTIME_FILE)), match[2]!)),
      )
      .filter((target) => FUNCTION_FOLDERS.includes(target.split(path.sep)[0]!));
    expect(loaded).toEqual([]);
  });
});
