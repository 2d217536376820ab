import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { startLocalDynamo, type LocalDynamo } from '../../src/local-mode/dynalite.js';
import { createDynamoStores, createTables } from '../../src/adapters/dynamo/index.js';
import { localTableNames } from '../../src/adapters/dynamo/table-layout.js';
import type { Clock } from '../../src/domain/ports.js';

export type TestDynamo = LocalDynamo;

function testPrefix(): string {
  return `test-${randomBytes(4).toString('hex')}`;
}

/**
 * A dynalite server on a free loopback port with tfgate's tables created. Each call gets its own
 * table prefix, so tests sharing a server cannot see each other's items.
 */
export async function startDynalite(options: { path?: string; clock?: Clock } = {}): Promise<TestDynamo> {
  return startLocalDynamo({ path: options.path, clock: options.clock, tablePrefix: testPrefix() });
}

/**
 * A new set of tfgate's tables on a running server, with stores wired to them: an empty database
 * without a new server. Its `close` leaves the server running (the server's owner closes it).
 */
export async function freshTables(server: TestDynamo, options: { clock?: Clock } = {}): Promise<TestDynamo> {
  const tables = localTableNames(testPrefix());
  await createTables(server.client, tables);
  return {
    ...server,
    tables,
    stores: createDynamoStores(server.doc, tables, options.clock),
    close: async () => undefined,
  };
}

/**
 * The usual set-up of a file that talks to DynamoDB: one dynalite server for the file (started in
 * beforeAll, closed in afterAll) and fresh tables for every test, so no test sees another's items.
 * Call it at the top of a file or describe, before the hooks that use it. The result is a live view:
 * its fields are the current test's tables and stores (read them inside a test or a hook, not when
 * the file loads); `close` is left to the helper.
 */
export function useDynalite(options: { clock?: Clock } = {}): TestDynamo {
  let server: TestDynamo | undefined;
  // The next test's tables are created while the current test runs: table creation is mostly waiting.
  let next: Promise<TestDynamo> | undefined;
  let current: TestDynamo | undefined;
  beforeAll(async () => {
    server = await startDynalite(options);
    next = freshTables(server, options);
  });
  afterAll(async () => {
    await next?.catch(() => undefined);
    await server?.close();
  });
  beforeEach(async () => {
    if (!server || !next) throw new Error('useDynalite: the server did not start');
    current = await next;
    next = freshTables(server, options);
    // A failure shows in the next beforeEach; until then it must not count as unhandled.
    next.catch(() => undefined);
  });
  const now = (): TestDynamo => {
    if (!current) throw new Error('useDynalite: no tables yet (read them inside a test or a hook after the helper)');
    return current;
  };
  return {
    get endpoint() {
      return now().endpoint;
    },
    get client() {
      return now().client;
    },
    get doc() {
      return now().doc;
    },
    get tables() {
      return now().tables;
    },
    get stores() {
      return now().stores;
    },
    close: async () => undefined,
  };
}
