import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runPlanShow } from '../../bin/commands/plan-show.js';
import {
  buildPlanView,
  CLI_LIMITS,
  KNOWN_AFTER_APPLY,
  PAGE_LIMITS,
  planViewJson,
  planViewOfText,
  renderPlanViewText,
  SENSITIVE,
  type PlanView,
} from '../../src/domain/plan-view.js';
import { renderPlanViewHtml } from '../../src/web/plan-view-html.js';

/**
 * The structured plan view on plan JSON written by the real terraform 1.11.4 (committed fixtures from
 * test/plan-view/generate.ts; the slow test makes them afresh) and on hostile JSON: it reads every shape
 * without throwing and never shows a sensitive value.
 */

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const MIXED = fixture('mixed.1.2.json');
const ERRORED = fixture('errored.1.2.json');
const REFRESH_ONLY = fixture('refresh-only.1.2.json');
/** The sensitive values the fixtures' roots were planned with (see generate.ts). */
const SECRETS = ['hunter2-old-password', 's3cr3t-new-password', 'token-from-a-module'];

function everything(view: PlanView): string {
  return [JSON.stringify(view), renderPlanViewText(view), renderPlanViewHtml(view)].join('\n');
}

function expectNoSecrets(view: PlanView, secrets: readonly string[] = SECRETS): void {
  const shown = everything(view);
  for (const secret of secrets) expect(shown).not.toContain(secret);
}

describe('a mixed plan by terraform 1.11.4 (format 1.2)', () => {
  const view = planViewOfText(MIXED);

  it('counts and orders: destroys and replacements first, each named', () => {
    expect(view.formatVersion).toBe('1.2');
    expect(view.errored).toBe(false);
    expect(view.summary).toMatchObject({ create: 1, update: 4, delete: 1, replace: 1, moved: 1 });
    expect(view.resources.map((r) => [r.action, r.address])).toEqual([
      ['delete', 'terraform_data.retired[0]'],
      ['replace', 'terraform_data.rebuilt'],
      ['update', 'terraform_data.credentials'],
      ['update', 'terraform_data.tuned'],
      ['update', 'module.box["a"].terraform_data.inner'],
      ['update', 'module.box["b"].terraform_data.inner'],
      ['create', 'terraform_data.added[0]'],
      ['no-op', 'terraform_data.renamed'],
    ]);
    expect(view.problems).toEqual([]);
  });

  it('names what forces a replacement and why terraform destroys', () => {
    const rebuilt = view.resources.find((r) => r.address === 'terraform_data.rebuilt')!;
    expect(rebuilt.replacedBecause).toEqual(['triggers_replace']);
    expect(rebuilt.reason).toBe('replace_because_cannot_update');
    expect(rebuilt.changes).toContainEqual({ path: 'triggers_replace[0]', before: '1', after: '2' });
    expect(rebuilt.changes).toContainEqual({ path: 'output', before: '"r"', after: KNOWN_AFTER_APPLY });
    expect(view.resources[0]!.reason).toBe('delete_because_count_index');
  });

  it('lists the attributes each update changes, by nested path, before → after', () => {
    const tuned = view.resources.find((r) => r.address === 'terraform_data.tuned')!;
    expect(tuned.changes).toEqual([
      { path: 'input.name', before: '"v1"', after: '"v2"' },
      { path: 'input.ports[1]', before: '8001', after: '8002' },
      { path: 'input.tags.env', before: '"x1"', after: '"x2"' },
      {
        path: 'output',
        before: '{ name = "v1", ports = [80, 8001], tags = { env = "x1", fixed = "y" } }',
        after: KNOWN_AFTER_APPLY,
      },
    ]);
    // Unchanged attributes (input.tags.fixed, id) are not listed.
    expect(tuned.changes.map((c) => c.path)).not.toContain('id');
  });

  it('masks sensitive values as terraform does, and the unmarked echo of one too', () => {
    const credentials = view.resources.find((r) => r.address === 'terraform_data.credentials')!;
    expect(credentials.changes).toContainEqual({ path: 'input.password', before: SENSITIVE, after: SENSITIVE });
    // terraform_data's `output` repeats the input without the mark (terraform's own text plan prints it).
    expect(credentials.changes).toContainEqual({
      path: 'output',
      before: `{ password = ${SENSITIVE}, user = "u1" }`,
      after: KNOWN_AFTER_APPLY,
    });
    expect(view.outputs).toEqual([
      { name: 'password', action: 'update', before: SENSITIVE, after: SENSITIVE },
      { name: 'user', action: 'update', before: '"u1"', after: '"u2"' },
    ]);
    expectNoSecrets(view);
    // The plan JSON itself carries them in clear: that is what the view protects against.
    for (const secret of SECRETS) expect(MIXED).toContain(secret);
  });

  it('names moved resources with their previous address', () => {
    expect(view.resources.find((r) => r.address === 'terraform_data.renamed')).toMatchObject({
      action: 'no-op',
      previousAddress: 'terraform_data.original',
    });
    expect(renderPlanViewText(view)).toContain('terraform_data.renamed: moved from terraform_data.original');
  });

  it('the --json shape names every resource change, no-ops included', () => {
    const json = planViewJson(planViewOfText(MIXED, CLI_LIMITS));
    expect(json.summary).toEqual({ create: 1, update: 4, delete: 1, replace: 1 });
    expect(json.resources).toContainEqual({ address: 'terraform_data.kept', action: 'no-op' });
    expect(json.resources).toHaveLength(9);
    expect(json.resources[0]).toEqual({ address: 'terraform_data.retired[0]', action: 'delete' });
  });
});

describe('the other plans terraform writes', () => {
  it('an errored plan says so and shows what was planned', () => {
    const view = planViewOfText(ERRORED);
    expect(view.errored).toBe(true);
    expect(renderPlanViewText(view)).toMatch(/^ERRORED: /);
    expect(renderPlanViewHtml(view)).toContain('terraform stopped planning with an error');
    expectNoSecrets(view);
  });

  it('a refresh-only plan says so; its drift entries are listed', () => {
    const view = planViewOfText(REFRESH_ONLY);
    expect(view.refreshOnly).toBe(true);
    expect(view.resources).toEqual([]);
    expect(view.drift.map((d) => d.address)).toEqual(['terraform_data.renamed']);
    expectNoSecrets(view);
  });

  it('drift that changed attributes lists them like an update', () => {
    const plan = JSON.parse(MIXED);
    const tuned = plan.resource_changes.find((r: { address: string }) => r.address === 'terraform_data.tuned');
    plan.resource_drift = [tuned];
    const view = buildPlanView(plan);
    expect(view.drift[0]).toMatchObject({ address: 'terraform_data.tuned', action: 'update' });
    expect(view.drift[0]!.changes[0]).toEqual({ path: 'input.name', before: '"v1"', after: '"v2"' });
  });

  it('formats 1.0 and 1.1 (older terraform: no errored, complete, previous_address, action_reason, checks)', () => {
    for (const version of ['1.0', '1.1']) {
      const plan = JSON.parse(MIXED);
      plan.format_version = version;
      for (const key of ['errored', 'complete', 'applyable', 'timestamp', 'checks', 'relevant_attributes'])
        delete plan[key];
      for (const change of plan.resource_changes) {
        delete change.previous_address;
        delete change.action_reason;
        delete change.change.replace_paths;
      }
      const view = buildPlanView(plan);
      expect(view.formatVersion).toBe(version);
      expect(view.problems).toEqual([]);
      expect(view.summary).toMatchObject({ create: 1, update: 4, delete: 1, replace: 1, moved: 0 });
      expectNoSecrets(view);
    }
  });

  it('provider aliases, data sources, forget, deposed objects and unknown actions', () => {
    const plan = {
      format_version: '1.2',
      resource_changes: [
        {
          address: 'aws_s3_bucket.logs',
          provider_name: 'registry.terraform.io/hashicorp/aws',
          change: {
            actions: ['delete'],
            before: { bucket: 'b' },
            after: null,
            before_sensitive: {},
            after_sensitive: false,
          },
          deposed: 'a1b2c3d4',
        },
        { address: 'data.aws_ami.x', change: { actions: ['read'], before: null, after: {}, after_sensitive: {} } },
        { address: 'aws_instance.y', change: { actions: ['forget'], before: {}, after: null } },
        { address: 'aws_instance.z', change: { actions: ['teleport'], before: {}, after: {} } },
      ],
    };
    const view = buildPlanView(plan);
    expect(view.resources.map((r) => r.action)).toEqual(['delete', 'read', 'forget', 'unknown']);
    expect(view.resources[0]!.deposed).toBe('a1b2c3d4');
    expect(view.summary).toMatchObject({ delete: 1, read: 1, forget: 1, unknown: 1 });
    expect(view.problems.join('\n')).toContain('aws_instance.z: actions ["teleport"] are not ones tfgate knows');
  });
});

describe('hostile plan JSON', () => {
  const update = (change: Record<string, unknown>) => ({
    format_version: '1.2',
    resource_changes: [{ address: 'x.y', change: { actions: ['update'], ...change } }],
  });

  it('when a sensitivity marker is odd or missing, the value is masked', () => {
    const cases = [
      { before_sensitive: 'yes', after_sensitive: 'yes' },
      { before_sensitive: 1, after_sensitive: 1 },
      {},
      { before_sensitive: null, after_sensitive: null },
      { before_sensitive: { password: 'true' }, after_sensitive: { password: 'true' } },
      { before_sensitive: { password: [] }, after_sensitive: { password: null } },
    ];
    for (const markers of cases) {
      const view = buildPlanView(
        update({ before: { password: 'old-secret-1' }, after: { password: 'new-secret-2' }, ...markers }),
      );
      expectNoSecrets(view, ['old-secret-1', 'new-secret-2']);
      expect(view.resources[0]!.changes.length).toBeGreaterThan(0);
    }
  });

  it('a secret used as a map key or inside a longer string elsewhere is masked there too', () => {
    const view = buildPlanView({
      format_version: '1.2',
      resource_changes: [
        {
          address: 'a.b',
          change: {
            actions: ['update'],
            before: { token: 'tok-9f8e7d', names: { 'tok-9f8e7d': 1 } },
            after: { token: 'tok-9f8e7d', names: { 'tok-9f8e7d': 2 }, url: 'https://x/?t=tok-9f8e7d' },
            before_sensitive: { token: true },
            after_sensitive: { token: true },
            after_unknown: {},
          },
        },
      ],
    });
    expectNoSecrets(view, ['tok-9f8e7d']);
    expect(view.resources[0]!.changes.map((c) => c.path)).toContain(`names["${SENSITIVE}"]`);
  });

  it('never throws: wrong types, deep nesting, control characters, huge strings', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 5000; i++) deep = { a: deep };
    const inputs: unknown[] = [
      null,
      42,
      'plan',
      [],
      { format_version: 7 },
      { format_version: '2.0', resource_changes: 'many' },
      { format_version: '1.2', resource_changes: [null, 1, { change: null }, { address: 5, change: {} }] },
      { format_version: '1.2', output_changes: [] },
      { format_version: '1.2', output_changes: { o: { actions: ['create'], after: 'v' } } },
      update({ before: deep, after: { a: 'x' }, before_sensitive: {}, after_sensitive: {} }),
      update({ before: [deep], after: [deep, 1], before_sensitive: {}, after_sensitive: {} }),
      {
        format_version: '1.2',
        resource_changes: [
          {
            address: `evil\u001b]8;;http://x\u0007<script>alert(1)</script>${'x'.repeat(5000)}`,
            change: { actions: ['delete'], before: {}, after: null },
          },
        ],
      },
    ];
    for (const input of inputs) {
      const view = buildPlanView(input);
      const shown = everything(view);
      expect(shown).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);
      expect(renderPlanViewHtml(view)).not.toContain('<script>');
    }
    // A property nothing wrote, planted on the prototype, changes nothing.
    expect(planViewOfText('{"format_version":"1.2","__proto__":{"errored":true}}').errored).toBe(false);
    expect(planViewOfText('{not json').problems).toEqual(['the plan JSON does not parse']);
    // The parser's message quotes the text around the fault: never shown.
    expect(JSON.stringify(planViewOfText('{"password": "p4ss-w0rd" x}'))).not.toContain('p4ss');
    const output = planViewOfText('{"format_version":"1.2","output_changes":{"o":{"actions":["create"],"after":"v"}}}');
    // An output without sensitivity flags is masked (in doubt).
    expect(output.outputs).toEqual([{ name: 'o', action: 'create', before: 'null', after: SENSITIVE }]);
  });

  it('a 5,000-resource plan makes a bounded view and page; every destroy is counted, listed first', () => {
    const resource_changes = Array.from({ length: 5000 }, (_, i) => ({
      address: `module.fleet["m${i % 50}"].terraform_data.node[${i}]`,
      change:
        i % 1000 === 7
          ? { actions: ['delete'], before: { input: 'x' }, after: null, before_sensitive: {}, after_sensitive: false }
          : i % 2
            ? {
                actions: ['update'],
                before: { input: { a: `old-${i}`, b: i, c: [1, 2, 3] } },
                after: { input: { a: `new-${i}`, b: i + 1, c: [1, 2, 4] } },
                after_unknown: { output: true },
                before_sensitive: {},
                after_sensitive: {},
              }
            : {
                actions: ['create'],
                before: null,
                after: { input: i },
                after_unknown: { id: true },
                after_sensitive: {},
              },
    }));
    const plan = { format_version: '1.2', resource_changes };
    const view = buildPlanView(plan, PAGE_LIMITS);
    expect(view.summary).toMatchObject({ create: 2500, update: 2495, delete: 5 });
    expect(view.resources).toHaveLength(PAGE_LIMITS.resources);
    expect(view.resources.slice(0, 5).every((r) => r.action === 'delete')).toBe(true);
    expect(view.omittedResources).toBe(4000);
    const html = renderPlanViewHtml(view);
    expect(html.length).toBeLessThan(1_000_000);
    expect(html).toContain('4000 more resource changes are not listed here');
    expect(JSON.stringify(view).length).toBeLessThan(1_000_000);
    // The CLI names them all.
    expect(planViewJson(buildPlanView(plan, CLI_LIMITS)).resources).toHaveLength(5000);
  });
});

describe('tfgate plan show', () => {
  async function show(file: string, json = false): Promise<string> {
    let text = '';
    const out = new Writable({
      write(chunk, _encoding, done) {
        text += String(chunk);
        done();
      },
    });
    await runPlanShow(file, { json }, out);
    return text;
  }
  const path = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;

  it('prints the text view, and --json the counts and every resource with its action', async () => {
    const text = await show(path('mixed.1.2.json'));
    expect(text.split('\n')[0]).toBe('Plan: 1 to create, 4 to update, 1 to replace, 1 to destroy, 1 moved.');
    expect(text).toContain('Destroyed (1):\n  - terraform_data.retired[0]: DESTROYED');
    for (const secret of SECRETS) expect(text).not.toContain(secret);
    const json = JSON.parse(await show(path('mixed.1.2.json'), true));
    expect(Object.keys(json)).toEqual(['summary', 'resources']);
    expect(json.summary).toEqual({ create: 1, update: 4, delete: 1, replace: 1 });
    expect(json.resources).toContainEqual({ address: 'module.box["a"].terraform_data.inner', action: 'update' });
  });

  it('refuses what is not a plan JSON with exit code 2 and no quote of the file', async () => {
    await expect(show(new URL(import.meta.url).pathname)).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/is not JSON; give the output of `terraform show -json PLANFILE`$/),
    });
    await expect(show('/nonexistent/plan.json')).rejects.toMatchObject({ exitCode: 2 });
  });
});
