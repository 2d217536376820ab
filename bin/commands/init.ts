import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import { promisify } from 'node:util';
import { isPersonEntry, PERSON_ENTRY_RULE, REPOSITORY_NAME } from '../../src/config/patterns.js';
import { initFiles } from '../../src/local-mode/starter-repository.js';
import { locateTerraform, terraformVersionOf } from '../../src/terraform-locator.js';
import { CliError } from './client.js';

export interface InitOptions {
  force?: boolean;
  repository?: string;
  /** Repeatable: every listed person or team may approve apps. */
  approver?: string[];
}

/** Where the question is asked and answered; a terminal unless a test says otherwise. */
export interface InitTerminal {
  interactive: boolean;
  ask(question: string): Promise<string>;
}

const print = (line: string) => process.stdout.write(`${line}\n`);

const NEEDS_APPROVER =
  'tfgate init needs --approver: who may approve apps (an email address, @login or @org/team; repeat ' +
  '--approver for several). tfgate does not pick one for you: nobody may approve a change they wrote, so the ' +
  'author alone as approver would leave every change of theirs waiting. Nothing was written.';

function processTerminal(): InitTerminal {
  return {
    interactive: process.stdin.isTTY === true && process.stdout.isTTY === true,
    async ask(question: string) {
      const reader = createInterface({ input: process.stdin, output: process.stdout });
      try {
        return await reader.question(question);
      } finally {
        reader.close();
      }
    },
  };
}

/** The address git commits with here: a sole approver with that address cannot approve their own commits. */
async function gitEmail(dir: string): Promise<string | undefined> {
  try {
    const { stdout } = await promisify(execFile)('git', ['config', 'user.email'], {
      cwd: existsSync(dir) ? dir : process.cwd(),
    });
    return stdout.trim().toLowerCase() || undefined;
  } catch {
    return undefined;
  }
}

async function askApprovers(terminal: InitTerminal): Promise<string[]> {
  print('Who may approve changes to apps? Email addresses, GitHub @logins or @org/teams, separated by commas.');
  print('Nobody may approve a change they pushed or wrote, so name someone besides the usual author.');
  for (let attempt = 0; attempt < 3; attempt++) {
    const answer = (await terminal.ask('approvers: ')).trim();
    const entries = answer
      .split(/[,\s]+/)
      .map((entry) => entry.trim())
      .filter(Boolean);
    const wrong = entries.filter((entry) => !isPersonEntry(entry));
    if (entries.length > 0 && wrong.length === 0) return entries;
    print(entries.length === 0 ? 'Name at least one approver.' : `${wrong.join(', ')}: ${PERSON_ENTRY_RULE}.`);
  }
  throw new CliError(NEEDS_APPROVER, 2);
}

function defaultRepository(dir: string): string {
  const name = path
    .basename(path.resolve(dir))
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .replace(/^[-.]+/, '');
  const candidate = `example/${name || 'infrastructure'}`;
  return REPOSITORY_NAME.test(candidate) ? candidate : 'example/infrastructure';
}

/** The terraform tfgate local would use, and its version: written as terraform.version. */
async function foundTerraform(): Promise<{ path: string; version: string } | undefined> {
  try {
    const located = await locateTerraform();
    const { version } = await terraformVersionOf(located.path);
    return version ? { path: located.path, version } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `tfgate init [DIR]`: a Kubestack-shaped Terraform root and its tfgate.yaml. Existing files are
 * never overwritten without --force, and the check covers every file before the first is written,
 * so a refusal leaves the directory as it was. The approvers are never guessed: given, or asked for
 * on a terminal.
 */
export async function runInit(
  dir: string,
  options: InitOptions,
  terminal: InitTerminal = processTerminal(),
): Promise<void> {
  const target = path.resolve(dir);
  const repository = options.repository ?? defaultRepository(target);
  if (!REPOSITORY_NAME.test(repository))
    throw new CliError(`--repository must be owner/name as GitHub spells it, not "${repository}"`, 2);
  const given = (options.approver ?? []).flatMap((entry) => entry.split(',')).map((entry) => entry.trim());
  for (const entry of given)
    if (!isPersonEntry(entry)) throw new CliError(`--approver ${entry}: ${PERSON_ENTRY_RULE}`, 2);

  if (existsSync(target) && !statSync(target).isDirectory())
    throw new CliError(`${target} is a file, not a directory; nothing was written.`, 2);
  // Checked before asking anything: a refusal should not come after the questions.
  const names = Object.keys(initFiles({ repository, approvers: ['placeholder@example.com'] }));
  const existing = names.filter((name) => existsSync(path.join(target, name)));
  if (existing.length > 0 && !options.force) {
    throw new CliError(
      `${target} already has ${existing.join(', ')}; nothing was written. Use --force to overwrite them.`,
      1,
    );
  }

  let approvers = given.filter(Boolean);
  if (approvers.length === 0) {
    if (!terminal.interactive) throw new CliError(NEEDS_APPROVER, 2);
    approvers = await askApprovers(terminal);
  }
  const terraform = await foundTerraform();
  const files = initFiles({ repository, approvers, ...(terraform ? { terraformVersion: terraform.version } : {}) });
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
  print(`Approvers of apps: ${approvers.join(', ')} (tfgate.yaml).`);
  const email = await gitEmail(target);
  if (approvers.length === 1 && email && approvers[0]!.toLowerCase() === email) {
    print(
      `Note: ${approvers[0]} is also your git address. Nobody may approve a change they wrote, so your own ` +
        'commits will wait for another approver: add one to tfgate.yaml, or set allowSelfApproval: true there if ' +
        'you work alone.',
    );
  }
  print(
    terraform
      ? `terraform.version: ${terraform.version} (${terraform.path}, what AWS builds will install).`
      : 'terraform.version is left unset (no terraform found): set it before cdk deploy.',
  );
  print(`Next: cd ${path.relative(process.cwd(), target) || '.'} && tfgate local`);
}
