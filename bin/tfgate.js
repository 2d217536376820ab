#!/usr/bin/env node
// The published entry point. The installed package runs the compiled JavaScript under dist/
// (built by `npm run build`, which `npm pack` runs first); in a clone of the repository, where the
// TypeScript source sits beside this file, tsx compiles the source on load, so the repository's
// own scripts need no build step and never run a stale one.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Local mode talks to dynalite through the AWS SDK on this machine's Node; the SDK's notice about
// its future Node 22 requirement concerns the Lambdas (which run Node 22), not this process.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const source = new URL('./cli.ts', import.meta.url);
if (existsSync(fileURLToPath(source))) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import('../dist/bin/cli.js');
}
