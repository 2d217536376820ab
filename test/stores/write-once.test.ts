/**
 * Stage artifacts are written once: S3 gets If-None-Match: * (the build roles may write no other way, so
 * no build replaces another run's tfplan or plan text), and the local store refuses an existing key alike.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { S3ArtifactStore } from '../../src/adapters/aws/s3-artifact-store.js';
import { FsArtifactStore } from '../../src/adapters/fs/artifact-store.js';
import { ArtifactExistsError } from '../../src/domain/artifact-keys.js';

const KEY = 'runs/run-1/ops/plan/tfplan';

describe('write-once artifacts', () => {
  const s3 = mockClient(S3Client);
  let dir: string | undefined;
  afterEach(async () => {
    s3.reset();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('S3: a create-only put carries If-None-Match: *, and 412 becomes ArtifactExistsError', async () => {
    const store = new S3ArtifactStore(new S3Client({}), { bucket: 'artifacts-bucket', prefix: 'artifacts' });
    s3.on(PutObjectCommand)
      .resolvesOnce({})
      .rejects(
        new S3ServiceException({
          name: 'PreconditionFailed',
          $fault: 'client',
          $metadata: { httpStatusCode: 412 },
          message: 'At least one of the pre-conditions you specified did not hold',
        }),
      );
    await store.put(KEY, 'plan', 'application/octet-stream', { createOnly: true });
    await expect(store.put(KEY, 'other', undefined, { createOnly: true })).rejects.toBeInstanceOf(ArtifactExistsError);
    const inputs = s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input);
    expect(inputs[0]).toMatchObject({ Bucket: 'artifacts-bucket', Key: `artifacts/${KEY}`, IfNoneMatch: '*' });
    s3.reset();
    s3.on(PutObjectCommand).resolves({});
    await store.put('views/run-1/ops/plan/plan-view.json', '{}');
    expect(s3.commandCalls(PutObjectCommand)[0]!.args[0].input.IfNoneMatch).toBeUndefined();
  });

  it('locally: a create-only put of an existing key is refused and leaves the first content', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'tfgate-write-once-'));
    const store = new FsArtifactStore(dir);
    await store.put(KEY, 'first', undefined, { createOnly: true });
    await expect(store.put(KEY, 'second', undefined, { createOnly: true })).rejects.toBeInstanceOf(ArtifactExistsError);
    expect(await readFile(store.pathFor(KEY), 'utf8')).toBe('first');
    await store.put(KEY, 'replaced');
    expect(await readFile(store.pathFor(KEY), 'utf8')).toBe('replaced');
  });
});
