import { randomBytes } from 'node:crypto';
import { startLocalDynamo, type LocalDynamo } from '../../lambdas/core/local/dynalite.js';
import type { Clock } from '../../lambdas/core/domain/ports.js';

export type TestDynamo = LocalDynamo;

/**
 * A dynalite server on a free loopback port with tfgate's tables created. Each call gets its own
 * table prefix, so tests sharing a server cannot see each other's items.
 */
export async function startDynalite(options: { path?: string; clock?: Clock } = {}): Promise<TestDynamo> {
  return startLocalDynamo({ path: options.path, clock: options.clock, tablePrefix: `test-${randomBytes(4).toString('hex')}` });
}
