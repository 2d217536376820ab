import { createHash } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CloudWatchLogsClient, GetLogEventsCommand, ResourceNotFoundException } from '@aws-sdk/client-cloudwatch-logs';
import { BatchGetBuildsCommand, CodeBuildClient, ListBuildsForProjectCommand } from '@aws-sdk/client-codebuild';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalsHandler } from '../../lambdas/web/handler.js';
import { BuildLogsUnavailableError, CodeBuildLogs } from '../../src/adapters/aws/codebuild-logs.js';
import type { BuildLogQuery, BuildLogs, RunStore } from '../../src/domain/ports.js';
import type { Run, Stage } from '../../src/domain/run.js';
import type { HttpRequest } from '../../src/http.js';
import { FileBuildLogs, localBuildLogFile } from '../../src/local-mode/file-build-logs.js';

/**
 * The run page's build output: what pull-request code printed reaches the browser as inert text
 * (terminal sequences stripped, HTML escaped, written by the script as text only), the one script
 * is the one the page's policy allows, and the two adapters read only the asked build's tail.
 */

const ESC = '\u001b';
const HOSTILE_LINES = [
  'Terraform will perform the following actions:',
  `${ESC}[31m<script>alert(1)</script>${ESC}[0m`,
  `</pre><img src=x onerror=alert(2)>${ESC}]0;owned\u0007`,
  `${ESC}]8;;javascript:alert(3)${ESC}\\click${ESC}]8;;${ESC}\\ \u009b31m done`,
];

function stage(environment: string, status: Stage['status']): Stage {
  return { environment, status, transitions: [{ status, at: '2026-03-01T12:00:00.000Z' }] };
}

function run(stages: Stage[]): Run {
  return {
    id: 'run-1',
    repository: 'acme/infrastructure',
    sha: 'a'.repeat(40),
    ref: 'refs/heads/main',
    trigger: 'push',
    mode: 'deploy',
    status: 'running',
    createdAt: '2026-03-01T12:00:00.000Z',
    updatedAt: '2026-03-01T12:00:00.000Z',
    sequence: 1,
    executionName: 'exec-1',
    stages,
  };
}

/** Only `get` is used by the run routes. */
function runsOf(value: Run): RunStore {
  return { get: async (id: string) => (id === value.id ? value : undefined) } as unknown as RunStore;
}

function request(pathname: string, options: { json?: boolean; query?: Record<string, string> } = {}): HttpRequest {
  return {
    method: 'GET',
    path: pathname,
    query: options.query ?? {},
    headers: options.json ? { accept: 'application/json' } : {},
    body: Buffer.alloc(0),
    identity: { via: 'email', email: 'vera@example.com', sessionId: 's1' } as unknown as HttpRequest['identity'],
  };
}

function handlerWith(value: Run, logs: BuildLogs) {
  const asked: BuildLogQuery[] = [];
  const recording: BuildLogs = {
    tail: async (query, max) => {
      asked.push(query);
      return logs.tail(query, max);
    },
  };
  const handler = createApprovalsHandler({
    runs: runsOf(value),
    approvals: {} as never,
    artifacts: { get: async () => undefined, put: async () => undefined },
    callbacks: {} as never,
    sessionKey: 'k',
    buildLogs: { logs: recording, projectPrefix: 'tfgate-x' },
  });
  return { handler, asked };
}

const hostile: BuildLogs = {
  tail: async () => ({ lines: HOSTILE_LINES, truncated: true, location: '/data/logs/run-1/apps-plan.log' }),
};

function expectInert(body: string): void {
  expect(body).not.toContain('<script>alert');
  expect(body).not.toContain('<img');
  expect(body).not.toContain('</pre><');
  expect(body).not.toContain('javascript:');
  expect(body).not.toContain(ESC);
  expect(body).not.toContain('\u0007');
  expect(body).not.toContain('\u009b');
}

describe('run page build output', () => {
  it(
    'shows hostile output escaped and without terminal sequences, and polls it only while the ' + 'build runs',
    async () => {
      const { handler, asked } = handlerWith(
        run([stage('ops', 'applied'), stage('apps', 'planning'), stage('later', 'pending')]),
        hostile,
      );
      const page = await handler(request('/runs/run-1'));
      expect(page.status).toBe(200);
      expectInert(page.body.replace(/<script>\(function[\s\S]*?<\/script>/, ''));
      expect(page.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(page.body).toContain('&lt;/pre&gt;&lt;img src=x onerror=alert(2)&gt;');
      expect(page.body).toContain('Earlier lines are left out here.');
      // ops finished (its apply log), apps runs (its plan log), a pending stage started no build.
      expect(asked.map((q) => [q.environment, q.mode, q.projectName])).toEqual([
        ['ops', 'apply', 'tfgate-x-ops-apply'],
        ['apps', 'plan', 'tfgate-x-apps-plan'],
      ]);
      expect(page.body).toContain('data-log="/runs/run-1/apps/log?mode=plan" data-running="true"');
      expect(page.body).toContain('data-log="/runs/run-1/ops/log?mode=apply" data-running="false"');
      expect(page.body).toContain('<noscript><meta http-equiv="refresh" content="5"></noscript>');
      // A local path is text, never a link.
      expect(page.body).toContain('<code>/data/logs/run-1/apps-plan.log</code>');
    },
  );

  it('allows exactly its one script by hash, and fetches from its own origin only', async () => {
    const { handler } = handlerWith(run([stage('apps', 'planning')]), hostile);
    const page = await handler(request('/runs/run-1'));
    const scripts = [...page.body.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    expect(scripts).toHaveLength(1);
    const csp = page.headers['content-security-policy']!;
    const hash = createHash('sha256').update(scripts[0]!).digest('base64');
    expect(csp).toContain(`script-src 'sha256-${hash}'`);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    const scriptSrc = csp
      .split(';')
      .map((d) => d.trim())
      .find((d) => d.startsWith('script-src'))!;
    expect(scriptSrc).toBe(`script-src 'sha256-${hash}'`);
    // The script writes output as text only.
    expect(scripts[0]).toContain('textContent');
    expect(scripts[0]).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);

    // A finished run has no script and no refresh.
    const done = await handlerWith(run([stage('apps', 'planned')]), hostile).handler(request('/runs/run-1'));
    expect(done.body).not.toContain('<script>(function');
    expect(done.body).not.toContain('http-equiv="refresh"');
  });

  it(
    'the log route gives lines without terminal sequences as JSON, and as plain text that browsers ' +
      'will not sniff or run',
    async () => {
      const { handler } = handlerWith(run([stage('apps', 'planning')]), hostile);
      const answer = await handler(request('/runs/run-1/apps/log', { json: true }));
      expect(answer.status).toBe(200);
      const view = JSON.parse(answer.body) as { lines: string[]; running: boolean; mode: string; status: string };
      expect(view).toMatchObject({ running: true, mode: 'plan', status: 'planning' });
      expect(view.lines[1]).toBe('<script>alert(1)</script>');
      for (const line of view.lines) expect(line).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
      expect(view.lines[3]).toBe('click  done');

      const plain = await handler(request('/runs/run-1/apps/log'));
      expect(plain.headers['content-type']).toMatch(/^text\/plain/);
      expect(plain.headers['x-content-type-options']).toBe('nosniff');
      expect(plain.headers['content-security-policy']).toContain('sandbox');
      expect(plain.body).not.toContain(ESC);
    },
  );

  it('refuses an unknown stage or mode, and a failing log store leaves the page up', async () => {
    const { handler } = handlerWith(run([stage('apps', 'planning')]), hostile);
    expect((await handler(request('/runs/run-1/nope/log', { json: true }))).status).toBe(404);
    expect((await handler(request('/runs/other/apps/log', { json: true }))).status).toBe(404);
    expect((await handler(request('/runs/run-1/apps/log', { json: true, query: { mode: '../../etc' } }))).status).toBe(
      400,
    );
    expect((await handler(request('/runs/run-1/..%2F/log'))).status).toBe(404);
    const broken = handlerWith(run([stage('apps', 'planning')]), {
      tail: async () => Promise.reject(new Error('AccessDenied <b>')),
    }).handler;
    const page = await broken(request('/runs/run-1'));
    expect(page.status).toBe(200);
    expect(page.body).toContain('The build output cannot be read right now.');
    expect(page.body).not.toContain('AccessDenied');
  });
});

describe('FileBuildLogs (local)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-build-logs-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('reads the end of the file the local build appends to, as it grows', async () => {
    const logs = new FileBuildLogs(dir);
    const query: BuildLogQuery = { projectName: 'p', runId: 'run-a', environment: 'apps', mode: 'plan' };
    expect(await logs.tail(query, 10)).toBeUndefined();
    const file = localBuildLogFile(dir, 'run-a', 'apps', 'plan');
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, 'one\ntwo\n');
    expect(await logs.tail(query, 10)).toEqual({ lines: ['one', 'two'], truncated: false, location: file });
    await appendFile(file, 'three\nfour (partial');
    expect((await logs.tail(query, 3))!).toMatchObject({ lines: ['two', 'three', 'four (partial'], truncated: true });
  });

  it('reads at most the last 64 KiB, dropping the cut line', async () => {
    const logs = new FileBuildLogs(dir);
    const file = localBuildLogFile(dir, 'run-big', 'ops', 'apply');
    await mkdir(path.dirname(file), { recursive: true });
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i} ${'x'.repeat(40)}`);
    await writeFile(file, `${lines.join('\n')}\n`);
    const tail = (await logs.tail({ projectName: 'p', runId: 'run-big', environment: 'ops', mode: 'apply' }, 100_000))!;
    expect(tail.truncated).toBe(true);
    expect(tail.lines.at(-1)).toBe(lines.at(-1));
    expect(lines).toContain(tail.lines[0]);
    expect(tail.lines.join('\n').length).toBeLessThanOrEqual(64 * 1024);
  });

  it('never builds a path from names that are not plain', async () => {
    const logs = new FileBuildLogs(dir);
    for (const runId of ['..', '../run-a', 'a/b', '']) {
      expect(await logs.tail({ projectName: 'p', runId, environment: 'apps', mode: 'plan' }, 10)).toBeUndefined();
    }
  });
});

describe('CodeBuildLogs (AWS)', () => {
  const codebuild = mockClient(CodeBuildClient);
  const cloudWatch = mockClient(CloudWatchLogsClient);
  afterEach(() => {
    codebuild.reset();
    cloudWatch.reset();
  });
  afterAll(() => {
    codebuild.restore();
    cloudWatch.restore();
  });
  const query: BuildLogQuery = {
    projectName: 'tfgate-x-apps-apply',
    runId: 'run-1',
    environment: 'apps',
    mode: 'apply',
  };
  const variables = [
    { name: 'TFGATE_RUN_ID', value: 'run-1' },
    { name: 'TFGATE_ENVIRONMENT', value: 'apps' },
    { name: 'TFGATE_MODE', value: 'apply' },
  ];
  const build = (logs?: { groupName: string; streamName?: string }) => ({
    id: 'tfgate-x-apps-apply:u1',
    arn: 'arn:aws:codebuild:eu-west-1:123456789012:build/tfgate-x-apps-apply:u1',
    environment: {
      type: 'LINUX_CONTAINER' as const,
      image: 'i',
      computeType: 'BUILD_GENERAL1_SMALL' as const,
      environmentVariables: variables,
    },
    ...(logs ? { logs } : {}),
  });
  const adapter = () =>
    new CodeBuildLogs(new CodeBuildClient({ region: 'eu-west-1' }), new CloudWatchLogsClient({ region: 'eu-west-1' }));

  it('has nothing for a build that has not started', async () => {
    codebuild.on(ListBuildsForProjectCommand).resolves({ ids: [] });
    expect(await adapter().tail(query, 50)).toBeUndefined();
  });

  it('shows a build with no stream yet as empty, then reads the stream once it appears', async () => {
    codebuild.on(ListBuildsForProjectCommand).resolves({ ids: ['tfgate-x-apps-apply:u1'] });
    codebuild
      .on(BatchGetBuildsCommand)
      .resolvesOnce({ builds: [build()] })
      .resolves({ builds: [build({ groupName: 'g', streamName: 's' })] });
    cloudWatch
      .on(GetLogEventsCommand)
      .rejectsOnce(new ResourceNotFoundException({ message: 'no stream', $metadata: {} }))
      .resolves({ events: [{ message: 'a\n' }, { message: 'b\r\n' }] });
    const logs = adapter();
    const first = (await logs.tail(query, 2))!;
    expect(first.lines).toEqual([]);
    expect(first.location).toContain(
      'https://eu-west-1.console.aws.amazon.com/codesuite/codebuild/123456789012/projects/tfgate-x-apps-apply/build/',
    );
    expect(await logs.tail(query, 2)).toMatchObject({ lines: [] });
    expect(await logs.tail(query, 2)).toMatchObject({ lines: ['a', 'b'], truncated: true });
  });

  it('turns an SDK failure into a BuildLogsUnavailableError naming the build', async () => {
    codebuild.on(ListBuildsForProjectCommand).rejects(new Error('AccessDeniedException'));
    await expect(adapter().tail(query, 5)).rejects.toBeInstanceOf(BuildLogsUnavailableError);
    await expect(adapter().tail(query, 5)).rejects.toThrow(/apps apply build of run run-1/);
  });
});
