import { existsSync } from 'node:fs';
import path from 'node:path';
import type { RunFiles } from '../web/public-run.js';
import { buildLogName, runArtifactsKey } from '../domain/artifact-keys.js';
import type { Run } from '../domain/run.js';

/** Where a run's state, logs and artifacts are in the data directory (README: "The data directory"). */

export function stateDirFor(dataDir: string, repository: string): string {
  return path.join(dataDir, 'state', repository.replace('/', '__'));
}

/** Where a run's outputs are in the data directory (README: "The data directory"). */
export function localFilesOf(dataDir: string, run: Run): RunFiles {
  const logs = path.join(dataDir, 'logs', run.id);
  const stages: RunFiles['stages'] = {};
  for (const stage of run.stages) {
    const files: Record<string, string> = {};
    for (const mode of ['plan', 'apply'] as const) {
      const log = path.join(logs, buildLogName(stage.environment, mode));
      if (existsSync(log)) files[`${mode} log`] = log;
    }
    stages[stage.environment] = files;
  }
  return {
    locations: {
      logs,
      artifacts: path.join(dataDir, 'artifacts', ...runArtifactsKey(run.id).split('/')),
      state: path.join(stateDirFor(dataDir, run.repository), 'terraform.tfstate.d'),
    },
    stages,
  };
}
