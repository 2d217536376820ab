import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * Biome wraps code at 120 columns but leaves long strings and comments alone; this holds them to the
 * same width, so every line of the source reads without scrolling.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WIDTH = 120;

describe('line width', () => {
  it(`no line of TypeScript or JavaScript is over ${WIDTH} characters`, () => {
    const files = execFileSync('git', ['ls-files', '*.ts', '*.mts', '*.js', '*.mjs'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    expect(files.length).toBeGreaterThan(100);
    const long = files.flatMap((file) =>
      readFileSync(path.join(ROOT, file), 'utf8')
        .split('\n')
        .flatMap((line, index) => (line.length > WIDTH ? [`${file}:${index + 1} (${line.length})`] : [])),
    );
    expect(long).toEqual([]);
  });
});
