/**
 * The Lambda bundles and the CodeBuild runner bundle the package ships (dist/functions/), written by
 * `npm run build`, so a user's `cdk synth` needs neither the TypeScript sources nor esbuild. The
 * options are the ones this repository's synth gives NodejsFunction and the runner asset.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { BuildOptions } from 'esbuild';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { PREBUILT_CODEBUILD_RUNNER, RUNNER_BUNDLE_OPTIONS } from './builds.js';
import { FUNCTION_BUNDLING, FUNCTION_SOURCES, PROJECT_ROOT, prebuiltFunctionDir } from './functions.js';

/**
 * NodejsFunction's bundling options as esbuild's; an option not translated here stops the build rather than being
 * dropped.
 */
export function esbuildOptionsOf(bundling: typeof FUNCTION_BUNDLING): BuildOptions {
  const { minify, sourceMap, format, target, externalModules, mainFields, banner, forceDockerBundling, ...rest } =
    bundling;
  const untranslated = Object.keys(rest);
  if (untranslated.length > 0)
    throw new Error(
      `infra/function-bundles.ts: translate the bundling option(s) ${untranslated.join(', ')} for the package's ` +
        `prebuilt functions`,
    );
  void forceDockerBundling;
  return {
    bundle: true,
    platform: 'node',
    minify,
    sourcemap: sourceMap,
    format: format === OutputFormat.ESM ? 'esm' : 'cjs',
    target,
    external: [...externalModules],
    mainFields: [...mainFields],
    banner: { js: banner },
    logLevel: 'error',
    absWorkingDir: PROJECT_ROOT,
  };
}

export async function writeFunctionBundles(): Promise<string[]> {
  const { build } = await import('esbuild');
  const written: string[] = [];
  for (const name of FUNCTION_SOURCES) {
    const dir = prebuiltFunctionDir(name);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const outfile = path.join(dir, FUNCTION_BUNDLING.format === OutputFormat.ESM ? 'index.mjs' : 'index.js');
    await build({
      ...esbuildOptionsOf(FUNCTION_BUNDLING),
      entryPoints: [path.join(PROJECT_ROOT, 'lambdas', name, 'lambda.ts')],
      outfile,
    });
    written.push(outfile);
  }
  await mkdir(path.dirname(PREBUILT_CODEBUILD_RUNNER), { recursive: true });
  await build({
    ...RUNNER_BUNDLE_OPTIONS,
    entryPoints: [...RUNNER_BUNDLE_OPTIONS.entryPoints],
    mainFields: [...RUNNER_BUNDLE_OPTIONS.mainFields],
    outfile: PREBUILT_CODEBUILD_RUNNER,
  });
  written.push(PREBUILT_CODEBUILD_RUNNER);
  return written;
}
