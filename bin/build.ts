/**
 * `npm run build` (and `npm pack`, through prepack): the JavaScript and type declarations the
 * package ships under dist/, plus the build runner as one prebuilt bundle, so an installed tfgate
 * needs neither a TypeScript compiler nor esbuild at run time.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { packageFile } from '../lambdas/core/package-files.js';
import { PREBUILT_RUNNER, writeRunnerBundle } from '../lambdas/core/local/codebuild.js';

const dist = packageFile('dist');
rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [packageFile('node_modules', 'typescript', 'bin', 'tsc'), '-p', packageFile('tsconfig.build.json')], { stdio: ['ignore', process.stderr, 'inherit'] });
await writeRunnerBundle(PREBUILT_RUNNER);
// stderr: `npm pack --json` prints its JSON on stdout, which the build must not break.
process.stderr.write(`built ${dist} (compiled CLI and functions, declarations, build runner bundle)\n`);
