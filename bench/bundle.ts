import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyzeMetafile, build, type Metafile } from 'esbuild';
import { FUNCTION_SOURCE, LAMBDA_BUNDLING } from '../infra/bundling.js';

/**
 * Part 2: each function's bundle, built with the options infra/functions.ts gives NodejsFunction (the
 * one object in infra/bundling.ts: minified ESM for node22, the AWS SDK bundled, module main fields,
 * the createRequire banner), so the bytes are the bytes Lambda loads.
 */

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The functions infra/functions.ts deploys, each from lambdas/<name>/lambda.ts. */
export const FUNCTION_NAMES = ['webhook', 'pipeline', 'notifier', 'approvals', 'reconciler'] as const;
export type BenchFunctionName = (typeof FUNCTION_NAMES)[number];

export interface BundleFigures {
  file: string;
  bytes: number;
  /** Bytes in the output by package (or by file of this project), largest first. */
  contributors: Array<{ name: string; bytes: number }>;
  analysis: string;
}

/** Kept inside the project (bench/.out) so anything left external resolves from node_modules. */
export async function buildFunctionBundle(
  name: BenchFunctionName,
  outDir = path.join(PROJECT_ROOT, 'bench', '.out', name),
): Promise<BundleFigures> {
  await mkdir(outDir, { recursive: true });
  const file = path.join(outDir, 'index.mjs');
  const result = await build({
    entryPoints: [path.join(PROJECT_ROOT, 'lambdas', FUNCTION_SOURCE[name], 'lambda.ts')],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: LAMBDA_BUNDLING.format,
    target: LAMBDA_BUNDLING.target,
    minify: LAMBDA_BUNDLING.minify,
    sourcemap: LAMBDA_BUNDLING.sourceMap,
    external: [...LAMBDA_BUNDLING.externalModules],
    mainFields: [...LAMBDA_BUNDLING.mainFields],
    banner: { js: LAMBDA_BUNDLING.banner },
    metafile: true,
    logLevel: 'silent',
  });
  const output = Object.values(result.metafile.outputs)[0]!;
  return {
    file,
    bytes: output.bytes,
    contributors: contributors(result.metafile),
    analysis: await analyzeMetafile(result.metafile, { verbose: false }),
  };
}

export function buildWebhookBundle(): Promise<BundleFigures> {
  return buildFunctionBundle('webhook');
}

function contributors(metafile: Metafile): Array<{ name: string; bytes: number }> {
  const byName = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1];
      const name = pkg ?? `tfgate:${input.split('/').slice(0, 3).join('/')}`;
      byName.set(name, (byName.get(name) ?? 0) + bytesInOutput);
    }
  }
  return [...byName].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes);
}
