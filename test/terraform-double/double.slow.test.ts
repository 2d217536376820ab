import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { until, untilFileExists } from '../support/poll.js';

const TERRAFORM = path.join(path.dirname(fileURLToPath(import.meta.url)), 'terraform');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** A terraform call: awaited for its result; `output()` is what it printed so far. */
type Running = Promise<Result> & { output(): string };

function tf(cwd: string, args: string[], env: Record<string, string> = {}): Running {
  let stdout = '';
  let stderr = '';
  const result = new Promise<Result>((resolve, reject) => {
    const child = spawn(TERRAFORM, args, { cwd, env: { ...process.env, TF_IN_AUTOMATION: '1', ...env } });
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  return Object.assign(result, { output: () => `${stdout}${stderr}` });
}

const dirs: string[] = [];
function workdir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-double-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

interface ResourceChange {
  address: string;
  type: string;
  name: string;
  mode: string;
  change: { actions: string[]; before: unknown; after: unknown };
}
interface PlanJson {
  format_version: string;
  terraform_version: string;
  resource_changes: ResourceChange[];
  output_changes: Record<string, { actions: string[]; before: unknown; after: unknown }>;
}
interface StateJson {
  version: number;
  serial: number;
  lineage: string;
  outputs: Record<string, { value: unknown }>;
  resources: {
    mode: string;
    type: string;
    name: string;
    provider: string;
    instances: { status?: string; attributes: Record<string, unknown> }[];
  }[];
}

async function planJson(dir: string, file: string): Promise<PlanJson> {
  const r = await tf(dir, ['show', '-json', file]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as PlanJson;
}
const readState = (p: string): StateJson => JSON.parse(fs.readFileSync(p, 'utf8')) as StateJson;
const actionsOf = (p: PlanJson): Record<string, string[]> =>
  Object.fromEntries(p.resource_changes.map((c) => [c.address, c.change.actions]));

async function planApply(dir: string, env: Record<string, string> = {}): Promise<Result> {
  const p = await tf(dir, ['plan', '-input=false', '-no-color', '-out=tfplan', '-detailed-exitcode'], env);
  expect(p.code, p.stderr).not.toBe(1);
  return tf(dir, ['apply', '-input=false', '-no-color', '-auto-approve', 'tfplan'], env);
}

const BASIC = `
variable "greeting" {
  default = "hello"
}
locals {
  name = "\${var.greeting}-\${terraform.workspace}" # interpolation
}
/* a block
   comment */
resource "terraform_data" "a" {
  input            = local.name
  triggers_replace = ["x"]
}
resource "terraform_data" "b" {
  input = { k = 1, l = [true, "s"] } // trailing comment
}
output "name" {
  value = local.name
}
`;

describe('terraform double', () => {
  it('prints a version', async () => {
    for (const args of [['version'], ['-version'], ['--version']]) {
      const r = await tf(os.tmpdir(), args);
      expect(r.code).toBe(0);
      expect(r.stdout.split('\n')[0]).toMatch(/^Terraform v\d+\.\d+\.\d+/);
    }
  });

  it('refuses unknown commands and flags', async () => {
    const dir = workdir({ 'main.tf': BASIC });
    const a = await tf(dir, ['frobnicate']);
    expect(a.code).toBe(1);
    expect(a.stderr).toContain('Terraform has no command named "frobnicate".');
    const b = await tf(dir, ['plan', '-bogus']);
    expect(b.code).toBe(1);
    expect(b.stderr).toContain('flag provided but not defined: -bogus');
  });

  it('plans with detailed exit codes 2 then 0, and 1 on error', async () => {
    const dir = workdir({ 'main.tf': BASIC });
    expect((await tf(dir, ['init', '-input=false', '-no-color'])).code).toBe(0);
    expect(fs.existsSync(path.join(dir, '.terraform'))).toBe(true);
    const p = await tf(dir, ['plan', '-input=false', '-no-color', '-out=tfplan', '-detailed-exitcode']);
    expect(p.code).toBe(2);
    expect(p.stdout).toContain('# terraform_data.a will be created');
    expect(p.stdout).toContain('+ input            = "hello-default"');
    expect(p.stdout).toContain('Plan: 2 to add, 0 to change, 0 to destroy.');
    expect(p.stdout).toContain('+ name = "hello-default"');
    const human = await tf(dir, ['show', '-no-color', 'tfplan']);
    expect(human.stdout).toContain('Plan: 2 to add, 0 to change, 0 to destroy.');
    const a = await tf(dir, ['apply', '-input=false', '-no-color', '-auto-approve', 'tfplan']);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toContain('Apply complete! Resources: 2 added, 0 changed, 0 destroyed.');
    expect(a.stdout).toContain('name = "hello-default"');
    const again = await tf(dir, ['plan', '-input=false', '-no-color', '-out=tfplan2', '-detailed-exitcode']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('No changes. Your infrastructure matches the configuration.');
    expect(actionsOf(await planJson(dir, 'tfplan2'))).toEqual({
      'terraform_data.a': ['no-op'],
      'terraform_data.b': ['no-op'],
    });
    fs.writeFileSync(path.join(dir, 'main.tf'), BASIC.replace('local.name\n', 'var.missing\n'));
    const bad = await tf(dir, ['plan', '-input=false', '-no-color', '-detailed-exitcode']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('Error: Reference to undeclared input variable');
  });

  it('reports create, update, replace and delete in show -json', async () => {
    const dir = workdir({ 'main.tf': BASIC });
    await tf(dir, ['init', '-input=false']);
    const p1 = await tf(dir, ['plan', '-input=false', '-out=p1']);
    expect(p1.code).toBe(0);
    const j1 = await planJson(dir, 'p1');
    expect(j1.format_version).toBe('1.2');
    expect(typeof j1.terraform_version).toBe('string');
    expect(actionsOf(j1)).toEqual({ 'terraform_data.a': ['create'], 'terraform_data.b': ['create'] });
    const a = j1.resource_changes[0]!;
    expect(a).toMatchObject({ address: 'terraform_data.a', type: 'terraform_data', name: 'a', mode: 'managed' });
    expect(a.change.before).toBeNull();
    expect(a.change.after).toEqual({ input: 'hello-default', triggers_replace: ['x'] });
    expect(j1.output_changes.name).toMatchObject({ actions: ['create'], after: 'hello-default' });
    expect((await tf(dir, ['apply', '-input=false', 'p1'])).code).toBe(0);

    fs.writeFileSync(
      path.join(dir, 'main.tf'),
      BASIC.replace('["x"]', '["y"]').replace('k = 1', 'k = 2') +
        'resource "terraform_data" "c" {\n  input = "c"\n  lifecycle {\n    create_before_destroy = true\n  }\n}\n',
    );
    const p2 = await tf(dir, ['plan', '-input=false', '-no-color', '-out=p2', '-detailed-exitcode']);
    expect(p2.code).toBe(2);
    expect(p2.stdout).toContain('# terraform_data.a must be replaced');
    expect(p2.stdout).toContain('# terraform_data.b will be updated in-place');
    expect(p2.stdout).toContain('Plan: 2 to add, 1 to change, 1 to destroy.');
    const j2 = await planJson(dir, 'p2');
    expect(actionsOf(j2)).toEqual({
      'terraform_data.a': ['delete', 'create'],
      'terraform_data.b': ['update'],
      'terraform_data.c': ['create'],
    });
    expect(j2.resource_changes[1]!.change.after).toMatchObject({ input: { k: 2, l: [true, 's'] } });
    expect((await tf(dir, ['apply', '-input=false', 'p2'])).code).toBe(0);

    fs.writeFileSync(
      path.join(dir, 'main.tf'),
      BASIC.replace('["x"]', '["y"]').replace('k = 1', 'k = 2') +
        'resource "terraform_data" "c" {\n  input = "c"\n  triggers_replace = 2\n  lifecycle {\n    ' +
        'create_before_destroy = true\n  }\n}\n',
    );
    await tf(dir, ['plan', '-input=false', '-out=p3']);
    expect(actionsOf(await planJson(dir, 'p3'))['terraform_data.c']).toEqual(['create', 'delete']);

    fs.writeFileSync(
      path.join(dir, 'main.tf'),
      'resource "terraform_data" "b" {\n  input = { k = 2, l = [true, "s"] }\n}\n',
    );
    const p4 = await tf(dir, ['plan', '-input=false', '-no-color', '-out=p4', '-detailed-exitcode']);
    expect(p4.code).toBe(2);
    expect(p4.stdout).toContain('# (because terraform_data.a is not in configuration)');
    const j4 = await planJson(dir, 'p4');
    expect(actionsOf(j4)).toEqual({
      'terraform_data.a': ['delete'],
      'terraform_data.b': ['no-op'],
      'terraform_data.c': ['delete'],
    });
    expect(j4.output_changes.name).toMatchObject({ actions: ['delete'], before: 'hello-default' });
    const a4 = await tf(dir, ['apply', '-input=false', 'p4']);
    expect(a4.stdout).toContain('Resources: 0 added, 0 changed, 2 destroyed.');
    const st = readState(path.join(dir, 'terraform.tfstate'));
    expect(st.resources.map((r) => r.name)).toEqual(['b']);
    expect(st.outputs).toEqual({});
  });

  it('writes state v4 at the default path for the default workspace', async () => {
    const dir = workdir({ 'main.tf': BASIC });
    await tf(dir, ['init', '-input=false']);
    expect((await planApply(dir)).code).toBe(0);
    const st = readState(path.join(dir, 'terraform.tfstate'));
    expect(st.version).toBe(4);
    expect(st.serial).toBeGreaterThan(0);
    expect(st.lineage).toMatch(/^[0-9a-f-]{36}$/);
    expect(st.outputs.name!.value).toBe('hello-default');
    const a = st.resources.find((r) => r.name === 'a')!;
    expect(a).toMatchObject({
      mode: 'managed',
      type: 'terraform_data',
      provider: 'provider["terraform.io/builtin/terraform"]',
    });
    const attrs = a.instances[0]!.attributes;
    expect(attrs.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(attrs.input).toEqual({ value: 'hello-default', type: 'string' });
    expect(attrs.output).toEqual({ value: 'hello-default', type: 'string' });
    expect(attrs.triggers_replace).toEqual({ value: ['x'], type: ['tuple', ['string']] });
  });

  it('uses terraform.tfstate.d/<workspace> for other workspaces', async () => {
    const dir = workdir({ 'main.tf': BASIC });
    await tf(dir, ['init', '-input=false']);
    const sel = await tf(dir, ['workspace', 'select', '-or-create', '-no-color', 'ops']);
    expect(sel.code).toBe(0);
    expect(sel.stdout).toContain('Created and switched to workspace "ops"!');
    expect(fs.readFileSync(path.join(dir, '.terraform', 'environment'), 'utf8')).toBe('ops');
    expect((await tf(dir, ['workspace', 'show'])).stdout).toBe('ops\n');
    expect((await tf(dir, ['workspace', 'list'])).stdout).toBe('  default\n* ops\n\n');
    expect((await tf(dir, ['workspace', 'new', 'ops'])).code).toBe(1);
    const missing = await tf(dir, ['workspace', 'select', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('Workspace "nope" doesn\'t exist.');
    expect((await planApply(dir)).code).toBe(0);
    const st = readState(path.join(dir, 'terraform.tfstate.d', 'ops', 'terraform.tfstate'));
    expect(st.outputs.name!.value).toBe('hello-ops');
    expect(fs.existsSync(path.join(dir, 'terraform.tfstate'))).toBe(false);
    const back = await tf(dir, ['workspace', 'select', 'default']);
    expect(back.stdout).toContain('Switched to workspace "default".');
  });

  it('honours a backend block from an override file (path and workspace_dir)', async () => {
    const stateDir = workdir({});
    const dir = workdir({
      'main.tf': `terraform {\n  backend "local" {\n    path = "orig.tfstate"\n  }\n}\n${BASIC}`,
      'backend_override.tf':
        `terraform {\n  backend "local" {\n    path          = ` +
        `"${stateDir}/default.tfstate"\n    workspace_dir = "${stateDir}/ws"\n  }\n}\n`,
    });
    const before = await tf(dir, ['plan', '-input=false', '-no-color']);
    expect(before.code).toBe(1);
    expect(before.stderr).toContain('Backend initialization required');
    const init = await tf(dir, ['init', '-input=false', '-no-color']);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toContain('Successfully configured the backend "local"!');
    expect((await planApply(dir)).code).toBe(0);
    expect(readState(path.join(stateDir, 'default.tfstate')).outputs.name!.value).toBe('hello-default');
    expect(fs.existsSync(path.join(dir, 'orig.tfstate'))).toBe(false);
    await tf(dir, ['workspace', 'select', '-or-create', 'apps']);
    expect((await planApply(dir)).code).toBe(0);
    expect(readState(path.join(stateDir, 'ws', 'apps', 'terraform.tfstate')).outputs.name!.value).toBe('hello-apps');
    expect((await tf(dir, ['workspace', 'list'])).stdout).toBe('  default\n* apps\n\n');
  });

  it('refuses a stale plan', async () => {
    const dir = workdir({ 'main.tf': BASIC });
    await tf(dir, ['init', '-input=false']);
    await tf(dir, ['plan', '-input=false', '-out=p1']);
    await tf(dir, ['plan', '-input=false', '-out=p2']);
    expect((await tf(dir, ['apply', '-input=false', 'p1'])).code).toBe(0);
    const stale = await tf(dir, ['apply', '-input=false', '-no-color', '-auto-approve', 'p2']);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('Error: Saved plan is stale');
    expect(stale.stderr).toContain(
      'The given plan file can no longer be applied because the state was changed by\nanother operation after the ' +
        'plan was created.',
    );
    // a plan made against a state keeps working until that state changes
    fs.writeFileSync(path.join(dir, 'main.tf'), BASIC.replace('"hello"', '"bye"'));
    await tf(dir, ['plan', '-input=false', '-out=p3']);
    await tf(dir, ['plan', '-input=false', '-out=p4']);
    expect((await tf(dir, ['apply', '-input=false', 'p3'])).code).toBe(0);
    expect((await tf(dir, ['apply', '-input=false', 'p4'])).stderr).toContain('Saved plan is stale');
  });

  it('runs local-exec provisioners and taints a resource whose provisioner fails', async () => {
    const marker = path.join(workdir({}), 'ran');
    const dir = workdir({
      'main.tf': `
resource "terraform_data" "ok" {
  input = "ok"
  provisioner "local-exec" {
    command = "echo created \${self.input} > ${marker}"
  }
}
resource "terraform_data" "bad" {
  input = "bad"
  provisioner "local-exec" {
    command = "echo failing; exit 1"
  }
}
`,
    });
    await tf(dir, ['init', '-input=false']);
    const a = await planApply(dir);
    expect(a.code).toBe(1);
    expect(fs.readFileSync(marker, 'utf8')).toBe('created ok\n');
    expect(a.stdout).toContain('terraform_data.bad (local-exec): Executing: ["/bin/sh" "-c" "echo failing; exit 1"]');
    expect(a.stderr).toContain('Error: local-exec provisioner error');
    expect(a.stderr).toContain('with terraform_data.bad,');
    expect(a.stderr).toContain("Error running command 'echo failing; exit 1': exit status 1. Output: failing");
    const st = readState(path.join(dir, 'terraform.tfstate'));
    expect(st.serial).toBeGreaterThan(0);
    const byName = Object.fromEntries(st.resources.map((r) => [r.name, r.instances[0]!]));
    expect(byName.ok!.status).toBeUndefined();
    expect(byName.bad!.status).toBe('tainted');
    const again = await tf(dir, ['plan', '-input=false', '-no-color', '-out=p', '-detailed-exitcode']);
    expect(again.code).toBe(2);
    expect(again.stdout).toContain('# terraform_data.bad is tainted, so must be replaced');
    expect(actionsOf(await planJson(dir, 'p'))).toEqual({
      'terraform_data.bad': ['delete', 'create'],
      'terraform_data.ok': ['no-op'],
    });
  });

  it('locks the state: a concurrent apply fails, or waits with -lock-timeout', async () => {
    const dir = workdir({ 'main.tf': BASIC });
    const lockInfo = path.join(dir, '.terraform.tfstate.lock.info');
    // The holder waits while this file exists: the lock is held for certain however slow the machine is.
    const holdFile = path.join(dir, 'hold');
    const holding = { TFGATE_DOUBLE_HOLD_FILE: holdFile };
    const hold = () => fs.writeFileSync(holdFile, '');
    const release = () => fs.rmSync(holdFile, { force: true });
    const waitingForLock = (run: Running) =>
      until('a terraform waiting for the lock', () =>
        run.output().includes('Acquiring state lock. This may take a few moments...') ? true : undefined,
      );
    await tf(dir, ['init', '-input=false']);
    expect((await tf(dir, ['plan', '-input=false', '-out=p1'])).code).toBe(0);
    expect((await tf(dir, ['plan', '-input=false', '-out=p2'])).code).toBe(0);
    hold();
    const first = tf(dir, ['apply', '-input=false', 'p1'], holding);
    await untilFileExists(lockInfo, 120_000);
    const second = await tf(dir, ['apply', '-input=false', '-no-color', 'p2']);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('Error: Error acquiring the state lock');
    expect(second.stderr).toContain('Operation: OperationTypeApply');
    release();
    expect((await first).code).toBe(0);
    expect(fs.existsSync(lockInfo)).toBe(false);

    // with a lock timeout both succeed (the second one is a fresh plan+apply)
    fs.writeFileSync(path.join(dir, 'main.tf'), BASIC.replace('"hello"', '"bye"'));
    expect((await tf(dir, ['plan', '-input=false', '-out=p3'])).code).toBe(0);
    hold();
    const third = tf(dir, ['apply', '-input=false', 'p3'], holding);
    await untilFileExists(lockInfo, 120_000);
    const waitingPlan = tf(dir, ['plan', '-input=false', '-lock-timeout=120s', '-out=p4', '-detailed-exitcode']);
    await waitingForLock(waitingPlan);
    release();
    expect((await waitingPlan).code).toBe(0);
    expect((await waitingPlan).stdout).toContain('Acquiring state lock. This may take a few moments...');
    expect((await third).code).toBe(0);
    fs.writeFileSync(path.join(dir, 'main.tf'), BASIC.replace('"hello"', '"again"'));
    expect((await tf(dir, ['plan', '-input=false', '-out=p5'])).code).toBe(0);
    fs.writeFileSync(path.join(dir, 'other.tf'), '');
    hold();
    const applying = tf(dir, ['apply', '-input=false', '-lock-timeout=120s', 'p5'], holding);
    await untilFileExists(lockInfo, 120_000);
    const planning = tf(dir, ['plan', '-input=false', '-lock-timeout=120s', '-out=p6']);
    await waitingForLock(planning);
    release();
    const [x, y] = await Promise.all([applying, planning]);
    expect(x.code, x.stderr).toBe(0);
    expect(y.code, y.stderr).toBe(0);
    // -lock=false skips the lock
    hold();
    const held = tf(dir, ['plan', '-input=false', '-out=p7'], holding);
    await untilFileExists(lockInfo, 120_000);
    expect((await tf(dir, ['plan', '-input=false', '-lock=false', '-out=p8'])).code).toBe(0);
    release();
    expect((await held).code).toBe(0);
  }, 600_000);

  it('frees the lock of a killed process', async () => {
    const dir = workdir({ 'main.tf': BASIC });
    await tf(dir, ['init', '-input=false']);
    await tf(dir, ['plan', '-input=false', '-out=p1']);
    // Held at the lock until killed (the hold file is never removed): killed while holding it, for certain.
    const holdFile = path.join(dir, 'hold');
    fs.writeFileSync(holdFile, '');
    const child = spawn(TERRAFORM, ['apply', '-input=false', 'p1'], {
      cwd: dir,
      env: { ...process.env, TFGATE_DOUBLE_HOLD_FILE: holdFile },
    });
    const lockFile = path.join(dir, '.terraform.tfstate.lock.info');
    await untilFileExists(lockFile, 120_000);
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    expect((await tf(dir, ['apply', '-input=false', 'p1'])).code).toBe(0);
  });

  it('reports syntax errors with file and line', async () => {
    const dir = workdir({ 'main.tf': 'resource "terraform_data" "x" {\n  input = "a"\n  bogus = = 1\n}\n' });
    const init = await tf(dir, ['init', '-input=false', '-no-color']);
    expect(init.code).toBe(1);
    expect(init.stderr).toContain('Error: Invalid expression');
    expect(init.stderr).toContain('on main.tf line 3, in resource "terraform_data" "x":');
    expect(init.stderr).toContain('   3:   bogus = = 1');
    fs.writeFileSync(path.join(dir, 'main.tf'), 'resource "terraform_data" "x" {\n  input = "a"\n');
    const unclosed = await tf(dir, ['plan', '-input=false', '-no-color']);
    expect(unclosed.code).toBe(1);
    expect(unclosed.stderr).toContain('Error: Unclosed configuration block');
    expect(unclosed.stderr).toContain('on main.tf line 1');
    fs.writeFileSync(path.join(dir, 'main.tf'), 'resource "terraform_data" "x" {\n  input = "a"\n  bogus = 1\n}\n');
    const unsupported = await tf(dir, ['plan', '-input=false', '-no-color']);
    expect(unsupported.stderr).toContain('Error: Unsupported argument');
    expect(unsupported.stderr).toContain('An argument named "bogus" is not expected here.');
  });
});
