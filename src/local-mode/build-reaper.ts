import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * Local builds leave nothing behind. The runner is started detached, so it leads its own process
 * group; every command it runs is sandboxed in bubblewrap (src/build-runner/sandbox.ts) as the PID 1
 * of its own namespace with `--die-with-parent`, so a command's processes end with the command, and
 * all of them with the runner: nothing of a build outlives its group. Each build gets its own
 * `tfgate-build-*` temporary directory as TMPDIR (the runner's work directory, with the checkout and
 * the tfplan, lives inside it). A record in `<data>/run/builds/` names both while the build runs. A
 * build that ends is cleaned at once: what is left of its group is killed, then its directory removed
 * (by then no process of the build is alive; `rm` never follows a link). What `tfgate local` could not
 * clean because it was killed itself is cleaned at its next start, from the records
 * (`reapLeftoverBuilds`).
 *
 * Where no sandbox can be made (tfgate local says so at start), a build's processes are only its
 * process group: one that starts a new session (`setsid`) outlives the build.
 */

export interface BuildRecord {
  key: string;
  /** The runner's pid, which is also the process group id (it is started detached). */
  pgid?: number;
  /** Linux: the runner's start (clock ticks since boot, /proc/<pid>/stat): a reused id is never taken for it. */
  startTicks?: number;
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
      const ticks = processStat(pgid)?.startTicks;
      if (ticks !== undefined) record.startTicks = ticks;
      await writeFile(recordFile(buildsDir, key), JSON.stringify(record));
    },
    async cleanUp() {
      killBuildProcesses(record);
      await rm(tmpDir, { recursive: true, force: true });
      await rm(recordFile(buildsDir, key), { force: true });
    },
  };
}

/** Fields of /proc/<pid>/stat: the process group and the start time. Undefined off Linux or when gone. */
function processStat(pid: number): { pgid: number; startTicks: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pgid: Number(fields[2]), startTicks: Number(fields[19]) };
  } catch {
    return undefined;
  }
}

/**
 * Kills what is left of a build's process group. On Linux only the processes that are in the recorded
 * group and started no earlier than the runner did (a group id reused by a stranger is left alone);
 * elsewhere the group as recorded.
 */
function killBuildProcesses(record: BuildRecord): number {
  if (!record.pgid) return 0;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    try {
      process.kill(-record.pgid, 'SIGKILL');
      return 1;
    } catch {
      return 0;
    }
  }
  let killed = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const stat = processStat(pid);
    if (!stat || stat.pgid !== record.pgid) continue;
    if (record.startTicks !== undefined && stat.startTicks < record.startTicks) continue;
    try {
      process.kill(pid, 'SIGKILL');
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
      processes += killBuildProcesses(record);
      await rm(record.tmpDir, { recursive: true, force: true });
      builds += 1;
    }
    await rm(file, { force: true });
  }
  return { builds, processes };
}
