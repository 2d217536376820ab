import { describe, expect, it } from 'vitest';
import {
  parseStoredPlanSummary,
  PlanJsonError,
  renderSummaryLine,
  stageArtifactKey,
  summarizePlan,
  summarizePlanJsonText,
} from '../../src/domain/plan-summary.js';

const SHA = 'a'.repeat(64);

function change(address: string, actions: string[], extra: Record<string, unknown> = {}) {
  return {
    address,
    mode: actions[0] === 'read' ? 'data' : 'managed',
    type: 'terraform_data',
    name: 'x',
    change: { actions },
    ...extra,
  };
}

function plan(resourceChanges: unknown[], extra: Record<string, unknown> = {}) {
  return { format_version: '1.2', terraform_version: '1.9.8', resource_changes: resourceChanges, ...extra };
}

describe('summarizePlan', () => {
  it('counts like terraform: a replacement is one add and one destroy, and also a replace', () => {
    const summary = summarizePlan(
      plan([
        change('terraform_data.created', ['create']),
        change('terraform_data.updated', ['update']),
        change('terraform_data.deleted', ['delete']),
        change('terraform_data.replaced', ['delete', 'create']),
        change('terraform_data.replaced_cbd', ['create', 'delete']),
        change('terraform_data.same', ['no-op']),
        change('data.terraform_remote_state.read', ['read']),
        change('terraform_data.forgotten', ['forget']),
      ]),
      { hasChanges: true, sha256: SHA },
    );
    expect(summary).toEqual({
      add: 3,
      change: 1,
      destroy: 3,
      replace: 2,
      hasChanges: true,
      sha256: SHA,
      addresses: {
        create: ['terraform_data.created'],
        update: ['terraform_data.updated'],
        delete: ['terraform_data.deleted'],
        replace: ['terraform_data.replaced', 'terraform_data.replaced_cbd'],
      },
    });
    expect(renderSummaryLine(summary)).toBe('+3 ~1 -3 (2 to replace)');
  });

  it('reports no changes for a plan of no-ops and reads', () => {
    const summary = summarizePlan(plan([change('terraform_data.same', ['no-op']), change('data.x.y', ['read'])]), {
      hasChanges: false,
      sha256: SHA,
    });
    expect(summary).toMatchObject({ add: 0, change: 0, destroy: 0, replace: 0, hasChanges: false });
    expect(renderSummaryLine(summary)).toBe('no changes');
  });

  it('accepts a plan without resource_changes (an empty configuration)', () => {
    const summary = summarizePlan({ format_version: '1.2' }, { hasChanges: false, sha256: SHA });
    expect(summary.add + summary.change + summary.destroy).toBe(0);
  });

  it('keeps hasChanges for output-only changes, where every count is zero', () => {
    const summary = summarizePlan(plan([], { output_changes: { url: { actions: ['create'] } } }), {
      hasChanges: true,
      sha256: SHA,
    });
    expect(summary).toMatchObject({ add: 0, change: 0, destroy: 0, hasChanges: true });
    expect(renderSummaryLine(summary)).toBe('+0 ~0 -0 (output changes only)');
  });

  it('renders a plain line when nothing is replaced', () => {
    const summary = summarizePlan(plan([change('terraform_data.a', ['create'])]), { hasChanges: true, sha256: SHA });
    expect(renderSummaryLine(summary)).toBe('+1 ~0 -0');
  });

  it('names deposed objects it will destroy', () => {
    const summary = summarizePlan(plan([change('terraform_data.a', ['delete'], { deposed: '00000001' })]), {
      hasChanges: true,
      sha256: SHA,
    });
    expect(summary.addresses.delete).toEqual(['terraform_data.a (deposed object 00000001)']);
    expect(summary.destroy).toBe(1);
  });

  it('reads the JSON text terraform show prints', () => {
    const text = JSON.stringify(plan([change('module.net.terraform_data.b["k"]', ['update'])]));
    expect(summarizePlanJsonText(text, { hasChanges: true, sha256: SHA }).addresses.update).toEqual([
      'module.net.terraform_data.b["k"]',
    ]);
  });

  it.each([
    ['not JSON', 'Error: nope'],
    ['an array', '[]'],
    ['null', 'null'],
    ['a missing format_version', JSON.stringify({ resource_changes: [] })],
    ['a future format_version', JSON.stringify({ format_version: '2.0', resource_changes: [] })],
    ['resource_changes as an object', JSON.stringify({ format_version: '1.2', resource_changes: {} })],
    ['an entry that is a string', JSON.stringify(plan(['terraform_data.a']))],
    ['an entry without an address', JSON.stringify(plan([{ change: { actions: ['create'] } }]))],
    ['an address that is a number', JSON.stringify(plan([{ address: 7, change: { actions: ['create'] } }]))],
    ['an entry without change', JSON.stringify(plan([{ address: 'a.b' }]))],
    ['actions that are not a list', JSON.stringify(plan([{ address: 'a.b', change: { actions: 'create' } }]))],
    ['empty actions', JSON.stringify(plan([{ address: 'a.b', change: { actions: [] } }]))],
    ['an unknown action', JSON.stringify(plan([change('a.b', ['explode'])]))],
    ['an unknown combination', JSON.stringify(plan([change('a.b', ['update', 'delete'])]))],
    ['a deposed key that is not a string', JSON.stringify(plan([change('a.b', ['delete'], { deposed: 1 })]))],
  ])('refuses %s with a PlanJsonError', (_label, text) => {
    expect(() => summarizePlanJsonText(text, { hasChanges: true, sha256: SHA })).toThrow(PlanJsonError);
  });

  it('refuses a sha256 that is not 64 hex characters', () => {
    expect(() => summarizePlan(plan([]), { hasChanges: false, sha256: 'abc' })).toThrow(/sha256/);
  });

  it('says which entry is wrong', () => {
    expect(() =>
      summarizePlan(plan([change('a.ok', ['create']), change('a.bad', ['teleport'])]), {
        hasChanges: true,
        sha256: SHA,
      }),
    ).toThrow(/resource_changes\[1\].*teleport.*a\.bad/);
  });
});

describe('parseStoredPlanSummary', () => {
  const stored = summarizePlan(plan([change('terraform_data.a', ['delete', 'create'])]), {
    hasChanges: true,
    sha256: SHA,
  });

  it('round-trips a summary through JSON', () => {
    expect(parseStoredPlanSummary(JSON.parse(JSON.stringify(stored)))).toEqual(stored);
  });

  it.each([
    ['a negative count', { ...stored, add: -1 }],
    ['a fractional count', { ...stored, change: 1.5 }],
    ['a string count', { ...stored, destroy: '1' }],
    ['a missing hasChanges', { ...stored, hasChanges: undefined }],
    ['a short sha256', { ...stored, sha256: 'abc' }],
    ['addresses that are not lists', { ...stored, addresses: { ...stored.addresses, create: 'x' } }],
    ['no addresses', { ...stored, addresses: undefined }],
  ])('refuses %s', (_label, value) => {
    expect(() => parseStoredPlanSummary(value)).toThrow();
  });
});

describe('stageArtifactKey', () => {
  it('places artifacts under runs/<run>/<env>/<kind>/', () => {
    expect(stageArtifactKey('0f8b6c9e-1d2a-4e43-9a53-0d6c1c2b7a10', 'ops', 'tfplan', 'plan')).toBe(
      'runs/0f8b6c9e-1d2a-4e43-9a53-0d6c1c2b7a10/ops/plan/tfplan',
    );
    expect(stageArtifactKey('r1', 'ops', 'plan.txt', 'pr-plan')).toBe('runs/r1/ops/pr-plan/plan.txt');
    expect(() => stageArtifactKey('r1', 'ops', 'tfplan', '../plan' as never)).toThrow(/unknown build kind/);
  });

  it.each([
    ['..', 'ops'],
    ['run', '..'],
    ['a/b', 'ops'],
    ['run', 'o/ps'],
    ['', 'ops'],
    ['run', ''],
  ])('refuses run %j environment %j', (runId, environment) => {
    expect(() => stageArtifactKey(runId, environment, 'tfplan', 'plan')).toThrow(/unsafe/);
  });
});
