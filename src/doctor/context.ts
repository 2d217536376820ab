/**
 * The doctor's port: the AWS clients it may call, an HTTP client, a clock. The checks are plain
 * functions over this; `aws-clients.ts` makes the real clients (once, on first use), tests hand in
 * clients that aws-sdk-client-mock intercepts and a fetch that reaches a local stand-in server.
 */
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { CodeBuildClient } from '@aws-sdk/client-codebuild';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import type { SESv2Client } from '@aws-sdk/client-sesv2';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { STSClient } from '@aws-sdk/client-sts';
import { TfgateError } from '../domain/errors.js';

export interface DoctorClients {
  readonly sts: STSClient;
  readonly cloudFormation: CloudFormationClient;
  readonly secretsManager: SecretsManagerClient;
  readonly sesv2: SESv2Client;
  readonly sns: SNSClient;
  readonly serviceQuotas: ServiceQuotasClient;
  readonly codeBuild: CodeBuildClient;
  readonly s3: S3Client;
}

export interface DoctorContext {
  /** The region every client talks to (and console links point at). */
  readonly region: string;
  readonly clients: DoctorClients;
  /** Requests to GitHub and to the webhook URL. */
  readonly fetch: typeof fetch;
  /** How long one HTTP request may take before its check fails. */
  readonly httpTimeoutMs: number;
  now(): Date;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Progress of long steps (the canary's builds), for a person watching; not part of the report. */
  progress(line: string): void;
}

/** Exit code 2: the doctor could not start (bad options, no credentials, no region). */
export class DoctorUsageError extends TfgateError {
  override name = 'DoctorUsageError';
}

/** Sleeps, ending early (without throwing) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
