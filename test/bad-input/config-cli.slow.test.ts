import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli-process.js';

/**
 * A bad tfgate.yaml given to `tfgate local`, the CLI as a process: one clear line, exit 2 (config.test.ts:
 * the parser).
 */

const valid = (name = 'acme/infra', extra = '') =>
  `repositories:\n  - name: ${name}\n    environments:\n      - name: ops\n${extra}`;

let dir: string | undefined;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('hostile tfgate.yaml files given to tfgate local', () => {
  it(
    'tfgate local refuses a gate without approvers: exit 2 and one line naming the file, the line ' +
      'and the missing list',
    async () => {
      dir ??= await mkdtemp(path.join(os.tmpdir(), 'tfgate-badcfg-'));
      const file = path.join(dir, 'open-gate.yaml');
      await writeFile(file, valid('acme/infra', '      - name: apps\n        approval:\n          timeout: 24h\n'));
      const result = await runCli([
        'local',
        '--config',
        file,
        '--data',
        path.join(dir, 'data-gate'),
        '--port',
        '0',
        '--terraform',
        '/bin/true',
      ]);
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toEqual([
        `tfgate: ${file}:6:9: repositories.0.environments.1.approval.approvers: a gate needs at least one approver ` +
          `(a GitHub login @alice, a team @acme/platform or an email address); an approval without approvers would ` +
          `let anyone approve`,
      ]);
    },
  );

  it('tfgate local refuses a hostile file at start: exit 2, file:line and reason, no stack trace', async () => {
    dir ??= await mkdtemp(path.join(os.tmpdir(), 'tfgate-badcfg-'));
    const file = path.join(dir, 'tfgate.yaml');
    await writeFile(file, valid('acme/$(touch /tmp/pwned)'));
    const result = await runCli([
      'local',
      '--config',
      file,
      '--data',
      path.join(dir, 'data'),
      '--port',
      '0',
      '--terraform',
      '/bin/true',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${file}:2:`);
    expect(result.stderr).toMatch(/owner\/name/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
