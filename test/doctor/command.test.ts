/**
 * The command around the checks: exit 0 only when every check holds, 1 when one fails, 2 when it
 * cannot start (options, credentials, region); the checklist or --json on stdout.
 */
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runDoctorCommand } from '../../bin/commands/doctor.js';
import { createDoctorContext } from '../../src/doctor/aws-clients.js';
import { DoctorUsageError } from '../../src/doctor/context.js';
import {
  awsError,
  healthyAccount,
  mocks,
  resetMocks,
  SECRET_NAMES,
  SECRET_VALUES,
  type StandIn,
  startStandIn,
  testContext,
} from './support.js';

let standIn: StandIn;
beforeAll(async () => {
  standIn = await startStandIn();
});
afterAll(async () => {
  await standIn.close();
});
beforeEach(() => {
  resetMocks();
  healthyAccount(standIn);
});

async function run(options: Parameters<typeof runDoctorCommand>[0]) {
  let stdout = '';
  let stderr = '';
  const code = await runDoctorCommand(options, {
    createContext: async () => testContext(),
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

describe('tfgate doctor exit codes and output', () => {
  it('0 with a checklist when every check holds', async () => {
    const { code, stdout } = await run({ stack: 'Tfgate' });
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^tfgate doctor: stack Tfgate in eu-west-1, account 123456789012 as arn:aws:iam::123456789012:user\/operator\n/,
    );
    expect(stdout).toMatch(/\n✓ webhook accepts a ping signed with the stored secret: answered 200 \(pong\)\n/);
    expect(stdout).toMatch(/\nall checks hold\n$/);
  });

  it('1 when a check fails, the failed line with its fix under it', async () => {
    mocks.secretsManager.on(GetSecretValueCommand, { SecretId: SECRET_NAMES.github }).resolves({ SecretString: '{}' });
    const { code, stdout } = await run({ stack: 'Tfgate' });
    expect(code).toBe(1);
    expect(stdout).toMatch(
      /\n✗ GitHub credentials secret: GithubSecret\w+-\w+ is empty\n {4}fix: print the GitHub setup link/,
    );
    expect(stdout).toMatch(/\n2 checks failed\n$/);
  });

  it('--json: the same checks as data, ok false on a failure, no secret value', async () => {
    mocks.secretsManager.on(GetSecretValueCommand, { SecretId: SECRET_NAMES.signIn }).resolves({ SecretString: '{}' });
    const { code, stdout } = await run({ stack: 'Tfgate', json: true });
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as {
      ok: boolean;
      account: string;
      checks: Array<{ id: string; status: string; fix?: string[] }>;
    };
    expect(report.ok).toBe(false);
    expect(report.account).toBe('123456789012');
    expect(report.checks.find((c) => c.id === 'secret.sign-in')).toMatchObject({
      status: 'fail',
      fix: expect.any(Array),
    });
    for (const value of Object.values(SECRET_VALUES)) expect(stdout).not.toContain(value);
  });

  it('2 for bad options and for credentials that do not work, with the reason on stderr', async () => {
    expect(await run({ stack: '-rf' })).toMatchObject({ code: 2, stdout: '' });
    expect((await run({ stack: 'Tfgate', canaryEnvironment: 'ops' })).stderr).toMatch(
      /--canary-environment needs --canary/,
    );
    mocks.sts
      .on(GetCallerIdentityCommand)
      .rejects(awsError('InvalidClientTokenId', 'The security token included in the request is invalid.'));
    const refused = await run({ stack: 'Tfgate' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^tfgate doctor: no usable AWS credentials \(InvalidClientTokenId/);
  });

  it('the real context: a bad --region, or none found, is a usage error', async () => {
    await expect(createDoctorContext({ region: 'mars-1', progress: () => {} })).rejects.toThrow(DoctorUsageError);
    const saved = { ...process.env };
    try {
      for (const key of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE']) delete process.env[key];
      process.env.AWS_CONFIG_FILE = '/nonexistent/config';
      process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials';
      await expect(createDoctorContext({ progress: () => {} })).rejects.toThrow(/no AWS region: pass --region/);
      const ctx = await createDoctorContext({ region: 'eu-central-1', progress: () => {} });
      expect(ctx.region).toBe('eu-central-1');
      expect(await ctx.clients.codeBuild.config.region()).toBe('eu-central-1');
    } finally {
      process.env = saved;
    }
  });
});
