/**
 * Apply records of one root in local mode: files in the repository's state directory, beside the
 * local backend's state (`<state dir>/tfgate-applied/<stack>/<environment>.json`). The runner reads and
 * writes them itself, outside any sandbox; no build sees them.
 */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type AppliedRecord, type AppliedRecords, parseAppliedRecord, stackKeyOf } from './managed-state.js';

export class LocalAppliedRecords implements AppliedRecords {
  private readonly dir: string;

  constructor(stateDir: string, directory: string) {
    this.dir = path.join(stateDir, 'tfgate-applied', ...stackKeyOf(directory).split('/'));
  }

  async get(environment: string): Promise<AppliedRecord | undefined> {
    const body = await readFile(this.fileOf(environment)).catch(() => undefined);
    return parseAppliedRecord(body);
  }

  async put(record: AppliedRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = this.fileOf(record.environment);
    const temporary = `${file}.tmp`;
    await writeFile(temporary, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    await rename(temporary, file);
  }

  async environments(): Promise<string[]> {
    const entries = await readdir(this.dir, { withFileTypes: true }).catch(() => []);
    return entries
      .filter((entry) => entry.isFile() && entry.name.endsWith('.json'))
      .map((entry) => entry.name.slice(0, -'.json'.length));
  }

  describe(environment: string): string {
    return this.fileOf(environment);
  }

  private fileOf(environment: string): string {
    return path.join(this.dir, `${environment}.json`);
  }
}
