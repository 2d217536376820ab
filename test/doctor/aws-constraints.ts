/**
 * Every request the doctor makes, held against the constraints AWS documents for it (API references:
 * CloudFormation DescribeStacks, Secrets Manager GetSecretValue, SES v2 GetEmailIdentity/GetAccount,
 * SNS ListSubscriptionsByTopic, Service Quotas GetServiceQuota/GetAWSDefaultServiceQuota, CodeBuild
 * BatchGetProjects/StartBuild/BatchGetBuilds/StopBuild, S3 PutObject/GetObject/ListObjectVersions/
 * DeleteObjects, STS GetCallerIdentity). A test that mocks AWS would otherwise pass with a request AWS
 * refuses.
 */
import { expect } from 'vitest';

type Input = Record<string, unknown>;

const SERVICE_CODE = /^[a-zA-Z][a-zA-Z0-9-]{1,63}$/;
const QUOTA_CODE = /^[a-zA-Z][a-zA-Z0-9-]{1,128}$/;
// CreateProject's name rule: a build's project is named as its project was created.
const PROJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9\-_]{1,254}$/;
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
const SNS_TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;

function string(value: unknown, what: string, min = 1, max = Number.POSITIVE_INFINITY): string {
  expect(typeof value, `${what} is a string`).toBe('string');
  const text = value as string;
  expect(text.length, `${what} length`).toBeGreaterThanOrEqual(min);
  expect(text.length, `${what} length`).toBeLessThanOrEqual(max);
  return text;
}

function onlyKeys(input: Input, allowed: string[], command: string): void {
  for (const key of Object.keys(input)) expect(allowed, `${command} takes no ${key}`).toContain(key);
}

export const CONSTRAINTS: Record<string, (input: Input, context: { lambdaCompute?: boolean }) => void> = {
  GetCallerIdentityCommand(input) {
    expect(Object.keys(input)).toEqual([]);
  },
  DescribeStacksCommand(input) {
    onlyKeys(input, ['StackName', 'NextToken'], 'DescribeStacks');
    // Always named: without StackName it describes every stack of the account.
    expect(string(input.StackName, 'StackName', 1, 512)).toMatch(STACK_NAME);
  },
  GetSecretValueCommand(input) {
    onlyKeys(input, ['SecretId', 'VersionId', 'VersionStage'], 'GetSecretValue');
    string(input.SecretId, 'SecretId', 1, 2048);
  },
  GetEmailIdentityCommand(input) {
    onlyKeys(input, ['EmailIdentity'], 'GetEmailIdentity');
    string(input.EmailIdentity, 'EmailIdentity', 1);
  },
  GetAccountCommand(input) {
    expect(Object.keys(input)).toEqual([]);
  },
  ListSubscriptionsByTopicCommand(input) {
    onlyKeys(input, ['TopicArn', 'NextToken'], 'ListSubscriptionsByTopic');
    expect(string(input.TopicArn, 'TopicArn')).toMatch(SNS_TOPIC_ARN);
    if (input.NextToken !== undefined) string(input.NextToken, 'NextToken', 1);
  },
  GetServiceQuotaCommand(input) {
    onlyKeys(input, ['ServiceCode', 'QuotaCode', 'ContextId'], 'GetServiceQuota');
    expect(string(input.ServiceCode, 'ServiceCode', 1, 63)).toMatch(SERVICE_CODE);
    expect(string(input.QuotaCode, 'QuotaCode', 1, 128)).toMatch(QUOTA_CODE);
  },
  GetAWSDefaultServiceQuotaCommand(input) {
    onlyKeys(input, ['ServiceCode', 'QuotaCode'], 'GetAWSDefaultServiceQuota');
    expect(string(input.ServiceCode, 'ServiceCode', 1, 63)).toMatch(SERVICE_CODE);
    expect(string(input.QuotaCode, 'QuotaCode', 1, 128)).toMatch(QUOTA_CODE);
  },
  BatchGetProjectsCommand(input) {
    onlyKeys(input, ['names'], 'BatchGetProjects');
    const names = input.names as unknown[];
    expect(names.length).toBeGreaterThanOrEqual(1);
    expect(names.length).toBeLessThanOrEqual(100);
    for (const name of names) expect(string(name, 'project name')).toMatch(PROJECT_NAME);
  },
  StartBuildCommand(input, context) {
    onlyKeys(
      input,
      [
        'projectName',
        'environmentVariablesOverride',
        'idempotencyToken',
        'timeoutInMinutesOverride',
        'queuedTimeoutInMinutesOverride',
      ],
      'StartBuild',
    );
    expect(string(input.projectName, 'projectName')).toMatch(PROJECT_NAME);
    string(input.idempotencyToken, 'idempotencyToken', 1);
    for (const variable of input.environmentVariablesOverride as Array<Record<string, unknown>>) {
      const name = string(variable.name, 'variable name', 1);
      expect(name.startsWith('CODEBUILD_'), `${name}: CODEBUILD_ is reserved`).toBe(false);
      expect(typeof variable.value).toBe('string');
      expect(['PLAINTEXT', 'PARAMETER_STORE', 'SECRETS_MANAGER']).toContain(variable.type);
    }
    if (context.lambdaCompute) {
      // CodeBuild Lambda compute offers no build timeout: neither override may be sent.
      expect(input.timeoutInMinutesOverride).toBeUndefined();
      expect(input.queuedTimeoutInMinutesOverride).toBeUndefined();
    }
    if (input.timeoutInMinutesOverride !== undefined) {
      expect(input.timeoutInMinutesOverride).toBeGreaterThanOrEqual(5);
      expect(input.timeoutInMinutesOverride).toBeLessThanOrEqual(2160);
    }
    if (input.queuedTimeoutInMinutesOverride !== undefined) {
      expect(input.queuedTimeoutInMinutesOverride).toBeGreaterThanOrEqual(5);
      expect(input.queuedTimeoutInMinutesOverride).toBeLessThanOrEqual(480);
    }
  },
  BatchGetBuildsCommand(input) {
    onlyKeys(input, ['ids'], 'BatchGetBuilds');
    const ids = input.ids as unknown[];
    expect(ids.length).toBeGreaterThanOrEqual(1);
    expect(ids.length).toBeLessThanOrEqual(100);
    for (const id of ids) string(id, 'build id', 1);
  },
  StopBuildCommand(input) {
    onlyKeys(input, ['id'], 'StopBuild');
    string(input.id, 'build id', 1);
  },
  PutObjectCommand(input) {
    string(input.Bucket, 'Bucket', 3, 63);
    expect(Buffer.byteLength(string(input.Key, 'Key', 1))).toBeLessThanOrEqual(1024);
  },
  GetObjectCommand(input) {
    string(input.Bucket, 'Bucket', 3, 63);
    expect(Buffer.byteLength(string(input.Key, 'Key', 1))).toBeLessThanOrEqual(1024);
  },
  ListObjectVersionsCommand(input) {
    onlyKeys(input, ['Bucket', 'Prefix', 'KeyMarker', 'VersionIdMarker', 'MaxKeys'], 'ListObjectVersions');
    string(input.Bucket, 'Bucket', 3, 63);
    // Never the whole bucket: the canary deletes under its own prefixes only.
    expect(string(input.Prefix, 'Prefix', 1)).toMatch(/\/$/);
  },
  DeleteObjectsCommand(input) {
    string(input.Bucket, 'Bucket', 3, 63);
    const objects = (input.Delete as { Objects: Array<{ Key: string }> }).Objects;
    expect(objects.length).toBeGreaterThanOrEqual(1);
    expect(objects.length).toBeLessThanOrEqual(1000);
  },
};

/** Every call a set of mocks received, held against its command's constraints; an unknown command fails. */
export function assertDocumentedRequests(
  calls: Array<{ command: string; input: Input }>,
  context: { lambdaProjects?: Set<string> } = {},
): void {
  for (const call of calls) {
    const check = CONSTRAINTS[call.command];
    expect(check, `a constraint check for ${call.command}`).toBeDefined();
    check!(call.input, {
      lambdaCompute: context.lambdaProjects?.has(String(call.input.projectName ?? '')) ?? false,
    });
  }
}
