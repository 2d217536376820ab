#!/usr/bin/env node
// The published entry point. The installed package runs the compiled JavaScript under dist/
// (built by `npm run build`, which `npm pack` runs first). In a clone of the repository, where the
// TypeScript source sits beside this file, the CLI runs from a bundle of that source kept in
// node_modules/.cache: rebuilt with esbuild whenever one of its source files changed (so the
// repository's own scripts need no build step and never run a stale one), and loaded without a
// TypeScript loader, whose own start costs more than a CLI call should (issue 25). Without esbuild,
// tsx compiles the source on load.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Local mode talks to dynalite through the AWS SDK on this machine's Node; the SDK's notice about
// its future Node 22 requirement concerns the Lambdas (which run Node 22), not this process.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const source = fileURLToPath(new URL('./cli.ts', import.meta.url));
const root = path.dirname(path.dirname(source));
const cacheDir = path.join(root, 'node_modules', '.cache', 'tfgate-cli');
const currentFile = path.join(cacheDir, 'current.json');
/** Changed when the way the bundle is made changes, so that an older bundle is not taken for fresh. */
const BUNDLE_FORMAT = 1;

/** The bundle's entry if every source file it was made from is unchanged, else undefined. */
function freshBundle() {
  let current;
  try {
    current = JSON.parse(readFileSync(currentFile, 'utf8'));
  } catch {
    return undefined;
  }
  if (current.format !== BUNDLE_FORMAT || current.node !== process.version) return undefined;
  for (const [file, mtimeMs, size] of current.inputs) {
    try {
      const stat = statSync(file);
      if (stat.mtimeMs !== mtimeMs || stat.size !== size) return undefined;
    } catch {
      return undefined;
    }
  }
  const entry = path.join(cacheDir, current.dir, 'cli.mjs');
  return existsSync(entry) ? entry : undefined;
}

/**
 * Bundles bin/cli.ts and the project's modules it imports (each command's own code in a chunk of its
 * own, loaded when that command runs); packages stay in node_modules. Every `import.meta.url` keeps
 * its source file's URL, so paths taken from it (package files, the build runner's entry) are the ones
 * tsx would give.
 */
async function buildBundle() {
  const { build } = await import('esbuild');
  mkdirSync(cacheDir, { recursive: true });
  const dir = `build-${Date.now()}-${process.pid}`;
  const sourceUrls = {
    name: 'source-urls',
    setup(build) {
      build.onLoad({ filter: /\.ts$/ }, (args) => {
        if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
        const text = readFileSync(args.path, 'utf8');
        const url = JSON.stringify(pathToFileURL(args.path).href);
        return { contents: text.replace(/\bimport\.meta\.url\b/g, url), loader: 'ts' };
      });
    },
  };
  const result = await build({
    entryPoints: { cli: source },
    outdir: path.join(cacheDir, dir),
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: `node${process.versions.node.split('.')[0]}`,
    packages: 'external',
    metafile: true,
    logLevel: 'silent',
    plugins: [sourceUrls],
  });
  const inputs = Object.keys(result.metafile.inputs).map((input) => {
    const file = path.resolve(root, input);
    const stat = statSync(file);
    return [file, stat.mtimeMs, stat.size];
  });
  const temporary = `${currentFile}.${process.pid}`;
  writeFileSync(temporary, JSON.stringify({ format: BUNDLE_FORMAT, node: process.version, dir, inputs }));
  renameSync(temporary, currentFile);
  // Older bundles: a day's grace, for a tfgate local started from one that still loads its chunks.
  for (const name of readdirSync(cacheDir)) {
    if (!name.startsWith('build-') || name === dir) continue;
    const old = path.join(cacheDir, name);
    if (Date.now() - statSync(old).mtimeMs > 24 * 3600 * 1000) rmSync(old, { recursive: true, force: true });
  }
  return path.join(cacheDir, dir, 'cli.mjs');
}

if (existsSync(source)) {
  let entry = freshBundle();
  if (!entry) entry = await buildBundle().catch(() => undefined);
  if (entry) {
    await import(pathToFileURL(entry).href);
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    await import(pathToFileURL(source).href);
  }
} else {
  await import('../dist/bin/cli.js');
}
