import { type FileHandle, open } from 'node:fs/promises';
import path from 'node:path';
import { buildLogName } from '../domain/artifact-keys.js';
import type { BuildLogQuery, BuildLogs, BuildLogTail } from '../domain/ports.js';

/**
 * Local builds' output: the local CodeBuild stand-in appends what the runner prints to one file per
 * stage and mode as it happens, and the run page reads the end of that file while the build runs.
 */

/** At most this much of the file's end is read: a tail, whatever the log's size. */
const TAIL_BYTES = 64 * 1024;
const SAFE_NAME = /^[A-Za-z0-9_-]{1,100}$/;

/** `<logsDir>/<runId>/<environment>-<mode>.log`: written by codebuild.ts, read by FileBuildLogs. */
export function localBuildLogFile(logsDir: string, runId: string, environment: string, mode: string): string {
  return path.join(logsDir, runId, buildLogName(environment, mode));
}

export class FileBuildLogs implements BuildLogs {
  constructor(private readonly logsDir: string) {}

  async tail(query: BuildLogQuery, maxLines: number): Promise<BuildLogTail | undefined> {
    // The names come from routes and run records; a path is only built from plain names.
    if (![query.runId, query.environment].every((name) => SAFE_NAME.test(name))) return undefined;
    const file = localBuildLogFile(this.logsDir, query.runId, query.environment, query.mode);
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const { size } = await handle.stat();
      const start = Math.max(0, size - TAIL_BYTES);
      const buffer = Buffer.alloc(size - start);
      await handle.read(buffer, 0, buffer.length, start);
      return { ...tailLines(buffer.toString('utf8'), start > 0, maxLines), location: file };
    } finally {
      await handle.close();
    }
  }
}

/** The last `maxLines` complete lines of a text (a cut first line is dropped), and whether any were left out. */
export function tailLines(
  text: string,
  cutAtStart: boolean,
  maxLines: number,
): Pick<BuildLogTail, 'lines' | 'truncated'> {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (cutAtStart) lines.shift();
  const kept = lines.slice(-maxLines);
  return { lines: kept, truncated: cutAtStart || kept.length < lines.length };
}
