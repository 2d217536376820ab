import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findLocalStackModule } from '../support/global-setup.js';
import { foldersOf, importsOf, importsOfSource, inside, ROOT, sourceFiles, type Import } from './source-imports.js';

/**
 * The local mode is handed the function handlers by its composition root (the module that defines
 * startLocalStack); every other file of it may name their types, never load them. The functions are
 * the folders of lambdas/ as they are on disk, and the composition root is found, not named.
 */

const LOCAL_MODE = 'src/local-mode';
const FUNCTIONS_DIR = 'lambdas';

/** The imports of `file` that load a function's code (value imports of anything under lambdas/<fn>/). */
function loadedFunctions(file: string, imports: Import[], functions: string[]): string[] {
  return imports
    .filter((imported) => !imported.typeOnly && imported.target !== undefined)
    .filter((imported) => functions.some((fn) => inside(imported.target!, `${FUNCTIONS_DIR}/${fn}`)))
    .map((imported) => `${file}:${imported.line} loads ${imported.specifier}`);
}

describe(`${LOCAL_MODE} loads no function, but through its composition root`, () => {
  const functions = foldersOf(FUNCTIONS_DIR);
  const root = path.relative(ROOT, findLocalStackModule());

  it('reads the functions and the local files from the tree', () => {
    expect(functions.length).toBeGreaterThanOrEqual(5);
    expect(sourceFiles(LOCAL_MODE).length).toBeGreaterThan(10);
  });

  it("imports from the functions' folders are type-only", () => {
    const files = sourceFiles(LOCAL_MODE).filter((file) => file !== root);
    expect(files.flatMap((file) => loadedFunctions(file, importsOf(file), functions))).toEqual([]);
  });

  it('the scan tells a loaded function from a named type, however it is written', () => {
    const file = `${LOCAL_MODE}/example.ts`;
    const source = [
      "import type { createWebhookHandler } from '../../lambdas/webhook/handler.js';",
      "import { type Reconciler } from '../../lambdas/reconciler/handler.js';",
      "export type { Thing } from '../../lambdas/web/handler.js';",
      "type Tasks = typeof import('../../lambdas/stage-tasks/handler.js');",
      "import { createApprovalsHandler } from '../../lambdas/web/handler.js';",
      "import { type A, createPipelineTasks } from '../../lambdas/stage-tasks/handler.js';",
      "export { createReconciler } from '../../lambdas/reconciler/handler.js';",
      "const later = await import('../../lambdas/approval-request/handler.js');",
      "import '../../lambdas/github-setup/claims.js';",
      "import { engine } from './engine.js';",
      "// import { x } from '../../lambdas/webhook/handler.js';",
    ].join('\n');
    expect(loadedFunctions(file, importsOfSource(file, source), functions)).toEqual([
      `${file}:5 loads ../../lambdas/web/handler.js`,
      `${file}:6 loads ../../lambdas/stage-tasks/handler.js`,
      `${file}:7 loads ../../lambdas/reconciler/handler.js`,
      `${file}:8 loads ../../lambdas/approval-request/handler.js`,
      `${file}:9 loads ../../lambdas/github-setup/claims.js`,
    ]);
  });
});
