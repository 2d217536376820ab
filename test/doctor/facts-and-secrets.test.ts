/**
 * What the construct tells the doctor (DoctorFacts), and the secret shapes the functions and the doctor
 * share: a malformed secret is described, never quoted.
 */
import { describe, expect, it } from 'vitest';
import { parseSignInSecret, parseSlackSecret, parseWebhookSecrets } from '../../src/adapters/aws/secret-values.js';
import { parseConfig } from '../../src/config/load.js';
import { doctorFactsOf, parseDoctorFacts } from '../../src/doctor/facts.js';

const CONFIG = parseConfig(`repositories:
  - name: acme/infrastructure
    environments:
      - name: ops
      - name: apps
        approval:
          approvers: [alice@example.com]
  - name: acme/platform
    environments:
      - name: apps
        approval:
          approvers: ["@acme/platform"]
notifications:
  email: { from: tfgate@example.com }
github:
  apiUrl: https://github.example.com/api/v3
terraform:
  version: 1.11.4
  planCompute: ec2
`);

describe('DoctorFacts', () => {
  it('says what the deployed configuration uses, and reads back the same', () => {
    const facts = doctorFactsOf(CONFIG, 'tfgate-prod', ['ops', 'apps']);
    expect(facts).toEqual({
      version: 1,
      projectPrefix: 'tfgate-prod',
      environments: ['ops', 'apps'],
      repositories: ['acme/infrastructure', 'acme/platform'],
      githubApiUrl: 'https://github.example.com/api/v3',
      mailFrom: 'tfgate@example.com',
      githubSignIn: true,
      slack: false,
      planCompute: 'ec2',
    });
    expect(parseDoctorFacts(JSON.stringify(facts))).toEqual(facts);
  });

  it('email-only approvers need no GitHub sign-in', () => {
    const config = parseConfig(`repositories:
  - name: acme/infrastructure
    environments:
      - name: apps
        approval:
          approvers: [alice@example.com]
`);
    expect(doctorFactsOf(config, 'tfgate', ['apps']).githubSignIn).toBe(false);
  });

  it('refuses what would steer requests elsewhere, and a newer version by name', () => {
    const good = doctorFactsOf(CONFIG, 'tfgate', ['ops']);
    expect(() => parseDoctorFacts('nope')).toThrow(/not JSON/);
    expect(() => parseDoctorFacts(JSON.stringify({ ...good, environments: ['../x'] }))).toThrow(/environments/);
    expect(() => parseDoctorFacts(JSON.stringify({ ...good, repositories: ['a/b/../c'] }))).toThrow(/repositories/);
    expect(() => parseDoctorFacts(JSON.stringify({ ...good, githubApiUrl: 'file:///etc/passwd' }))).toThrow(
      /githubApiUrl/,
    );
    expect(() => parseDoctorFacts(JSON.stringify({ ...good, version: 2 }))).toThrow(/newer tfgate/);
  });
});

describe('secret shapes', () => {
  const CREDENTIAL = 'hunter2-very-secret-value';

  it('a malformed sign-in or Slack secret is described without quoting it (JSON.parse would)', () => {
    for (const parse of [parseSignInSecret, parseSlackSecret]) {
      let message = '';
      try {
        parse(`{"clientId": "x", "clientSecret": ${CREDENTIAL}`);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/is not valid JSON$/);
      expect(message).not.toContain(CREDENTIAL);
      expect(message).not.toContain('hunter2');
    }
  });

  it('the shapes the functions accept', () => {
    expect(parseWebhookSecrets('plain')).toEqual(['plain']);
    expect(parseWebhookSecrets('{"current":"a","previous":"b"}')).toEqual(['a', 'b']);
    expect(() => parseWebhookSecrets('{"previous":"b"}')).toThrow(/current/);
    expect(parseSignInSecret('{}')).toBeUndefined();
    expect(parseSignInSecret('{"clientId":"a","clientSecret":"b"}')).toEqual({ clientId: 'a', clientSecret: 'b' });
    expect(() => parseSignInSecret('null')).toThrow(/needs "clientId"/);
    expect(parseSlackSecret('{"webhookUrl":"https://hooks.slack.com/x"}')).toBe('https://hooks.slack.com/x');
    expect(() => parseSlackSecret(`not a url ${CREDENTIAL}`)).toThrow(/^the Slack secret is not a webhook URL$/);
  });
});
