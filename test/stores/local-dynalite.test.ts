import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalDynamo } from '../../src/local-mode/dynalite.js';

const directories: string[] = [];
afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

describe('local dynalite', () => {
  it('keeps data on disk across restarts, creating the tables only once', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'tfgate-dynalite-'));
    directories.push(directory);
    const path = join(directory, 'dynamo');

    const first = await startLocalDynamo({ path });
    expect(first.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await first.stores.deliveries.claim('delivery-1', new Date())).toBe(true);
    expect(await first.stores.sequences.next('acme/infrastructure')).toBe(1);
    await first.close();

    const second = await startLocalDynamo({ path });
    try {
      expect(await second.stores.deliveries.claim('delivery-1', new Date())).toBe(false);
      expect(await second.stores.sequences.next('acme/infrastructure')).toBe(2);
    } finally {
      await second.close();
    }
  });
});
