import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { Agent } from 'node:http';
import { type AddressInfo, createConnection, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import type { Clock } from '../domain/ports.js';
import { systemClock } from '../domain/ports.js';
import { createDynamoStores, createTables, documentClientFor, type DynamoStores } from '../adapters/dynamo/index.js';
import { localTableNames, type TableNames } from '../adapters/dynamo/table-layout.js';

export interface LocalDynamoOptions {
  /** LevelDB directory (created if missing); in memory when absent. */
  path?: string;
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /**
   * Listen on a Unix socket in a new owner-only directory instead of a TCP port (tfgate local): dynalite
   * checks no credential, and a build's sandbox keeps the network, so a port on the loopback would hand
   * every table to the code a build runs. The sandbox shows it no socket of tfgate's.
   */
  privateSocket?: boolean;
  /** Prefix of the table names; see localTableNames. */
  tablePrefix?: string;
  clock?: Clock;
}

export interface LocalDynamo {
  endpoint: string;
  client: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  tables: TableNames;
  stores: DynamoStores;
  close(): Promise<void>;
}

/**
 * Starts dynalite in this process, creates tfgate's tables and returns clients and stores wired to it.
 * `tfgate local` keeps its data on disk with `path`; tests run in memory.
 */
export async function startLocalDynamo(options: LocalDynamoOptions = {}): Promise<LocalDynamo> {
  const host = options.host ?? '127.0.0.1';
  if (options.path) await mkdir(options.path, { recursive: true });
  // Zero delays: tables are ACTIVE at once instead of after dynalite's simulated 500 ms.
  const server = dynalite({ path: options.path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const socketDir = options.privateSocket ? await mkdtemp(path.join(os.tmpdir(), 'tfgate-dynamo-')) : undefined;
  const socket = socketDir ? path.join(socketDir, 'dynamo.sock') : undefined;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const listening = () => {
      server.off('error', reject);
      resolve();
    };
    if (socket) server.listen(socket, listening);
    else server.listen(options.port ?? 0, host, listening);
  });
  const endpoint = socket ? 'http://dynalite.local' : `http://${host}:${(server.address() as AddressInfo).port}`;

  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    // dynalite checks that a signature is present, not what it says.
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    ...(socket ? { requestHandler: { httpAgent: new UnixSocketAgent(socket) } } : {}),
  });
  const doc = documentClientFor(client);
  const tables = localTableNames(options.tablePrefix);

  const close = async (): Promise<void> => {
    // Destroying the client first drops its keep-alive sockets, which would otherwise hold close() open.
    client.destroy();
    await new Promise<void>((resolve, reject) => {
      server.close((error?: Error) => (error ? reject(error) : resolve()));
      server.closeIdleConnections();
    });
    if (socketDir) await rm(socketDir, { recursive: true, force: true });
  };

  try {
    await createTables(client, tables);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    endpoint,
    client,
    doc,
    tables,
    stores: createDynamoStores(doc, tables, options.clock ?? systemClock),
    close,
  };
}

/** An HTTP agent whose connections go to a Unix socket, whatever host the request names. */
class UnixSocketAgent extends Agent {
  constructor(private readonly socketPath: string) {
    super({ keepAlive: true });
  }

  override createConnection(): Socket {
    return createConnection(this.socketPath);
  }
}
