import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { decodeResolvedConfig, encodeResolvedConfig } from '../../src/config/resolved.js';
import { Prng } from './prng.js';

/**
 * Malformed and hostile tfgate.yaml files: each refused with file:line and a reason, none crashes. What
 * `tfgate local` prints for them, as a process, is in config-cli.slow.test.ts.
 */

const valid = (name = 'acme/infra', extra = '') =>
  `repositories:\n  - name: ${name}\n    environments:\n      - name: ops\n${extra}`;

const HOSTILE: Array<[string, string, RegExp?]> = [
  [
    'billion laughs (aliases)',
    `a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c ` +
      `[*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: ` +
      `[*d,*d,*d,*d,*d,*d,*d,*d,*d]\nrepositories: []\n`,
    /alias/i,
  ],
  ['an alias for a repository', `base: &base\n  name: acme/infra\nrepositories:\n  - *base\n`],
  ['a merge key', `repositories:\n  - <<: {name: acme/infra}\n`],
  ['a huge file', `repositories:\n${'  - name: acme/infra\n'.repeat(60_000)}`, /larger than 1 MiB/],
  ['wrong top-level type', `- just\n- a list\n`],
  ['repositories is a string', `repositories: acme/infra\n`],
  ['environments is a map', `repositories:\n  - name: acme/infra\n    environments: {ops: 1}\n`],
  [
    'duplicate keys',
    `repositories:\n  - name: acme/infra\n    name: acme/other\n`,
    /[Mm]ap keys must be unique|duplicate/,
  ],
  ['tabs for indentation', `repositories:\n\t- name: acme/infra\n`],
  ['binary junk', `\u0000\u0001\u0002\u00ff\ufffe repositories: [\u0007`],
  ['an unknown key', valid('acme/infra', 'colour: blue\n'), /unknown key "colour"/],
  [
    'an unknown nested key',
    `repositories:\n  - name: acme/infra\n    environments:\n      - name: ops\n        apporval: {}\n`,
    /unknown key "apporval"/,
  ],
  ['a name with ;', valid('acme/infra;rm -rf /'), /owner\/name/],
  ['a name with $()', valid('acme/$(touch /tmp/pwned)'), /owner\/name/],
  ['a name with backticks', valid('acme/`id`'), /owner\/name/],
  ['a name with ..', valid('../../etc'), /owner\/name/],
  ['an absolute path as a name', valid('/etc/passwd'), /owner\/name/],
  [
    'a name with a newline',
    `repositories:\n  - name: "acme/in\\nfra"\n    environments:\n      - name: ops\n`,
    /owner\/name/,
  ],
  ['a name with a unicode lookalike', valid('acme/infrа'), /owner\/name/],
  ['a name with a right-to-left override', valid('acme/in\u202efra'), /owner\/name/],
  [
    'an environment with path meaning',
    `repositories:\n  - name: acme/infra\n    environments:\n      - name: ../../etc\n`,
    /workspace/,
  ],
  [
    'an environment with $()',
    `repositories:\n  - name: acme/infra\n    environments:\n      - name: "$(reboot)"\n`,
    /workspace/,
  ],
  ['a branch with ..', `repositories:\n  - name: acme/infra\n    branch: main/../../x\n`, /branch/],
  ['a branch with backticks', `repositories:\n  - name: acme/infra\n    branch: "\`id\`"\n`, /branch/],
  ['a branch starting with -', `repositories:\n  - name: acme/infra\n    branch: --upload-pack=x\n`, /branch/],
  ['an absolute directory', `repositories:\n  - name: acme/infra\n    directory: /etc\n`, /relative path/],
  [
    'a directory climbing out',
    `repositories:\n  - name: acme/infra\n    directory: modules/../../..\n`,
    /relative path/,
  ],
  ['a cloneUrl that is an option', `repositories:\n  - name: acme/infra\n    cloneUrl: --upload-pack=touch /tmp/x\n`],
  [
    'an approver that is not an email',
    `repositories:\n  - name: acme/infra\n    environments:\n      - name: apps\n        approval: {approvers: ` +
      `["<script>"]}\n`,
    /email/,
  ],
  [
    'an approver that is a login with a path',
    `repositories:\n  - name: acme/infra\n    environments:\n      - name: apps\n        approval: {approvers: ` +
      `["@acme/../x"]}\n`,
    /GitHub login \(@alice\), a GitHub team/,
  ],
  [
    'a gate without approvers',
    `repositories:\n  - name: acme/infra\n    environments:\n      - name: apps\n        approval: {timeout: 1h}\n`,
    /approval\.approvers: a gate needs at least one approver/,
  ],
  [
    'a gate with an empty approvers list',
    `repositories:\n  - name: acme/infra\n    environments:\n      - name: apps\n        approval: {approvers: []}\n`,
    /approval\.approvers: a gate needs at least one approver/,
  ],
  ['a repository without environments', `repositories:\n  - name: acme/infra\n`, /list the environments/],
  ['a viewer that is not a person', valid('acme/infra', 'access: {viewers: ["everyone"]}\n'), /GitHub login/],
  ['a timeout that is not a duration', valid('acme/infra', 'timeouts: {plan: "1 hour; rm -rf /"}\n'), /duration/],
  ['a timeout too long', valid('acme/infra', 'timeouts: {plan: 999d}\n'), /at most/],
  ['a number where text belongs', `repositories:\n  - name: 12345\n`, /string/],
  [
    'an environment listed twice',
    `repositories:\n  - name: acme/infra\n    environments:\n      - name: ops\n      - name: ops\n`,
    /twice/,
  ],
  ['deep nesting', `repositories: ${'['.repeat(5000)}${']'.repeat(5000)}\n`],
  ['a YAML tag', `repositories: !!js/function "function(){}"\n`],
  ['an empty file', ``, /empty/],
  ['only a comment', `# nothing here\n`, /empty/],
];

function refusal(text: string): ConfigError {
  try {
    parseConfig(text, '/srv/tfgate.yaml');
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw new Error(`not a ConfigError: ${(error as Error)?.stack ?? String(error)}`);
  }
  throw new Error('accepted');
}

describe('hostile tfgate.yaml files', () => {
  it.each(HOSTILE)('%s is refused with file:line:column and a reason', (_label, text, reason) => {
    // The parse's own CPU time, not the wall clock: a runaway parse shows, a loaded machine does not.
    const started = process.cpuUsage();
    const error = refusal(text);
    const cpu = process.cpuUsage(started);
    expect((cpu.user + cpu.system) / 1000).toBeLessThan(2_000);
    expect(error.problems.length).toBeGreaterThan(0);
    for (const problem of error.problems) {
      expect(problem.file).toBe('/srv/tfgate.yaml');
      expect(problem.line).toBeGreaterThanOrEqual(1);
      expect(problem.message.length).toBeGreaterThan(3);
    }
    expect(error.message).toMatch(/^\/srv\/tfgate\.yaml:\d+:\d+: /);
    if (reason) expect(error.message).toMatch(reason);
  });

  it('points at the line of the problem', () => {
    const error = refusal(
      `repositories:\n  - name: acme/infra\n    environments:\n      - name: ops\n      - name: "bad name"\n`,
    );
    expect(error.problems[0]).toMatchObject({ line: 5 });
    expect(error.message).toContain('repositories.0.environments.1.name');
  });

  it('300 seeded random mutations of a valid file are accepted or refused cleanly, never a crash', () => {
    const prng = new Prng(7_919);
    const base =
      `repositories:\n  - name: acme/infra\n    branch: main\n    environments:\n      - name: ops\n   ` +
      `   - name: apps\n        approval:\n          approvers: [a@example.com]\n          timeout: ` +
      `24h\ntimeouts: { plan: 1h }\n`;
    const inserts = [
      '&a',
      '*a',
      '!!binary',
      ': :',
      '- -',
      '{',
      ']',
      '"',
      "'",
      '\t',
      '\u0000',
      '$(id)',
      '../',
      '\n  x: 1',
      '<<: *a',
      '? ',
      '|',
      '>-',
      '#',
      '%YAML 1.1\n',
      '---\n',
      '...\n',
      '\ufeff',
      '@',
      '`',
    ];
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      let text = base;
      for (let m = 1 + prng.int(3); m > 0; m--) {
        const at = prng.int(text.length);
        text = prng.chance(0.3)
          ? text.slice(0, at) + text.slice(at + 1 + prng.int(8))
          : text.slice(0, at) + prng.pick(inserts) + text.slice(at);
      }
      try {
        const config = parseConfig(text, 'mutated.yaml');
        // Whatever got through still obeys the rules that keep names out of shells and paths.
        for (const repo of config.repositories) {
          expect(repo.name).toMatch(/^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9_.][A-Za-z0-9_.-]*$/);
          for (const env of repo.environments) expect(env.name).toMatch(/^[a-z0-9][a-z0-9_-]*$/);
        }
      } catch (error) {
        expect(error, String((error as Error)?.stack)).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).message).toMatch(/^mutated\.yaml:\d+:\d+: /);
        refused += 1;
      }
    }
    expect(refused).toBeGreaterThan(100);
  });

  it('accepts logins, teams and addresses as approvers and viewers, lower-cased', () => {
    const config = parseConfig(
      valid(
        'acme/infra',
        '      - name: apps\n        approval: {approvers: ["@Alice", "@Acme/Platform", ' +
          'Bob@Example.com]}\naccess: {viewers: ["@acme/sre", carol@example.com]}\n',
      ),
    );
    expect(config.repositories[0]!.environments[1]!.approval!.approvers).toEqual([
      '@alice',
      '@acme/platform',
      'bob@example.com',
    ]);
    expect(config.access.viewers).toEqual(['@acme/sre', 'carol@example.com']);
  });

  it('binds GitHub logins to addresses under people:, lower-cased, and the functions decode the same', () => {
    const config = parseConfig(
      valid('acme/infra', 'people:\n  - github: Alice\n    emails: [Alice@Example.com, alice@corp.example]\n'),
    );
    expect(config.people).toEqual([{ github: 'alice', emails: ['alice@example.com', 'alice@corp.example'] }]);
    expect(decodeResolvedConfig(encodeResolvedConfig(config))).toEqual(config);
    expect(parseConfig(valid()).people).toEqual([]);
  });

  it('refuses a login or an address bound to two people, with the line of the second binding', () => {
    const twoOwners = refusal(
      valid(
        'acme/infra',
        'people:\n  - github: alice\n    emails: [alice@example.com]\n  - github: mallory\n    emails:\n' +
          '      - mallory@example.com\n      - Alice@Example.com\n',
      ),
    );
    expect(twoOwners.problems).toEqual([
      {
        file: '/srv/tfgate.yaml',
        line: 11,
        column: 9,
        message: 'people.1.emails.1: alice@example.com is already bound to @alice: an address belongs to one person',
      },
    ]);
    const loginTwice = refusal(
      valid(
        'acme/infra',
        'people:\n  - github: alice\n    emails: [a@example.com]\n  - github: ALICE\n    emails: [b@example.com]\n',
      ),
    );
    expect(loginTwice.message).toBe(
      '/srv/tfgate.yaml:8:13: people.1.github: @alice is already listed (people entry 1)',
    );
    for (const [entry, reason] of [
      ['- github: "@alice"\n    emails: [a@example.com]', /without @/],
      ['- github: alice\n    emails: []', /at least one address/],
      ['- github: alice\n    emails: [not-an-address]', /must be an email address/],
      ['- github: alice\n    email: [a@example.com]', /unknown key "email"/],
    ] as const)
      expect(refusal(valid('acme/infra', `people:\n  ${entry}\n`)).message).toMatch(reason);
    // A hand-edited CONFIG is held to the same rule.
    const config = parseConfig(valid());
    const doubled = JSON.stringify({
      ...config,
      people: [
        { github: 'alice', emails: ['a@example.com'] },
        { github: 'bob', emails: ['a@example.com'] },
      ],
    });
    expect(() => decodeResolvedConfig(doubled)).toThrow(/people: binds a login or an address to two people/);
  });
});
