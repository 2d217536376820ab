import { afterEach, describe, expect, it } from 'vitest';
import { RECORDED_ADDRESSES } from '../../src/domain/plan-summary.js';
import {
  configYaml,
  operatorHeaders,
  pushChange,
  runForSha,
  startTestStack,
  waitForRun,
  type TestStack,
} from '../support/local-stack.js';
import { expectNoLockHeld } from '../faults/support.js';

/**
 * A plan that changes 5,000 resources, through the real definition, pipeline tasks and dynalite
 * (which enforces DynamoDB's 400 KB item limit, shown below): the run succeeds, its record keeps
 * the counts and a capped address list, and its page shows both.
 */

let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.cleanup();
  stack = undefined;
});

const RESOURCES = 5_000;
// Addresses as long as real ones (module paths, for_each keys): ~100 bytes each, ~500 KB per stage uncapped.
const name = (i: number) =>
  `cluster_eu_west_1_node_group_workers_iam_role_policy_attachment_worker_${String(i).padStart(5, '0')}_x`;
const files = () => ({
  'main.tf': Array.from(
    { length: RESOURCES },
    (_, i) => `resource "terraform_data" "${name(i)}" {\n  input = "v1"\n}\n`,
  ).join('\n'),
});

describe('a plan that changes 5,000 resources', () => {
  it('succeeds, keeps the run item under 400 KB with counts and a capped list, and the page shows them', async () => {
    stack = await startTestStack({ config: configYaml({ environments: ['ops'], approval: false }) });
    const sha = await pushChange(stack, files());
    const run = await waitForRun(stack, (await runForSha(stack, sha)).id, 280_000);
    expect(run.status, run.error).toBe('succeeded');

    const plan = run.stages[0]!.plan!;
    expect([plan.add, plan.change, plan.destroy]).toEqual([RESOURCES, 0, 0]);
    const kept = Object.values(plan.addresses).flat();
    expect(kept.length).toBeLessThanOrEqual(RECORDED_ADDRESSES.count);
    expect(kept.length + (plan.omittedAddresses ?? 0)).toBe(RESOURCES);

    // The item as the store holds it: far under DynamoDB's limit.
    const stored = await stack.stores.runs.get(run.id);
    const itemBytes = Buffer.byteLength(JSON.stringify(stored));
    expect(itemBytes).toBeLessThan(40_000);

    // dynalite enforces the 400 KB limit, so the uncapped summary (what was stored before) is refused.
    const uncapped = {
      ...plan,
      addresses: {
        create: Array.from({ length: RESOURCES }, (_, i) => `terraform_data.${name(i)}`),
        update: [],
        delete: [],
        replace: [],
      },
    };
    delete (uncapped as { omittedAddresses?: number }).omittedAddresses;
    await expect(
      stack.stores.runs.updateStage(run.id, 'ops', { status: 'applied', plan: uncapped }, new Date()),
    ).rejects.toThrow(/size/i);

    const page = await (await fetch(`${stack.url}/runs/${run.id}`, { headers: operatorHeaders(stack) })).text();
    expect(page).toContain(`${RESOURCES} to add, 0 to change, 0 to destroy`);
    expect(page).toContain(`and ${plan.omittedAddresses} more: the full list is in the plan text`);
    expect(page).toContain(`<code>terraform_data.${name(0)}</code>`);
    await expectNoLockHeld(stack);
  }, 300_000);
});

describe('run lists', () => {
  it('come in pages with a cursor to the next, without address lists', async () => {
    stack = await startTestStack({ config: configYaml({ environments: ['ops'], approval: false }) });
    const shas: string[] = [];
    for (const n of [1, 2, 3]) {
      shas.push(await pushChange(stack, { 'main.tf': `resource "terraform_data" "a" {\n  input = "${n}"\n}\n` }));
      await waitForRun(stack, (await runForSha(stack, shas[shas.length - 1]!)).id);
    }
    const get = async (query: string) =>
      (
        await fetch(`${stack!.url}/runs${query}`, {
          headers: { accept: 'application/json', ...operatorHeaders(stack!) },
        })
      ).json() as Promise<{
        runs: Array<{ sha: string; stages: Array<{ plan?: Record<string, unknown> }> }>;
        next?: string;
      }>;
    const first = await get('?limit=2');
    expect(first.runs.map((r) => r.sha)).toEqual([shas[2], shas[1]]);
    expect(first.runs[0]!.stages[0]!.plan).not.toHaveProperty('addresses');
    expect(first.next).toBeDefined();
    const second = await get(`?limit=2&before=${encodeURIComponent(first.next!)}`);
    expect(second.runs.map((r) => r.sha)).toEqual([shas[0]]);
    expect(second.next).toBeUndefined();
    const refused = await fetch(`${stack.url}/runs?before=not-a-cursor`, {
      headers: { accept: 'application/json', ...operatorHeaders(stack) },
    });
    expect(refused.status).toBe(400);
  }, 300_000);
});
