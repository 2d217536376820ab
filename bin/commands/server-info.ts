import path from 'node:path';

/**
 * Where a running `tfgate local` records its URL, so that the CLI's other commands find it. Its own
 * module: the client commands read it without loading the local stack.
 */
export function serverInfoFile(dataDir: string): string {
  return path.join(path.resolve(dataDir), 'run', 'server.json');
}
