import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * Local builds leave nothing behind. Each build runs in its own process group (the runner is the
 * group leader; terraform, providers and provisioners join it) and gets its own `tfgate-build-*`
 * temporary directory as TMPDIR (the runner's work directory, with the checkout and the tfplan, lives
 * inside it). A record in `<data>/run/builds/` names both while the build runs. A build that ends is
 * cleaned at once: its group is killed (orphans such as a provisioner's background `sleep`) and its
 * directory removed. What `tfgate local` could not clean because it was killed itself is cleaned at
 * its next start, from the records (`reapLeftoverBuilds`).
 */

/** Inherited by every process of a build: how a leftover process is recognised as one of ours. */
export const BUILD_MARKER_VARIABLE = 'TFGATE_LOCAL_BUILD';

export interface BuildRecord {
  key: string;
  /** The runner's pid, which is also the process group id (it is started detached). */
  pgid?: number;
  tmpDir: string;
  startedAt: string;
}

export interface BuildSlot {
  key: string;
  tmpDir: string;
  /** Records the group once the runner started. */
  started(pgid: number): Promise<void>;
  /** Kills whatever is left of the group, removes the directory and the record. */
  cleanUp(): Promise<void>;
}

function recordFile(buildsDir: string, key: string): string {
  return path.join(buildsDir, `${key}.json`);
}

/** Makes the build's temporary directory and its record before the runner starts. */
export async function openBuildSlot(buildsDir: string, tmpRoot = os.tmpdir()): Promise<BuildSlot> {
  await mkdir(buildsDir, { recursive: true });
  const tmpDir = await mkdtemp(path.join(tmpRoot, 'tfgate-build-'));
  const key = path.basename(tmpDir);
  const record: BuildRecord = { key, tmpDir, startedAt: new Date().toISOString() };
  await writeFile(recordFile(buildsDir, key), JSON.stringify(record));
  return {
    key,
    tmpDir,
    async started(pgid) {
      record.pgid = pgid;
      await writeFile(recordFile(buildsDir, key), JSON.stringify(record));
    },
    async cleanUp() {
      killBuildProcesses(record, 'SIGKILL');
      await rm(tmpDir, { recursive: true, force: true });
      await rm(recordFile(buildsDir, key), { force: true });
    },
  };
}

/**
 * The processes of a build. On Linux: every process whose environment carries the build's marker
 * (so a recycled process group id never makes us kill a stranger); elsewhere the group as recorded.
 */
function buildPids(record: BuildRecord): number[] | 'group' {
  // Synchronous: one quick pass over /proc, not interleaved with anything else.
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return 'group';
  }
  const marker = `${BUILD_MARKER_VARIABLE}=${record.key}`;
  const pids: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // One whole NUL-separated entry, never a longer name that merely ends the same way.
      const environ = readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0');
      if (environ.includes(marker)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return pids;
}

function killBuildProcesses(record: BuildRecord, signal: NodeJS.Signals): number {
  const pids = buildPids(record);
  if (pids === 'group') {
    if (!record.pgid) return 0;
    try {
      process.kill(-record.pgid, signal);
      return 1;
    } catch {
      return 0;
    }
  }
  let killed = 0;
  for (const pid of pids) {
    if (pid === process.pid) continue;
    try {
      process.kill(pid, signal);
      killed += 1;
    } catch {
      // Already gone.
    }
  }
  return killed;
}

/** At start: the builds a killed `tfgate local` left running or on disk are stopped and removed. */
export async function reapLeftoverBuilds(buildsDir: string): Promise<{ builds: number; processes: number }> {
  let names: string[];
  try {
    names = await readdir(buildsDir);
  } catch {
    return { builds: 0, processes: 0 };
  }
  let builds = 0;
  let processes = 0;
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    const file = path.join(buildsDir, name);
    let record: BuildRecord | undefined;
    try {
      record = JSON.parse(await readFile(file, 'utf8')) as BuildRecord;
    } catch {
      record = undefined;
    }
    // Only a directory this module made: a tfgate-build-* name, never anything a hand-edited record names.
    if (
      record &&
      typeof record.tmpDir === 'string' &&
      path.isAbsolute(record.tmpDir) &&
      /^tfgate-build-[A-Za-z0-9]+$/.test(path.basename(record.tmpDir)) &&
      record.key === path.basename(record.tmpDir)
    ) {
      processes += killBuildProcesses(record, 'SIGKILL');
      await rm(record.tmpDir, { recursive: true, force: true });
      builds += 1;
    }
    await rm(file, { force: true });
  }
  return { builds, processes };
}
