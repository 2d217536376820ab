/**
 * The build runner's view of the stack's state bucket: apply records of one root, and the empty state a
 * plan writes for a workspace that does not exist yet (never over an existing object).
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  APPLIED_RECORD_NAME,
  type AppliedRecord,
  type AppliedRecords,
  appliedRecordKey,
  parseAppliedRecord,
  rootKeyOf,
  STATE_ENVIRONMENTS_PREFIX,
} from '../../build-runner/managed-state.js';
import type { StateBucketAccess } from '../../build-runner/runner.js';

export function s3StateBucketAccess(client: S3Client, bucket: string): StateBucketAccess {
  return {
    records: (repository, directory) => new S3AppliedRecords(client, bucket, repository, directory),
    createIfAbsent: (key, body) => createIfAbsent(client, bucket, key, body),
    async exists(key) {
      try {
        await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return true;
      } catch (error) {
        // HEAD answers 404 (NotFound) for a missing key; with s3:ListBucket, never 403 for one.
        if (isMissing(error) || (error as { name?: string }).name === 'NotFound') return false;
        throw error;
      }
    },
    async releaseStaleLock(key) {
      let body: string;
      try {
        const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        body = answer.Body ? await answer.Body.transformToString() : '';
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw error;
      }
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      return body;
    },
  };
}

class S3AppliedRecords implements AppliedRecords {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly repository: string,
    private readonly directory: string,
  ) {}

  async get(environment: string): Promise<AppliedRecord | undefined> {
    const key = appliedRecordKey(environment, this.repository, this.directory);
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return parseAppliedRecord(answer.Body ? Buffer.from(await answer.Body.transformToByteArray()) : undefined);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async put(record: AppliedRecord): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: appliedRecordKey(record.environment, this.repository, this.directory),
        Body: `${JSON.stringify(record, null, 2)}\n`,
        ContentType: 'application/json',
      }),
    );
  }

  async environments(): Promise<string[]> {
    const suffix = `/${rootKeyOf(this.repository, this.directory)}/${APPLIED_RECORD_NAME}`;
    const found: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: `${STATE_ENVIRONMENTS_PREFIX}/`,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const object of page.Contents ?? []) {
        const key = object.Key ?? '';
        if (!key.endsWith(suffix)) continue;
        const environment = key.slice(STATE_ENVIRONMENTS_PREFIX.length + 1, key.length - suffix.length);
        if (environment && !environment.includes('/')) found.push(environment);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return found;
  }

  describe(environment: string): string {
    return `s3://${this.bucket}/${appliedRecordKey(environment, this.repository, this.directory)}`;
  }
}

/** Writes `body` at `key` only if no object is there; `exists` when one is (S3 answers 412). */
async function createIfAbsent(
  client: S3Client,
  bucket: string,
  key: string,
  body: string,
): Promise<'created' | 'exists'> {
  try {
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json', IfNoneMatch: '*' }),
    );
    return 'created';
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    // 412: an object exists; 409: a concurrent conditional write won the race. Either way a state is there.
    if (status === 412 || status === 409 || (error as Error).name === 'PreconditionFailed') return 'exists';
    throw error;
  }
}

function isMissing(error: unknown): boolean {
  const candidate = error as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return candidate?.name === 'NoSuchKey' || candidate?.$metadata?.httpStatusCode === 404;
}
