import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { findOnPath } from '../../src/terraform-locator.js';

/**
 * The real terraform on PATH, for the tests whose Terraform the double does not speak (local
 * modules, `for` expressions). Where there is none those tests are skipped, saying why.
 */
export const REAL_TERRAFORM = await findOnPath('terraform');

const exec = promisify(execFile);

export interface TerraformResult {
  code: number;
  output: string;
}

/** Runs terraform in `dir` as a build does (no colour, no prompts); never throws on a non-zero exit. */
export async function terraform(dir: string, args: string[]): Promise<TerraformResult> {
  if (!REAL_TERRAFORM) throw new Error('no terraform on PATH');
  try {
    const { stdout, stderr } = await exec(REAL_TERRAFORM, args, {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TF_IN_AUTOMATION: '1', TF_INPUT: '0' },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === 'number' ? failed.code : 1,
      output: `${failed.stdout ?? ''}${failed.stderr ?? ''}`,
    };
  }
}
