import { execFile, spawn } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSignatureVerifier } from '../../lambdas/webhook/verify.js';
import { packageFile } from '../../src/package-files.js';
import { hookTargetFile } from '../../src/local-mode/post-receive.js';

/**
 * The bare repositories' post-receive hook (bin/post-receive.js, plain JavaScript): what it sends for a
 * push is a GitHub-shaped push event from the repository's own commits, signed so that the webhook's own
 * signature check accepts it; it never refuses a push.
 */

const HOOK = packageFile('bin', 'post-receive.js');
const SECRET = 'hook-test-secret';

interface Received {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

let dir: string;
let bare: string;
let server: Server | undefined;
let received: Received[];

function git(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('git', args, { cwd, env: { ...process.env, ...env } }, (error, stdout) =>
      error ? reject(error) : resolve(stdout.trim()),
    ),
  );
}

async function commit(work: string, file: string, message: string, author: string): Promise<string> {
  await writeFile(path.join(work, file), `${message}\n`);
  await git(['add', '--all'], work);
  const identity = { GIT_AUTHOR_NAME: author, GIT_AUTHOR_EMAIL: `${author}@example.com` };
  await git(['commit', '--quiet', '-m', message], work, {
    ...identity,
    GIT_COMMITTER_NAME: author,
    GIT_COMMITTER_EMAIL: `${author}@example.com`,
  });
  return git(['rev-parse', 'HEAD'], work);
}

/** A webhook that records what it gets and answers as tfgate's does for a started run. */
async function startWebhook(answer: { status: number; body: string }): Promise<string> {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks) });
      response.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}/webhook`;
}

function hook(stdin: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HOOK, '--data', dir, '--repository', 'acme/infrastructure'], {
      cwd: bare,
      env: { ...process.env, GIT_DIR: bare, USER: 'pat', ...env },
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stderr }));
    child.stdin.end(stdin);
  });
}

beforeEach(async () => {
  received = [];
  dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-hook-'));
  bare = path.join(dir, 'repos', 'acme', 'infrastructure.git');
  await git(['init', '--bare', '--quiet', '--initial-branch=main', bare], dir);
});

afterEach(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

async function twoCommitsPushed(): Promise<{ first: string; second: string }> {
  const work = path.join(dir, 'work');
  await git(['init', '--quiet', '--initial-branch=main', work], dir);
  const first = await commit(work, 'main.tf', 'first change', 'ana');
  const second = await commit(work, 'main.tf', 'second change\n\nwith a body: "quoted", and ünïcode', 'bo');
  await git(['push', '--quiet', bare, 'HEAD:refs/heads/main'], work);
  return { first, second };
}

async function writeHookTarget(webhookUrl: string): Promise<void> {
  await mkdir(path.dirname(hookTargetFile(dir)), { recursive: true });
  await writeFile(hookTargetFile(dir), JSON.stringify({ webhookUrl, secret: SECRET }), { mode: 0o600 });
}

describe('the post-receive hook', () => {
  it('sends a push event of the repository commits that the webhook signature check accepts', async () => {
    const { first, second } = await twoCommitsPushed();
    await writeHookTarget(await startWebhook({ status: 202, body: '{"runId":"run-1"}' }));

    const result = await hook(`${first} ${second} refs/heads/main\n`);

    expect(result).toEqual({ code: 0, stderr: `tfgate: run run-1 started for main at ${second.slice(0, 12)}\n` });
    expect(received).toHaveLength(1);
    const [delivery] = received;
    expect(delivery!.headers).toMatchObject({ 'x-github-event': 'push', 'content-type': 'application/json' });
    expect(delivery!.headers['x-github-delivery']).toMatch(/^[0-9a-f-]{36}$/);
    const check = await createSignatureVerifier([SECRET])(delivery!.body, delivery!.headers as Record<string, string>);
    expect(check.valid).toBe(true);
    const wrong = await createSignatureVerifier(['another secret'])(
      delivery!.body,
      delivery!.headers as Record<string, string>,
    );
    expect(wrong).toEqual({ valid: false, reason: 'mismatch' });

    const payload = JSON.parse(delivery!.body.toString('utf8'));
    expect(payload).toMatchObject({
      ref: 'refs/heads/main',
      before: first,
      after: second,
      created: false,
      deleted: false,
      repository: { full_name: 'acme/infrastructure', name: 'infrastructure', clone_url: bare },
      pusher: { name: 'pat', email: 'pat@localhost' },
      sender: { login: 'pat' },
    });
    const ana = { name: 'ana', email: 'ana@example.com' };
    const bo = { name: 'bo', email: 'bo@example.com' };
    expect(payload.commits).toEqual([
      {
        id: second,
        message: 'second change\n\nwith a body: "quoted", and ünïcode',
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        author: bo,
        committer: bo,
      },
    ]);
    expect(payload.head_commit).toEqual(payload.commits[0]);

    // A new branch: every commit up to the head, oldest first.
    received = [];
    await hook(`${'0'.repeat(40)} ${second} refs/heads/feature\n`);
    const created = JSON.parse(received[0]!.body.toString('utf8'));
    expect(created).toMatchObject({ created: true, ref: 'refs/heads/feature' });
    expect(created.commits.map((c: { id: string; author: unknown }) => [c.id, c.author])).toEqual([
      [first, ana],
      [second, bo],
    ]);
  });

  it('never refuses a push: no tfgate local running, or a webhook refusing, is said; the push stays', async () => {
    const { first, second } = await twoCommitsPushed();
    const notRunning = await hook(`${first} ${second} refs/heads/main\n`);
    expect(notRunning).toEqual({
      code: 0,
      stderr: 'tfgate: tfgate local is not running; no run was started for this push.\n',
    });

    await writeHookTarget(await startWebhook({ status: 401, body: '{"error":"bad signature"}' }));
    const refused = await hook(`${first} ${second} refs/heads/main\n`);
    expect(refused.code).toBe(0);
    expect(refused.stderr).toContain('tfgate: the webhook answered 401');
    expect(refused.stderr).toContain('the push is stored, but its run did not start');
  });
});
