/**
 * `npm run build` (and `npm pack`, through prepack): the JavaScript and type declarations the
 * package ships under dist/, plus the build runner (local and CodeBuild) and each Lambda function as
 * prebuilt bundles, so an installed tfgate (CLI or CDK construct) needs neither a TypeScript compiler
 * nor esbuild at run time.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { packageFile } from '../src/package-files.js';
import { PREBUILT_RUNNER, writeRunnerBundle } from '../src/local-mode/codebuild.js';
import { writeFunctionBundles } from '../infra/function-bundles.js';

const dist = packageFile('dist');
rmSync(dist, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [packageFile('node_modules', 'typescript', 'bin', 'tsc'), '-p', packageFile('tsconfig.build.json')],
  { stdio: ['ignore', process.stderr, 'inherit'] },
);
await writeRunnerBundle(PREBUILT_RUNNER);
// For `import { Tfgate } from 'tfgate/cdk'`: a user's synth packages these instead of bundling sources.
await writeFunctionBundles();
// stderr: `npm pack --json` prints its JSON on stdout, which the build must not break.
process.stderr.write(
  `built ${dist} (compiled CLI, construct and functions, declarations, build runner and Lambda bundles)\n`,
);
