import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Files tfgate reads from its own package (the state machine definition, the CLI entry, the
 * prebuilt build runner). The code runs from two places: the TypeScript source in this repository
 * and the compiled JavaScript under `dist/` in the published package, one directory deeper. Both
 * sit below the package's package.json, so paths are taken from there instead of counting `../lambdas/`.
 */

function findPackageRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`tfgate: no package.json above ${start}; the installation is incomplete`);
    dir = parent;
  }
}

const here = path.dirname(fileURLToPath(import.meta.url));

export const PACKAGE_ROOT = findPackageRoot(here);

/** True when this code is the TypeScript source (repository), false when it is the compiled package. */
export const RUNNING_FROM_SOURCE = import.meta.url.endsWith('.ts');

export function packageFile(...segments: string[]): string {
  return path.join(PACKAGE_ROOT, ...segments);
}
