import { createHmac, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitAndPush } from '../../src/local-mode/git-repos.js';
import {
  configYaml,
  REPOSITORY,
  startTestStack,
  terraformFiles,
  waitForRun,
  type TestStack,
} from '../support/local-stack.js';

/**
 * Signed webhook payloads (so they pass the signature check) whose repository names, refs, shas,
 * delivery ids and free text carry shell and path syntax. Refused, ignored, or carried as inert data:
 * the proof is that the marker files the commands would create never appear and nothing is written
 * outside the data directory.
 */

const SECRET = 'injection-test-secret';
const tag = randomBytes(6).toString('hex');
const PWNED = path.join(os.tmpdir(), `pwned-${tag}`);
const touch = `$(touch ${PWNED})`;
const touchNoSpace = `$(touch\${IFS}${PWNED})`;
const backticks = `\`touch ${PWNED}-bt\``;

let outer: string;
let stack: TestStack;
beforeAll(async () => {
  outer = await mkdtemp(path.join(os.tmpdir(), 'tfgate-inject-'));
  const dataDir = path.join(outer, 'data');
  await mkdir(dataDir);
  stack = await startTestStack({
    dataDir,
    keepData: true,
    webhookSecret: SECRET,
    config: configYaml({ environments: ['ops'], approval: false }),
  });
});
afterAll(async () => {
  await stack?.cleanup();
  await rm(outer, { recursive: true, force: true });
  await rm(PWNED, { force: true });
  await rm(`${PWNED}-bt`, { force: true });
});

async function deliver(
  event: string,
  payload: unknown,
  delivery = `inject-${randomBytes(6).toString('hex')}`,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const body = JSON.stringify(payload);
  const response = await fetch(stack.webhookUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': event,
      'x-github-delivery': delivery,
      'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`,
    },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function push(overrides: {
  repository?: string;
  ref?: string;
  after?: string;
  cloneUrl?: string;
  pusher?: string;
  message?: string;
}): Record<string, unknown> {
  return {
    ref: overrides.ref ?? 'refs/heads/main',
    after: overrides.after ?? 'a'.repeat(40),
    repository: {
      full_name: overrides.repository ?? REPOSITORY,
      clone_url: overrides.cloneUrl ?? 'https://github.com/acme/infrastructure.git',
    },
    pusher: { name: overrides.pusher ?? 'alice', email: 'alice@example.com' },
    head_commit: {
      message: overrides.message ?? 'change',
      author: { name: 'Alice', email: 'alice@example.com', username: 'alice' },
    },
  };
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }))
    out.push(path.join(entry.parentPath, entry.name));
  return out;
}

describe('shell and path syntax in signed webhook payloads', () => {
  it('is refused or ignored, or travels as inert data, and never reaches a shell or a path', async () => {
    const refused: Array<[string, Record<string, unknown>]> = [
      [`repository ${touch}`, push({ repository: `acme/infrastructure${touch}` })],
      ['repository with backticks', push({ repository: `acme/${backticks}` })],
      ['repository climbing out', push({ repository: '../../../etc/passwd' })],
      ['repository absolute', push({ repository: '/etc/passwd' })],
      [`sha ${touch}`, push({ after: touch })],
      ['sha climbing out', push({ after: '../../../../../../tmp/x' })],
      ['ref with a newline', push({ ref: `refs/heads/main\n${touch}` })],
      ['ref with a space', push({ ref: `refs/heads/main ${touch}` })],
    ];
    for (const [label, payload] of refused) {
      const answer = await deliver('push', payload);
      expect(answer.status, label).toBe(400);
      // The answer names the field and the rule, never echoes the value.
      expect(JSON.stringify(answer.body), label).not.toContain('touch');
    }

    const ignored: Array<[string, Record<string, unknown>]> = [
      ['ref with $()', push({ ref: `refs/heads/${touchNoSpace}` })],
      ['ref climbing out', push({ ref: 'refs/heads/../../../../tmp/escape' })],
      ['tracked branch followed by ..', push({ ref: 'refs/heads/main/../main' })],
      ['ref with backticks', push({ ref: `refs/heads/${backticks.replace(/ /g, '')}` })],
      ['repository not configured', push({ repository: 'acme/infrastructure..' })],
      ['a repository name lookalike', push({ repository: 'acme/infrastructurе' })],
    ];
    for (const [label, payload] of ignored) {
      const answer = await deliver('push', payload);
      expect([label, answer.status], label).toEqual([
        label,
        label.startsWith('a repository name lookalike') ? 400 : 202,
      ]);
      if (answer.status === 202) expect(answer.body.ignored, label).toBeTypeOf('string');
    }
    const pr = await deliver('pull_request', {
      action: 'opened',
      number: 1,
      pull_request: { head: { sha: touch, repo: { full_name: REPOSITORY } } },
      sender: { login: 'alice' },
      repository: { full_name: REPOSITORY },
    });
    expect(pr.status).toBe(400);

    // Accepted, because these fields are free text or identifiers tfgate never hands to a shell or a
    // path: the delivery id, the pusher's name, the commit message, a clone URL tfgate does not use.
    const sha = await commitAndPush(stack.remotes[0]!.remote, {
      files: terraformFiles({ network: 'inert' }),
      message: 'seed',
      branch: 'main',
      quiet: true,
    });
    const started = await deliver(
      'push',
      push({
        after: sha,
        pusher: `${touchNoSpace};${backticks}`,
        message: `${touch}\n'; touch ${PWNED}; '\n../../../../etc/passwd`,
        cloneUrl: `https://x/${touchNoSpace}`,
      }),
      `../../..${touchNoSpace}`,
    );
    expect(started.status).toBe(202);
    const run = await waitForRun(stack, started.body.runId as string);
    expect(run.status, run.error).toBe('succeeded');
    expect(run.message).toContain('$(touch');
    expect(run.deliveryId).toBe(`../../..${touchNoSpace}`);
    expect(run.executionName).toMatch(/^ghx-[0-9a-f]{64}$/);

    expect(existsSync(PWNED)).toBe(false);
    expect(existsSync(`${PWNED}-bt`)).toBe(false);
    // The data directory is the only thing in its parent, and nothing under it is named after a payload.
    expect(await readdir(outer)).toEqual(['data']);
    const written = await filesUnder(stack.dataDir);
    expect(
      written.filter((file) => /pwned|touch|\$\(|`|escape|passwd/.test(path.relative(stack.dataDir, file))),
    ).toEqual([]);
  }, 300_000);
});
