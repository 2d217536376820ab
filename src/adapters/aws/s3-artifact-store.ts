/**
 * The AWS ArtifactStore: one object per key under `s3://bucket/prefix`. Encryption at rest is the
 * bucket's default (SSE-KMS or SSE-S3, set by the CDK stack), so nothing here names a key.
 */
import type { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { ArtifactStore, ArtifactWriteOptions } from '../../domain/ports.js';
import { ArtifactExistsError, assertArtifactKey } from '../../domain/artifact-keys.js';
import { directoryArtifactStore } from '../fs/artifact-store.js';
import { InvalidArtifactLocationError, parseS3Location, type S3Location } from './s3-location.js';

// Kept importable from here; the parsing lives in s3-location.ts so reading a location loads no S3 client.
export { InvalidArtifactLocationError, parseS3Location, type S3Location };

/** S3's smallest part (5 MiB is the minimum for every part but the last); two parts in flight. */
const PART_BYTES = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT = 2;

export class S3ArtifactStore implements ArtifactStore {
  constructor(
    private readonly client: S3Client,
    private readonly location: S3Location,
  ) {}

  async put(key: string, body: Buffer | string, contentType?: string, options?: ArtifactWriteOptions): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.location.bucket,
          Key: this.objectKey(key),
          Body: body,
          ContentType: contentType ?? 'application/octet-stream',
          // S3's conditional write: never replaces an object (412 when one exists).
          ...(options?.createOnly ? { IfNoneMatch: '*' } : {}),
        }),
      );
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (options?.createOnly && status === 412) throw new ArtifactExistsError(`artifact ${key} already exists`);
      throw error;
    }
  }

  /**
   * A multipart upload as the stream arrives: at most PART_BYTES × PARTS_IN_FLIGHT held at once, whatever
   * the stream's length (a repository archive can be hundreds of megabytes; the function has 512 MB).
   */
  async putStream(key: string, body: NodeJS.ReadableStream, contentType?: string): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.location.bucket,
        Key: this.objectKey(key),
        Body: body as Readable,
        ContentType: contentType ?? 'application/octet-stream',
      },
      partSize: PART_BYTES,
      queueSize: PARTS_IN_FLIGHT,
      // A failed upload leaves no parts behind (the bucket's lifecycle rule is the second net).
      leavePartsOnError: false,
    });
    await upload.done();
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key) }),
      );
      if (!response.Body) return Buffer.alloc(0);
      return Buffer.from(await response.Body.transformToByteArray());
    } catch (error) {
      if (isMissingObject(error)) return undefined;
      throw error;
    }
  }

  private objectKey(key: string): string {
    assertArtifactKey(key);
    return this.location.prefix === '' ? key : `${this.location.prefix}/${key}`;
  }
}

function isMissingObject(error: unknown): boolean {
  const candidate = error as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return (
    candidate?.name === 'NoSuchKey' || candidate?.name === 'NotFound' || candidate?.$metadata?.httpStatusCode === 404
  );
}

/**
 * TFGATE_ARTIFACTS is either `s3://bucket/prefix` (AWS) or a directory (local): the same build runner
 * and pipeline code read and write artifacts through whichever this returns.
 */
export function artifactStoreFromLocation(
  location: string,
  options: { s3Client?: S3Client; cwd?: string } = {},
): ArtifactStore {
  if (location.startsWith('s3://'))
    return new S3ArtifactStore(options.s3Client ?? new S3Client({}), parseS3Location(location));
  return directoryArtifactStore(location, options.cwd);
}
