/**
 * The one place the doctor's AWS clients are made: the default credential chain (as the AWS CLI and
 * `cdk deploy` use it), one region for all, each client created on first use. Only `tfgate doctor`
 * loads this file (bin/cli.ts imports the command when it runs), so no other command loads these SDKs.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SNSClient } from '@aws-sdk/client-sns';
import { STSClient } from '@aws-sdk/client-sts';
import { type DoctorClients, type DoctorContext, DoctorUsageError, sleep } from './context.js';

const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;

function lazyClients(region: string, sts: STSClient): DoctorClients {
  const made = new Map<string, unknown>();
  const once = <T>(key: string, make: () => T): T => {
    if (!made.has(key)) made.set(key, make());
    return made.get(key) as T;
  };
  const config = { region };
  return {
    sts,
    get cloudFormation() {
      return once('cloudFormation', () => new CloudFormationClient(config));
    },
    get secretsManager() {
      return once('secretsManager', () => new SecretsManagerClient(config));
    },
    get sesv2() {
      return once('sesv2', () => new SESv2Client(config));
    },
    get sns() {
      return once('sns', () => new SNSClient(config));
    },
    get serviceQuotas() {
      return once('serviceQuotas', () => new ServiceQuotasClient(config));
    },
    get codeBuild() {
      return once('codeBuild', () => new CodeBuildClient(config));
    },
    get s3() {
      return once('s3', () => new S3Client(config));
    },
  };
}

/** The region: --region, else what the SDK finds (AWS_REGION, the profile's region); none is a usage error. */
export async function createDoctorContext(options: {
  region?: string;
  progress: (line: string) => void;
}): Promise<DoctorContext> {
  if (options.region !== undefined && !REGION.test(options.region))
    throw new DoctorUsageError(`--region ${JSON.stringify(options.region)} is not an AWS region (eu-west-1, …)`);
  const probe = new STSClient(options.region ? { region: options.region } : {});
  let region: string;
  try {
    region = await probe.config.region();
  } catch {
    throw new DoctorUsageError(
      'no AWS region: pass --region, or set AWS_REGION or a region in your AWS profile (the one you deployed to)',
    );
  }
  if (!region || !REGION.test(region))
    throw new DoctorUsageError(`the configured AWS region ${JSON.stringify(region)} is not an AWS region`);
  return {
    region,
    clients: lazyClients(region, options.region ? probe : new STSClient({ region })),
    fetch: globalThis.fetch,
    httpTimeoutMs: 10_000,
    now: () => new Date(),
    sleep,
    progress: options.progress,
  };
}
