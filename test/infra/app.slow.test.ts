import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { decodeResolvedConfig } from '../../src/config/resolved.js';
import { loadStackConfig } from '../../infra/config.js';
import { PROJECT_ROOT } from '../../infra/functions.js';
import { buildEnvironments, buildProjectPrefix } from '../../infra/naming.js';
import { assertNoSecretInConfig } from '../../infra/secrets.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'tfgate-infra-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function configFrom(yaml: string) {
  return parseConfig(yaml, 'test.yaml');
}

describe('build project prefix', () => {
  it('derives a lower-case, tfgate-prefixed name from the stack name', () => {
    expect(buildProjectPrefix('Tfgate')).toBe('tfgate');
    expect(buildProjectPrefix('Platform-Prod')).toBe('tfgate-platform-prod');
  });

  it('stays short enough for any environment name to follow it', () => {
    const prefix = buildProjectPrefix(`A${'b'.repeat(127)}`);
    expect(prefix.length).toBeLessThanOrEqual(60);
    // CodeBuild project names: 255 characters; environment names: at most 63.
    expect(`${prefix}-${'e'.repeat(63)}`.length).toBeLessThanOrEqual(255);
    expect(prefix).toMatch(/^[a-z0-9][a-z0-9-]*[a-z0-9]$/);
  });
});

describe('build environments', () => {
  it('are the environment names across repositories, once each, with their role', () => {
    const config = configFrom(`
repositories:
  - name: acme/a
    environments: [{ name: ops, roleArn: "arn:aws:iam::111111111111:role/ops" }, { name: apps }]
  - name: acme/b
    environments: [{ name: ops, roleArn: "arn:aws:iam::111111111111:role/ops" }, { name: staging }]
`);
    expect(buildEnvironments(config)).toEqual([
      { name: 'ops', roleArn: 'arn:aws:iam::111111111111:role/ops' },
      { name: 'apps' },
      { name: 'staging' },
    ]);
  });

  it("refuse repositories that disagree on an environment's role", () => {
    const config = configFrom(`
repositories:
  - name: acme/a
    environments: [{ name: ops, roleArn: "arn:aws:iam::111111111111:role/ops" }]
  - name: acme/b
    environments: [{ name: ops }]
`);
    expect(() => buildEnvironments(config)).toThrow(
      new RegExp(
        'environment "ops" has different roleArn values across repositories: ' +
          String.raw`.*role/ops \(acme/a\); no roleArn \(acme/b\)`,
      ),
    );
  });
});

describe('secrets in the configuration', () => {
  it('refuses a Slack webhook URL where the stack expects the name of its secret', () => {
    const config = configFrom(`
repositories: [{ name: acme/a, environments: [{ name: ops }] }]
notifications: { slack: { webhookUrl: "https://hooks.slack.com/services/T000/B000/XXXX" } }
`);
    expect(() => assertNoSecretInConfig(config)).toThrow(/holds a URL/);
    expect(() =>
      assertNoSecretInConfig(
        configFrom(
          'repositories: [{ name: acme/a, environments: [{ name: ops }] }]\nnotifications: { slack: { webhookUrl: ' +
            'tfgate/slack } }\n',
        ),
      ),
    ).not.toThrow();
  });
});

describe('the CONFIG document', () => {
  it("is the resolved configuration without the file's comments, and decodes to the same configuration", () => {
    const file = path.join(scratch, 'commented.yaml');
    writeFileSync(
      file,
      '# a long comment that would only take room in the 4 KiB Lambda environment\nrepositories:\n  - name: ' +
        'acme/a # inline\n    environments: [{ name: ops }, { name: apps, approval: { approvers: ["@alice", ' +
        '"@acme/platform", a@example.com] } }]\nterraform: { version: 1.11.4 }\n',
    );
    const { config, document } = loadStackConfig(file);
    expect(document).not.toContain('comment');
    // Resolved: durations in seconds and defaults filled in, so the functions need no YAML parser or full schema.
    expect(JSON.parse(document)).toMatchObject({
      timeouts: { planSeconds: 3600 },
      repositories: [{ name: 'acme/a', branch: 'main' }],
    });
    expect(decodeResolvedConfig(document, 'CONFIG')).toEqual(config);
  });

  it('is checked again by the functions against the same rules as the file', () => {
    const file = path.join(scratch, 'plain.yaml');
    writeFileSync(
      file,
      'repositories:\n  - name: acme/a\n    environments: [{ name: ops }]\nterraform: { version: 1.11.4 }\n',
    );
    const { document } = loadStackConfig(file);
    const tampered = JSON.parse(document) as { repositories: Array<{ environments: Array<{ name: string }> }> };
    tampered.repositories[0]!.environments[0]!.name = '../etc';
    expect(() => decodeResolvedConfig(JSON.stringify(tampered), 'CONFIG')).toThrow(
      /CONFIG is not a valid resolved configuration: repositories\.0\.environments\.0\.name: must be lower-case/,
    );
    expect(() => decodeResolvedConfig(JSON.stringify({ ...JSON.parse(document), extra: 1 }), 'CONFIG')).toThrow(
      /unknown key "extra"/,
    );
    expect(() => decodeResolvedConfig(JSON.stringify('repositories: []'), 'CONFIG')).toThrow(
      /CONFIG is not a JSON object/,
    );
    expect(() => decodeResolvedConfig('repositories:\n  - name: acme/a\n', 'CONFIG')).toThrow(/CONFIG is not JSON/);
  });
});

describe('bin/app.ts', () => {
  function runApp(context: Record<string, unknown>, cwd = PROJECT_ROOT) {
    return spawnSync(
      process.execPath,
      [path.join(PROJECT_ROOT, 'bin', 'run-ts.js'), path.join(PROJECT_ROOT, 'bin', 'app.ts')],
      {
        cwd,
        encoding: 'utf8',
        env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify(context), CDK_OUTDIR: path.join(scratch, 'out') },
        timeout: 60_000,
      },
    );
  }

  it('names a configuration file that does not exist', () => {
    const missing = path.join(scratch, 'nope.yaml');
    const result = runApp({ config: missing });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`${missing} (from -c config=${missing}) does not exist`);
  });

  it('shows the file, line and problem of an invalid configuration', () => {
    const file = path.join(scratch, 'invalid.yaml');
    writeFileSync(
      file,
      'repositories:\n  - name: acme/a\n    branch: "bad branch"\n    environments: [{ name: ops }]\n',
    );
    const result = runApp({ config: file });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`${file}:3:`);
    expect(result.stderr).toContain('must be a plain branch name');
  });

  it('refuses a configuration without terraform.version in one line (AWS installs exactly that terraform)', () => {
    const file = path.join(scratch, 'unversioned.yaml');
    writeFileSync(file, 'repositories:\n  - name: acme/a\n    environments: [{ name: ops }]\n');
    const result = runApp({ config: file });
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      `tfgate: ${file}:1:1: terraform.version is required for AWS (the terraform CodeBuild installs, e.g. ` +
        'terraform: { version: 1.11.4 }); use the version your state was written with',
    ]);
  });

  it('refuses a gate without approvers with one line naming the file, the line and the missing list', () => {
    const file = path.join(scratch, 'open-gate.yaml');
    writeFileSync(
      file,
      'repositories:\n  - name: acme/a\n    environments:\n      - name: ops\n      - name: apps\n        ' +
        'approval:\n          timeout: 24h\n',
    );
    const result = runApp({ config: file });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toEqual([
      `tfgate: ${file}:6:9: repositories.0.environments.1.approval.approvers: a gate needs at least one approver ` +
        `(a GitHub login @alice, a team @acme/platform or an email address); an approval without approvers would ` +
        `let anyone approve`,
    ]);
  });

  it('says where it looked when there is no configuration at all', () => {
    const empty = mkdtempSync(path.join(scratch, 'empty-'));
    const result = runApp({}, empty);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`${path.join(empty, 'tfgate.yaml')} does not exist`);
  });
});

describe('cdk-nag wiring', () => {
  it('fails synthesis on an unacknowledged AwsSolutions finding, and passes once it is acknowledged', () => {
    const make = (acknowledge: boolean) => {
      const app = new App();
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
      const stack = new Stack(app, 'NagProbe');
      const bucket = new s3.Bucket(stack, 'Bare', { enforceSSL: true });
      if (acknowledge)
        Validations.of(bucket).acknowledge({ id: 'AwsSolutions-S1', reason: 'probe bucket without access logs' });
      return () => app.synth();
    };
    expect(make(false)).toThrow(/AwsSolutions-S1/);
    expect(make(true)).not.toThrow();
  });
});
