import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * What the architecture tests read: the repository's source files and their imports, parsed by the
 * TypeScript compiler (not by regular expressions), so that re-exports, dynamic imports and type-only
 * imports are each seen for what they are. Folders are read from the tree, never listed by hand.
 */

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Import {
  /** The specifier as written. */
  specifier: string;
  /** For a relative specifier: the target as a path from the repository root (`.js` kept as written). */
  target?: string;
  /** Erased at compile time: `import type`, `export type`, or every named binding marked `type`. */
  typeOnly: boolean;
  line: number;
}

/** The sub-folders of a folder, read from the tree (functions under lambdas/, roles under src/). */
export function foldersOf(dir: string, root = ROOT): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

/** Source files (TypeScript and JavaScript, no declarations) under a folder, as paths from the root. */
export function sourceFiles(dir: string, root = ROOT): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(ts|mts|js|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts'))
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)))
    .filter((file) => !file.split(path.sep).includes('node_modules'))
    .sort();
}

function namedBindingsAllTypes(bindings: ts.NamedImportBindings | ts.NamedExportBindings | undefined): boolean {
  if (!bindings || !('elements' in bindings)) return false;
  return bindings.elements.length > 0 && bindings.elements.every((element) => element.isTypeOnly);
}

/** Every import of a source text: static imports and re-exports, `import x = require()`, import() and require(). */
export function importsOfSource(file: string, text: string): Import[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: Import[] = [];
  const add = (node: ts.Node, literal: ts.Expression | undefined, typeOnly: boolean) => {
    if (!literal || !ts.isStringLiteralLike(literal)) return;
    const specifier = literal.text;
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    const target = specifier.startsWith('.') ? path.normalize(path.join(path.dirname(file), specifier)) : undefined;
    found.push({ specifier, ...(target !== undefined ? { target } : {}), typeOnly, line });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const typeOnly =
        clause !== undefined && (clause.isTypeOnly || (!clause.name && namedBindingsAllTypes(clause.namedBindings)));
      add(node, node.moduleSpecifier, typeOnly);
    } else if (ts.isExportDeclaration(node)) {
      add(node, node.moduleSpecifier, node.isTypeOnly || namedBindingsAllTypes(node.exportClause));
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, node.moduleReference.expression, node.isTypeOnly);
    } else if (ts.isCallExpression(node)) {
      const isImport = node.expression.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === 'require';
      if (isImport || isRequire) add(node, node.arguments[0], false);
    } else if (ts.isImportTypeNode(node)) {
      // `typeof import('…')` in a type position: erased.
      const argument = node.argument;
      if (ts.isLiteralTypeNode(argument)) add(node, argument.literal as ts.Expression, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

export function importsOf(file: string, root = ROOT): Import[] {
  return importsOfSource(file, readFileSync(path.join(root, file), 'utf8'));
}

/** Whether `target` (a path from the root) is `folder` or inside it. */
export function inside(target: string, folder: string): boolean {
  return target === folder || target.startsWith(`${folder}/`);
}
