import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyzeMetafile, build, type Metafile } from 'esbuild';

/**
 * Part 2: the webhook function's bundle, built with the options infra/functions.ts gives NodejsFunction
 * (minified ESM for node22, `@aws-sdk/*` external because the runtime ships it, module main fields,
 * the createRequire banner), so the bytes are the bytes Lambda loads.
 */

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = path.join(PROJECT_ROOT, 'lambdas', 'webhook', 'lambda.ts');

export interface BundleFigures {
  file: string;
  bytes: number;
  /** Bytes in the output by package (or by file of this project), largest first. */
  contributors: Array<{ name: string; bytes: number }>;
  analysis: string;
}

/** Kept inside the project so the bundle resolves @aws-sdk/* from node_modules, as the runtime provides it in Lambda. */
export async function buildWebhookBundle(outDir = path.join(PROJECT_ROOT, 'bench', '.out', 'webhook')): Promise<BundleFigures> {
  await mkdir(outDir, { recursive: true });
  const file = path.join(outDir, 'index.mjs');
  const result = await build({
    entryPoints: [ENTRY],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    minify: true,
    sourcemap: false,
    external: ['@aws-sdk/*'],
    mainFields: ['module', 'main'],
    banner: { js: "import { createRequire as __tfgateCreateRequire } from 'node:module'; const require = __tfgateCreateRequire(import.meta.url);" },
    metafile: true,
    logLevel: 'silent',
  });
  const output = Object.values(result.metafile.outputs)[0]!;
  return { file, bytes: output.bytes, contributors: contributors(result.metafile), analysis: await analyzeMetafile(result.metafile, { verbose: false }) };
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
