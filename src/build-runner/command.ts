/**
 * How to start the build runner as a subprocess (the local engine's codebuild:startBuild.sync). tsx
 * is named by its resolved file URL rather than as `--import tsx`, because a bare `tsx` would be looked
 * up from the child's working directory, which may be anywhere.
 */
import { fileURLToPath } from 'node:url';

export interface BuildRunnerCommand {
  command: string;
  args: string[];
}

export function buildRunnerCommand(): BuildRunnerCommand {
  const tsxLoader = import.meta.resolve('tsx');
  const entry = fileURLToPath(new URL('./main.ts', import.meta.url));
  return { command: process.execPath, args: ['--import', tsxLoader, entry] };
}
