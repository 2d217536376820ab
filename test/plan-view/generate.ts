import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { terraform } from '../support/real-terraform.js';

/**
 * Plans written by the real terraform (terraform_data only, offline): a root with a local module, a
 * sensitive variable and outputs is applied once, then changed so one plan holds a create, updates
 * (nested, sensitive, in a module), a destroy, a replacement (triggers_replace), a moved block, output
 * changes and a sensitive value terraform itself echoes unmarked (terraform_data's `output`). Also an
 * errored plan (a failing precondition) and a refresh-only plan after a change made outside Terraform.
 */

/** The sensitive values the roots use: no view may show them. */
export const SECRETS = ['hunter2-old-password', 's3cr3t-new-password', 'token-from-a-module'];

const MODULE = `variable "name" { type = string }
variable "token" {
  type      = string
  sensitive = true
}
resource "terraform_data" "inner" {
  input = { name = var.name, token = var.token }
}
output "id" { value = terraform_data.inner.id }
`;

function root(moved: boolean): string {
  const old = moved
    ? 'resource "terraform_data" "renamed" { input = "moves" }\n' +
      'moved {\n  from = terraform_data.original\n  to   = terraform_data.renamed\n}\n'
    : 'resource "terraform_data" "original" { input = "moves" }\n';
  return `variable "secret" {
  type      = string
  sensitive = true
}
variable "gen" { type = number }
resource "terraform_data" "kept" { input = "same" }
resource "terraform_data" "tuned" {
  input = { name = "v\${var.gen}", tags = { env = "x\${var.gen}", fixed = "y" }, ports = [80, 8000 + var.gen] }
}
resource "terraform_data" "rebuilt" {
  input            = "r"
  triggers_replace = [var.gen]
}
resource "terraform_data" "retired" {
  count = var.gen == 1 ? 1 : 0
  input = "bye"
}
resource "terraform_data" "added" {
  count = var.gen == 2 ? 1 : 0
  input = "hello"
}
resource "terraform_data" "credentials" {
  input = { password = var.secret, user = "u\${var.gen}" }
}
${old}
module "box" {
  source = "./modules/box"
  for_each = toset(["a", "b"])
  name   = "\${each.key}\${var.gen}"
  token  = "token-from-a-module"
}
output "password" {
  value     = var.secret
  sensitive = true
}
output "user" { value = "u\${var.gen}" }
`;
}

async function must(dir: string, args: string[]): Promise<string> {
  const result = await terraform(dir, args);
  if (result.code !== 0) throw new Error(`terraform ${args.join(' ')} failed (${result.code}):\n${result.output}`);
  return result.output;
}

async function showJson(dir: string, planFile: string): Promise<string> {
  return must(dir, ['show', '-json', planFile]);
}

export interface GeneratedPlans {
  mixed: string;
  errored: string;
  refreshOnly: string;
  /** The same change as plain text, as `terraform show` prints it. */
  mixedText: string;
}

export async function generatePlans(): Promise<GeneratedPlans> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-planview-'));
  try {
    await mkdir(path.join(dir, 'modules', 'box'), { recursive: true });
    await writeFile(path.join(dir, 'modules', 'box', 'main.tf'), MODULE);
    await writeFile(path.join(dir, 'main.tf'), root(false));
    await must(dir, ['init', '-input=false', '-no-color']);
    await must(dir, [
      'apply',
      '-auto-approve',
      '-input=false',
      '-no-color',
      '-var',
      'gen=1',
      '-var',
      `secret=${SECRETS[0]}`,
    ]);
    await writeFile(path.join(dir, 'main.tf'), root(true));
    const planned = await terraform(dir, [
      'plan',
      '-input=false',
      '-no-color',
      '-detailed-exitcode',
      '-out=mixed.tfplan',
      '-var',
      'gen=2',
      '-var',
      `secret=${SECRETS[1]}`,
    ]);
    if (planned.code !== 2) throw new Error(`the mixed plan should have changes:\n${planned.output}`);
    const mixed = await showJson(dir, 'mixed.tfplan');
    const mixedText = await must(dir, ['show', '-no-color', 'mixed.tfplan']);

    // Drift: the state says "same", the configuration now says otherwise; -refresh-only plans the state only.
    const refreshed = await terraform(dir, [
      'plan',
      '-refresh-only',
      '-input=false',
      '-no-color',
      '-out=refresh.tfplan',
      '-var',
      'gen=2',
      '-var',
      `secret=${SECRETS[1]}`,
    ]);
    if (refreshed.code !== 0) throw new Error(`the refresh-only plan failed:\n${refreshed.output}`);
    const refreshOnly = await showJson(dir, 'refresh.tfplan');

    // A precondition that fails on a known value: terraform still writes the (errored) plan file.
    await writeFile(
      path.join(dir, 'main.tf'),
      `${root(true)}\nresource "terraform_data" "guarded" {\n  input = "x"\n  lifecycle {\n    precondition {\n` +
        `      condition     = var.gen == 99\n      error_message = "gen must be 99"\n    }\n  }\n}\n`,
    );
    const failed = await terraform(dir, [
      'plan',
      '-input=false',
      '-no-color',
      '-out=errored.tfplan',
      '-var',
      'gen=2',
      '-var',
      `secret=${SECRETS[1]}`,
    ]);
    if (failed.code !== 1) throw new Error(`the errored plan should fail:\n${failed.output}`);
    const errored = await showJson(dir, 'errored.tfplan');
    return { mixed, errored, refreshOnly, mixedText };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes the committed fixtures (test/plan-view/fixtures): `npx tsx test/plan-view/generate.ts`. */
if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  const plans = await generatePlans();
  const out = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures');
  for (const [name, text] of Object.entries({
    mixed: plans.mixed,
    errored: plans.errored,
    'refresh-only': plans.refreshOnly,
  }))
    await writeFile(path.join(out, `${name}.1.2.json`), `${JSON.stringify(JSON.parse(text), null, 1)}\n`);
  await readFile(path.join(out, 'mixed.1.2.json'));
}
