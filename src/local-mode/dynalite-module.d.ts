// Not named dynalite.d.ts: next to dynalite.ts, TypeScript would take that for the declaration of our own module and
// ignore it.
declare module 'dynalite' {
  import type { Server } from 'node:http';

  interface DynaliteOptions {
    /** LevelDB directory; in memory when absent. */
    path?: string;
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
    maxItemSizeKb?: number;
    verbose?: boolean;
    debug?: boolean;
    ssl?: boolean;
  }

  /** An http.Server whose close() also closes the LevelDB store once pending operations finish. */
  export default function dynalite(options?: DynaliteOptions): Server;
}
