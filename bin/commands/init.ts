import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { EMAIL, REPOSITORY_NAME } from '../../src/config/patterns.js';
import { initFiles, STARTER_APPROVER } from '../../src/local-mode/starter-repository.js';
import { CliError } from './client.js';

export interface InitOptions {
  force?: boolean;
  repository?: string;
  approver?: string;
}

const print = (line: string) => process.stdout.write(`${line}\n`);

/** The approver written when none is given: the committer git knows, else a placeholder to edit. */
async function defaultApprover(dir: string): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)('git', ['config', 'user.email'], {
      cwd: existsSync(dir) ? dir : process.cwd(),
    });
    const email = stdout.trim();
    if (EMAIL.test(email)) return email;
  } catch {
    // No git, or no user.email: the placeholder below.
  }
  return STARTER_APPROVER;
}

function defaultRepository(dir: string): string {
  const name = path
    .basename(path.resolve(dir))
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .replace(/^[-.]+/, '');
  const candidate = `example/${name || 'infrastructure'}`;
  return REPOSITORY_NAME.test(candidate) ? candidate : 'example/infrastructure';
}

/**
 * `tfgate init [DIR]`: a Kubestack-shaped Terraform root and its tfgate.yaml. Existing files are
 * never overwritten without --force, and the check covers every file before the first is written,
 * so a refusal leaves the directory as it was.
 */
export async function runInit(dir: string, options: InitOptions): Promise<void> {
  const target = path.resolve(dir);
  const repository = options.repository ?? defaultRepository(target);
  if (!REPOSITORY_NAME.test(repository))
    throw new CliError(`--repository must be owner/name as GitHub spells it, not "${repository}"`, 2);
  const approver = options.approver ?? (await defaultApprover(target));
  if (!EMAIL.test(approver)) throw new CliError(`--approver must be an email address, not "${approver}"`, 2);

  if (existsSync(target) && !statSync(target).isDirectory())
    throw new CliError(`${target} is a file, not a directory; nothing was written.`, 2);

  const files = initFiles({ repository, approver });
  const existing = Object.keys(files).filter((name) => existsSync(path.join(target, name)));
  if (existing.length > 0 && !options.force) {
    throw new CliError(
      `${target} already has ${existing.join(', ')}; nothing was written. Use --force to overwrite them.`,
      1,
    );
  }
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(target, name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }
  print(
    `Wrote a Terraform root for ${repository} in ` +
      `${target}${existing.length > 0 ? ` (overwrote ${existing.join(', ')})` : ''}:`,
  );
  for (const name of Object.keys(files)) print(`  ${name}`);
  print(`apps holds the base settings in config.tf; ops inherits them and overrides only what differs.`);
  print(
    `Approver of apps: ${approver} (tfgate.yaml). Next: cd ${path.relative(process.cwd(), target) || '.'} && ` +
      `tfgate local`,
  );
}
