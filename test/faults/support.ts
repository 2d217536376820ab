import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import type { Run } from '../../src/domain/run.js';
import type { LocalStack } from '../../src/local-mode/runtime.js';

/** What every fault test checks at its end: nothing held, and every state file still whole. */

export async function expectNoLockHeld(stack: LocalStack): Promise<void> {
  // A run reads as ended only after its locks were freed, so this holds the moment the run ends.
  expect(await stack.stores.locks.listHeld()).toEqual([]);
}

/** Every terraform state under the data directory parses and has the format the double writes. */
export async function expectStateFilesIntact(stack: LocalStack): Promise<number> {
  let checked = 0;
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(file);
      else if (entry.name.endsWith('.tfstate')) {
        const state = JSON.parse(await readFile(file, 'utf8')) as {
          version?: number;
          serial?: number;
          lineage?: string;
        };
        expect(state.version, file).toBe(4);
        expect(typeof state.lineage, file).toBe('string');
        checked += 1;
      }
    }
  };
  await walk(path.join(stack.dataDir, 'state'));
  return checked;
}

export function stageStatuses(run: Run): Array<[string, string]> {
  return run.stages.map((s) => [s.environment, s.status]);
}

export { until } from '../support/local-stack.js';
