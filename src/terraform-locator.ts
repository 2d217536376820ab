/**
 * Finds the terraform binary the way ../shared/interface.md promises: the --terraform flag, then
 * TFGATE_TERRAFORM, then `terraform` on PATH, then `tofu` on PATH. PATH is searched here, not by a
 * shell, so what runs is exactly the file this function returned.
 */
import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { TfgateError } from './domain/errors.js';

export class TerraformNotFoundError extends TfgateError {
  override name = 'TerraformNotFoundError';
}

export interface TerraformLocation {
  path: string;
  /** Which of the four ways found it, for the start-up banner. */
  source: 'flag' | 'env' | 'terraform-on-path' | 'tofu-on-path';
}

export interface LocateTerraformOptions {
  /** The --terraform flag value, when given. */
  flag?: string;
  env?: NodeJS.ProcessEnv;
  /** Relative flag and TFGATE_TERRAFORM values resolve against this. */
  cwd?: string;
  platform?: NodeJS.Platform;
}

const WAYS =
  'tfgate looks for it in this order: the --terraform flag (for example --terraform /usr/local/bin/terraform), ' +
  'the TFGATE_TERRAFORM environment variable, a `terraform` executable on PATH, and a `tofu` (OpenTofu) ' +
  'executable on PATH.';

export async function locateTerraform(options: LocateTerraformOptions = {}): Promise<TerraformLocation> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const platform = options.platform ?? process.platform;
  const pathValue = env.PATH ?? env.Path ?? '';

  // An explicit choice that does not work is an error, not a reason to quietly run some other binary.
  const explicit: Array<{ value: string | undefined; label: string; source: TerraformLocation['source'] }> = [
    { value: options.flag, label: '--terraform', source: 'flag' },
    { value: env.TFGATE_TERRAFORM, label: 'TFGATE_TERRAFORM', source: 'env' },
  ];
  for (const { value, label, source } of explicit) {
    if (value === undefined || value === '') continue;
    const found = await resolveCommand(value, cwd, pathValue, platform, env);
    if (found) return { path: found, source };
    throw new TerraformNotFoundError(
      `${label} names ${JSON.stringify(value)}, which is not an executable file. ${WAYS} ` +
        'Point it at an installed Terraform or OpenTofu binary, or leave it unset to search PATH.',
    );
  }

  const onPath = await searchPath('terraform', pathValue, platform, env);
  if (onPath) return { path: onPath, source: 'terraform-on-path' };
  const tofu = await searchPath('tofu', pathValue, platform, env);
  if (tofu) return { path: tofu, source: 'tofu-on-path' };

  throw new TerraformNotFoundError(
    `No terraform binary found. ${WAYS} None of them gave an executable file; install Terraform or OpenTofu, ` +
      'or name the binary with --terraform or TFGATE_TERRAFORM.',
  );
}

async function resolveCommand(
  value: string,
  cwd: string,
  pathValue: string,
  platform: NodeJS.Platform,
  env: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  const hasSeparator = value.includes('/') || (platform === 'win32' && value.includes('\\'));
  if (hasSeparator || path.isAbsolute(value)) {
    const candidate = path.resolve(cwd, value);
    return (await isExecutableFile(candidate)) ? candidate : undefined;
  }
  // A bare name such as `tofu` or `terraform1.9` means "this one, from PATH".
  return searchPath(value, pathValue, platform, env);
}

/** An executable named `name` on PATH, as an absolute path; relative PATH entries are skipped. */
export async function findOnPath(
  name: string,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): Promise<string | undefined> {
  return searchPath(name, env.PATH ?? env.Path ?? '', platform, env);
}

async function searchPath(
  name: string,
  pathValue: string,
  platform: NodeJS.Platform,
  env: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  const delimiter = platform === 'win32' ? ';' : ':';
  const extensions =
    platform === 'win32' ? ['', ...(env.PATHEXT ?? '.EXE;.CMD;.BAT;.COM').split(';').filter(Boolean)] : [''];
  for (const directory of pathValue.split(delimiter)) {
    // An empty or relative PATH entry means "relative to the current directory", and a checked-out
    // repository may be the current directory: never searched, so a committed file cannot pose as a tool.
    if (directory === '' || !path.isAbsolute(directory)) continue;
    for (const extension of extensions) {
      const candidate = path.join(directory, name + extension);
      if (await isExecutableFile(candidate)) return candidate;
    }
  }
  return undefined;
}

async function isExecutableFile(candidate: string): Promise<boolean> {
  try {
    const info = await stat(candidate);
    if (!info.isFile()) return false;
    await access(candidate, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The version a terraform (or tofu) binary reports, or why it could not be asked. */
export async function terraformVersionOf(binary: string): Promise<{ version?: string; problem?: string }> {
  try {
    const { stdout } = await promisify(execFile)(binary, ['version'], {
      timeout: 15_000,
      env: { ...process.env, CHECKPOINT_DISABLE: '1' },
    });
    const version = /v?(\d+\.\d+\.\d+)/.exec(stdout)?.[1];
    return version ? { version } : { problem: `${binary} version printed no version number` };
  } catch (error) {
    return { problem: `could not ask ${binary} for its version (${(error as Error).message.split('\n')[0]})` };
  }
}
