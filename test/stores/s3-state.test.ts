/**
 * The build runner's own calls to the state bucket (terraform's S3 backend makes the rest), held against
 * S3's documented answers: HeadObject answers 404 NotFound for a missing key when the caller may list the
 * bucket (403 otherwise, which is an error here, never "absent"); a create-only PutObject carries
 * If-None-Match: * and answers 412 (or 409 for a racing conditional write) when an object is there.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { s3StateBucketAccess } from '../../src/adapters/aws/s3-state.js';

const BUCKET = 'tfgate-state-1';
const KEY = 'env/ops/acme/infrastructure/root/terraform.tfstate';

function s3Error(name: string, status: number): S3ServiceException {
  return new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message: name });
}

describe('the state bucket as the build runner reaches it', () => {
  const s3 = mockClient(S3Client);
  const access = () => s3StateBucketAccess(new S3Client({}), BUCKET);
  afterEach(() => s3.reset());

  it('exists: a HeadObject of the key; 404 is absent, 403 is an error', async () => {
    s3.on(HeadObjectCommand).resolvesOnce({}).rejectsOnce(s3Error('NotFound', 404)).rejects(s3Error('Forbidden', 403));
    expect(await access().exists(KEY)).toBe(true);
    expect(await access().exists(KEY)).toBe(false);
    await expect(access().exists(KEY)).rejects.toThrow('Forbidden');
    for (const call of s3.commandCalls(HeadObjectCommand))
      expect(call.args[0].input).toEqual({ Bucket: BUCKET, Key: KEY });
  });

  it('createIfAbsent: a create-only put; 412 and 409 mean a state is there, other errors stay errors', async () => {
    s3.on(PutObjectCommand)
      .resolvesOnce({})
      .rejectsOnce(s3Error('PreconditionFailed', 412))
      .rejectsOnce(s3Error('ConditionalRequestConflict', 409))
      .rejects(s3Error('AccessDenied', 403));
    expect(await access().createIfAbsent(KEY, '{}')).toBe('created');
    expect(await access().createIfAbsent(KEY, '{}')).toBe('exists');
    expect(await access().createIfAbsent(KEY, '{}')).toBe('exists');
    await expect(access().createIfAbsent(KEY, '{}')).rejects.toThrow('AccessDenied');
    expect(s3.commandCalls(PutObjectCommand)[0]!.args[0].input).toMatchObject({
      Bucket: BUCKET,
      Key: KEY,
      Body: '{}',
      IfNoneMatch: '*',
    });
  });

  it('releaseStaleLock: reads what the lock file said, then deletes it; nothing when there is none', async () => {
    // What the SDK hands back as a body: a stream with its transform helpers.
    const body = { transformToString: async () => '{"ID":"lock-1","Who":"build"}' } as never;
    s3.on(GetObjectCommand).resolvesOnce({ Body: body }).rejects(s3Error('NoSuchKey', 404));
    s3.on(DeleteObjectCommand).resolves({});
    expect(await access().releaseStaleLock(`${KEY}.tflock`)).toBe('{"ID":"lock-1","Who":"build"}');
    expect(s3.commandCalls(DeleteObjectCommand).map((call) => call.args[0].input)).toEqual([
      { Bucket: BUCKET, Key: `${KEY}.tflock` },
    ]);
    expect(await access().releaseStaleLock(`${KEY}.tflock`)).toBeUndefined();
    expect(s3.commandCalls(DeleteObjectCommand)).toHaveLength(1);
  });
});
