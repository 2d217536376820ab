import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { decodeResolvedConfig, encodeResolvedConfig } from '../../src/config/resolved.js';

/** approval.required (the two-person rule): its default, its bounds, and the count of named approvers. */

function gate(approval: string): string {
  return [
    'repositories:',
    '  - name: acme/infra',
    '    environments:',
    '      - name: ops',
    '      - name: apps',
    '        approval:',
    ...approval.split('\n').map((line) => `          ${line}`),
    '',
  ].join('\n');
}

function problem(text: string): string {
  try {
    parseConfig(text, 'tfgate.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('the configuration was accepted');
}

describe('approval.required', () => {
  it('defaults to 1 and survives the resolved configuration the functions decode', () => {
    const single = parseConfig(gate('approvers: [alice@example.com]'));
    expect(single.repositories[0]!.environments[1]!.approval!.required).toBe(1);
    const two = parseConfig(gate('approvers: [alice@example.com, "@bob"]\nrequired: 2'));
    expect(two.repositories[0]!.environments[1]!.approval!.required).toBe(2);
    expect(decodeResolvedConfig(encodeResolvedConfig(two)).repositories[0]!.environments[1]!.approval!.required).toBe(
      2,
    );
  });

  it('more approvals than named people is refused at start, on the line of required', () => {
    expect(problem(gate('approvers: [alice@example.com, "@bob"]\nrequired: 3'))).toBe(
      'tfgate.yaml:8:21: repositories.0.environments.1.approval.required: requires 3 distinct approvers but only 2 ' +
        'are listed (name more approvers, or a team; addresses bound to one login under people: are one person)',
    );
    // The same person written twice (case) is one person.
    expect(problem(gate('approvers: [alice@example.com, Alice@Example.com]\nrequired: 2'))).toMatch(
      /^tfgate\.yaml:8:\d+: .*requires 2 distinct approvers but only 1 is listed/,
    );
  });

  it('an address people: binds to a listed login is the same person, not another approver', () => {
    const text = gate('approvers: [alice@example.com, "@alice"]\nrequired: 2').replace(
      'repositories:',
      'people:\n  - { github: alice, emails: [Alice@Example.com] }\nrepositories:',
    );
    expect(problem(text)).toMatch(/approval\.required: requires 2 distinct approvers but only 1 is listed/);
  });

  it('a team can grow, so a listed team lifts the count check', () => {
    const config = parseConfig(gate('approvers: ["@acme/platform"]\nrequired: 3'));
    expect(config.repositories[0]!.environments[1]!.approval!.required).toBe(3);
  });

  it('refuses zero, fractions, words and more than 10, each with its line', () => {
    expect(problem(gate('approvers: [a@example.com]\nrequired: 0'))).toMatch(/^tfgate\.yaml:8:\d+: .*at least 1/);
    expect(problem(gate('approvers: [a@example.com, b@example.com]\nrequired: 1.5'))).toMatch(
      /^tfgate\.yaml:8:\d+: .*whole number/,
    );
    expect(problem(gate('approvers: [a@example.com]\nrequired: two'))).toMatch(/^tfgate\.yaml:8:\d+: /);
    expect(problem(gate('approvers: ["@acme/platform"]\nrequired: 11'))).toMatch(/^tfgate\.yaml:8:\d+: .*at most 10/);
  });

  it('the functions refuse a resolved configuration whose required is out of bounds', () => {
    const config = parseConfig(gate('approvers: [alice@example.com]'));
    config.repositories[0]!.environments[1]!.approval!.required = 0;
    expect(() => decodeResolvedConfig(encodeResolvedConfig(config))).toThrow(/approval\.required/);
  });
});
