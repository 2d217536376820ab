import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RETRYABLE_ERROR_NAME, TfgateError } from '../../src/domain/errors.js';
import { TransientStoreError } from '../../src/adapters/dynamo/errors.js';
import { RetryableTaskError } from '../../lambdas/stage-tasks/handler.js';
import { MissingEnvironmentError } from '../../src/env.js';
import { ConfigError } from '../../src/config/load.js';

/** One error hierarchy: every error class tfgate defines descends from TfgateError (name and cause). */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SOURCE_DIRS = ['lambdas', 'src', 'bin'];

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (name === 'node_modules') return [];
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : name.endsWith('.ts') ? [full] : [];
  });
}

describe('one error hierarchy', () => {
  it('no class but TfgateError extends Error directly', () => {
    const direct: string[] = [];
    for (const file of SOURCE_DIRS.flatMap((dir) => filesUnder(path.join(ROOT, dir)))) {
      for (const match of readFileSync(file, 'utf8').matchAll(/class\s+(\w+)\s+extends\s+Error\b/g)) {
        direct.push(`${path.relative(ROOT, file)}: ${match[1]}`);
      }
    }
    expect(direct).toEqual(['src/domain/errors.ts: TfgateError']);
  });

  it('errors carry their own name and their cause', () => {
    const cause = new Error('underneath');
    const error = new MissingEnvironmentError('missing environment variable: X', { cause });
    expect(error).toBeInstanceOf(TfgateError);
    expect(error.name).toBe('MissingEnvironmentError');
    expect(error.cause).toBe(cause);
    expect(new ConfigError([{ file: 'f', line: 1, column: 1, message: 'bad' }])).toBeInstanceOf(TfgateError);
  });

  it('the two retryable errors have distinct classes and the one name the definition retries', () => {
    expect(new RetryableTaskError('x').name).toBe(RETRYABLE_ERROR_NAME);
    expect(new TransientStoreError('x').name).toBe(RETRYABLE_ERROR_NAME);
    expect(RetryableTaskError).not.toBe(TransientStoreError);
    const definition = readFileSync(path.join(ROOT, 'statemachine', 'pipeline.asl.json'), 'utf8');
    expect(definition).toContain(`"${RETRYABLE_ERROR_NAME}"`);
  });
});
