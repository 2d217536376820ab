/**
 * The secrets the functions read, filled and in the shape their readers accept. Values are read (the
 * GitHub and webhook checks need them) but never printed: a line says what kind of value is there, or
 * what is wrong with its shape, in the parsers' own fixed words.
 */
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { parseSignInSecret, parseSlackSecret, parseWebhookSecrets } from '../adapters/aws/secret-values.js';
import { type StoredGitHubCredentials, parseGitHubSecret } from '../adapters/github/credentials.js';
import { accessFix, describeAwsError, errorName, isAccessDenied } from './aws-errors.js';
import type { DoctorContext } from './context.js';
import type { Deployment } from './stack.js';
import { type CheckResult, fail, pass } from './result.js';

export interface StoredSecrets {
  github?: StoredGitHubCredentials;
  /** The secret deliveries are signed with (the current one while rotating). */
  webhook?: string;
}

/** What went wrong reading a secret, as a line and a fix. */
async function readSecret(
  ctx: DoctorContext,
  id: string,
  title: string,
  secretId: string,
): Promise<{ value: string } | { result: CheckResult }> {
  try {
    const answer = await ctx.clients.secretsManager.send(new GetSecretValueCommand({ SecretId: secretId }));
    if (answer.SecretString === undefined)
      return { result: fail(id, title, `${secretId} holds binary data, not text`, [putCommand(ctx, secretId)]) };
    return { value: answer.SecretString };
  } catch (error) {
    const name = errorName(error);
    if (name === 'ResourceNotFoundException')
      return { result: fail(id, title, `${secretId}: no value stored`, [putCommand(ctx, secretId)]) };
    if (name === 'InvalidRequestException' && /deletion/i.test((error as Error).message ?? ''))
      return {
        result: fail(id, title, `${secretId} is scheduled for deletion`, [
          `aws secretsmanager restore-secret --secret-id ${secretId} --region ${ctx.region}`,
        ]),
      };
    return {
      result: fail(
        id,
        title,
        `${secretId}: ${describeAwsError(error)}`,
        isAccessDenied(error) ? [accessFix("secretsmanager:GetSecretValue on the stack's secrets")] : [],
      ),
    };
  }
}

const SIGN_IN_SHAPE = '{"clientId":"…","clientSecret":"…"}';

function putCommand(ctx: DoctorContext, secretId: string, value = '…'): string {
  return (
    `aws secretsmanager put-secret-value --region ${ctx.region} --secret-id ${secretId} ` + `--secret-string '${value}'`
  );
}

export async function checkSecrets(
  ctx: DoctorContext,
  deployment: Deployment,
): Promise<{ results: CheckResult[]; secrets: StoredSecrets }> {
  const { outputs, facts } = deployment;
  const secrets: StoredSecrets = {};
  const setupLink = `print the GitHub setup link and open it: ${outputs.GithubSetupLinkCommand}`;

  const github = async (): Promise<CheckResult> => {
    const id = 'secret.github';
    const title = 'GitHub credentials secret';
    const read = await readSecret(ctx, id, title, outputs.GithubSecretName!);
    if ('result' in read) return read.result;
    try {
      const credentials = parseGitHubSecret(read.value);
      if (!credentials)
        return fail(id, title, `${outputs.GithubSecretName} is empty`, [
          setupLink,
          `or a token: ${putCommand(ctx, outputs.GithubSecretName!, '{"token":"github_pat_…"}')}`,
        ]);
      secrets.github = credentials;
      return pass(
        id,
        title,
        credentials.kind === 'app' ? `GitHub App ${credentials.appId} with a private key` : 'a token',
      );
    } catch (error) {
      return fail(id, title, `${outputs.GithubSecretName}: ${(error as Error).message}`, [setupLink]);
    }
  };

  const webhook = async (): Promise<CheckResult> => {
    const id = 'secret.webhook';
    const title = 'webhook secret';
    const read = await readSecret(ctx, id, title, outputs.WebhookSecretName!);
    if ('result' in read) return read.result;
    try {
      const accepted = parseWebhookSecrets(read.value).filter((secret) => secret.length > 0);
      if (accepted.length === 0 || accepted[0]!.trim() === '')
        return fail(id, title, `${outputs.WebhookSecretName} is empty`, [setupLink]);
      secrets.webhook = accepted[0]!;
      return pass(id, title, accepted.length > 1 ? 'set (two while rotating)' : 'set');
    } catch (error) {
      return fail(id, title, `${outputs.WebhookSecretName}: ${(error as Error).message}`, [
        putCommand(ctx, outputs.WebhookSecretName!, '{"current":"…","previous":"…"}'),
      ]);
    }
  };

  const signIn = async (): Promise<CheckResult> => {
    const id = 'secret.sign-in';
    const title = 'GitHub sign-in secret';
    const read = await readSecret(ctx, id, title, outputs.SignInSecretName!);
    if ('result' in read) return read.result;
    try {
      const client = parseSignInSecret(read.value);
      if (client) return pass(id, title, 'client id and secret set');
      if (!facts.githubSignIn)
        return pass(id, title, 'empty, and not needed: every approver and viewer signs in by email');
      return fail(id, title, `${outputs.SignInSecretName} is empty, but approvers or viewers sign in with GitHub`, [
        setupLink,
        `or an OAuth app's client: ${putCommand(ctx, outputs.SignInSecretName!, SIGN_IN_SHAPE)}`,
      ]);
    } catch (error) {
      return fail(id, title, `${outputs.SignInSecretName}: ${(error as Error).message}`, [
        putCommand(ctx, outputs.SignInSecretName!, SIGN_IN_SHAPE),
      ]);
    }
  };

  const slack = async (): Promise<CheckResult> => {
    const id = 'secret.slack';
    const title = 'Slack webhook secret';
    const secretId = outputs.SlackSecretName!;
    const read = await readSecret(ctx, id, title, secretId);
    if ('result' in read) return read.result;
    const fix = putCommand(ctx, secretId, '{"webhookUrl":"https://hooks.slack.com/services/…"}');
    if (read.value.trim() === '' || read.value.trim() === '{}') return fail(id, title, `${secretId} is empty`, [fix]);
    try {
      parseSlackSecret(read.value);
      return pass(id, title, 'a webhook URL');
    } catch (error) {
      return fail(id, title, `${secretId}: ${(error as Error).message}`, [fix]);
    }
  };

  const results = await Promise.all([github(), webhook(), signIn(), ...(facts.slack ? [slack()] : [])]);
  return { results, secrets };
}
