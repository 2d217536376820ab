import { describe, expect, it } from 'vitest';
import type { RunPatch, RunStore, StagePatch } from '../../src/domain/ports.js';
import type { Run } from '../../src/domain/run.js';
import {
  formatElapsed,
  ProgressEventRunStore,
  ProgressTerminal,
  showBuildProgress,
} from '../../src/local-mode/progress.js';

/**
 * The terminal's progress line: running plans and applies with their elapsed time, from an injected
 * clock and ticks driven by the test (no real timers).
 */

function run(id: string): Run {
  return {
    id,
    repository: 'acme/infrastructure',
    sha: 'a'.repeat(40),
    ref: 'refs/heads/main',
    trigger: 'push',
    mode: 'deploy',
    status: 'running',
    createdAt: '2026-03-01T12:00:00.000Z',
    updatedAt: '2026-03-01T12:00:00.000Z',
    sequence: 1,
    executionName: `exec-${id}`,
    stages: [
      { environment: 'ops', status: 'pending', transitions: [] },
      { environment: 'apps', status: 'pending', transitions: [] },
    ],
  };
}

/** Only the writes matter here: each one is announced to the progress line. */
function store(): ProgressEventRunStore {
  const inner = {
    updateStage: async (runId: string, _environment: string, _patch: StagePatch) => run(runId),
    updateRun: async (runId: string, _patch: RunPatch) => run(runId),
  } as unknown as RunStore;
  return new ProgressEventRunStore(inner);
}

function harness(isTTY: boolean) {
  let now = Date.parse('2026-03-01T12:00:00.000Z');
  let tick: () => void = () => undefined;
  const statuses: string[] = [];
  const printed: string[] = [];
  const runs = store();
  const stop = showBuildProgress(
    runs,
    { isTTY, status: (text) => statuses.push(text), print: (line) => printed.push(line) },
    {
      now: () => now,
      every: (fn) => {
        tick = fn;
        return () => (tick = () => undefined);
      },
    },
  );
  const at = new Date(now);
  return {
    runs,
    statuses,
    printed,
    stop,
    /** Moves the clock and lets one tick happen. */
    advance(ms: number) {
      now += ms;
      tick();
    },
    stage: (runId: string, environment: string, status: StagePatch['status']) =>
      runs.updateStage(runId, environment, { status }, at),
  };
}

describe('formatElapsed', () => {
  it('shows seconds, then minutes and seconds, then hours and minutes', () => {
    expect([0, 999, 42_000, 65_000, 600_000, 3_599_000, 3_720_000].map(formatElapsed)).toEqual([
      '0s',
      '0s',
      '42s',
      '1m05s',
      '10m00s',
      '59m59s',
      '1h02m',
    ]);
  });
});

describe('progress line on a terminal', () => {
  it(
    'shows a running plan with its elapsed time, updated every tick, then the apply, and clears ' + 'when none runs',
    async () => {
      const h = harness(true);
      await h.stage('r1', 'apps', 'planning');
      expect(h.statuses.at(-1)).toBe('apps plan running 0s');
      h.advance(1000);
      expect(h.statuses.at(-1)).toBe('apps plan running 1s');
      h.advance(64_000);
      expect(h.statuses.at(-1)).toBe('apps plan running 1m05s');
      await h.stage('r1', 'apps', 'planned');
      expect(h.statuses.at(-1)).toBe('');
      await h.stage('r1', 'apps', 'applying');
      h.advance(12_000);
      expect(h.statuses.at(-1)).toBe('apps apply running 12s');
      // Nothing goes to the printed lines on a terminal: the status line is redrawn in place.
      expect(h.printed).toEqual([]);
      h.stop();
      expect(h.statuses.at(-1)).toBe('');
    },
  );

  it('names the run when two runs build at once, and forgets a run that ended', async () => {
    const h = harness(true);
    await h.stage('r1', 'ops', 'applying');
    h.advance(5000);
    await h.stage('r2', 'apps', 'planning');
    h.advance(2000);
    expect(h.statuses.at(-1)).toBe('run r1 ops apply running 7s · run r2 apps plan running 2s');
    await h.runs.updateRun('r1', { status: 'failed', error: 'boom' }, new Date());
    expect(h.statuses.at(-1)).toBe('apps plan running 2s');
    h.stop();
  });
});

describe('progress line without a terminal', () => {
  it('prints one line per change, the time in whole minutes, never one per tick', async () => {
    const h = harness(false);
    await h.stage('r1', 'apps', 'planning');
    for (let i = 0; i < 150; i += 1) h.advance(1000);
    await h.stage('r1', 'apps', 'planned');
    await h.stage('r1', 'apps', 'applying');
    for (let i = 0; i < 30; i += 1) h.advance(1000);
    expect(h.printed).toEqual([
      'apps plan running',
      'apps plan running 1m',
      'apps plan running 2m',
      'apps apply running',
    ]);
    expect(h.statuses).toEqual([]);
    h.stop();
  });
});

describe('ProgressTerminal', () => {
  it('keeps the status line below printed lines on a terminal, and writes plain lines elsewhere', () => {
    const written: string[] = [];
    const tty = new ProgressTerminal({ isTTY: true, write: (text: string) => written.push(text) });
    tty.line('first');
    tty.status('apps plan running 3s');
    tty.line('second');
    tty.status('');
    tty.line('third');
    expect(written).toEqual([
      'first\n',
      '\r\u001b[2Kapps plan running 3s',
      '\r\u001b[2Ksecond\napps plan running 3s',
      '\r\u001b[2K',
      'third\n',
    ]);

    const plain: string[] = [];
    const pipe = new ProgressTerminal({ write: (text: string) => plain.push(text) });
    pipe.status('ignored');
    pipe.line('only lines');
    expect(plain).toEqual(['only lines\n']);
  });
});
