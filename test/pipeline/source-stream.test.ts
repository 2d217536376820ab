/**
 * PrepareSource in AWS streams the repository archive from GitHub to S3 (a multipart upload, hashed on
 * the way): the pipeline function never holds the archive, so its memory does not grow with the
 * repository. A large stream is produced lazily here, and the test checks the upload took it in parts
 * while it was being produced, never whole.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { createPipelineTasks } from '../../lambdas/stage-tasks/handler.js';
import { S3ArtifactStore } from '../../src/adapters/aws/s3-artifact-store.js';
import type { EnvironmentLocks } from '../../src/domain/locks.js';
import type { TaskCallbacks } from '../../src/domain/ports.js';
import { MemoryApprovalStore, MemoryRunStore } from '../support/memory-stores.js';

const SHA = 'c'.repeat(40);
const CHUNK = 1024 * 1024;
const TOTAL_CHUNKS = 48;
const noCallbacks: TaskCallbacks = {
  sendTaskSuccess: async () => ({ delivered: true }),
  sendTaskFailure: async () => ({ delivered: true }),
};

/** 48 MiB of archive, made one MiB at a time only when asked for; records how far ahead of the upload it got. */
function lazyArchive(progress: { produced: number; uploaded: number; mostAhead: number }): Readable {
  let index = 0;
  return new Readable({
    highWaterMark: CHUNK,
    read() {
      if (index === TOTAL_CHUNKS) return void this.push(null);
      const chunk = Buffer.alloc(CHUNK, index % 251);
      index += 1;
      progress.produced += chunk.length;
      progress.mostAhead = Math.max(progress.mostAhead, progress.produced - progress.uploaded);
      this.push(chunk);
    },
  });
}

function expectedSha256(): string {
  const hash = createHash('sha256');
  for (let i = 0; i < TOTAL_CHUNKS; i++) hash.update(Buffer.alloc(CHUNK, i % 251));
  return hash.digest('hex');
}

describe('PrepareSource streams the archive to S3', () => {
  const s3 = mockClient(S3Client);
  afterEach(() => s3.reset());

  it('uploads it in parts as it arrives, hashes it on the way, and never buffers it whole', async () => {
    const progress = { produced: 0, uploaded: 0, mostAhead: 0 };
    s3.on(GetObjectCommand).rejects(Object.assign(new Error('missing'), { name: 'NoSuchKey' }));
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
    s3.on(UploadPartCommand).callsFake(async (input: { Body: Uint8Array | Buffer; PartNumber: number }) => {
      progress.uploaded += Buffer.byteLength(input.Body as Buffer);
      return { ETag: `"part-${input.PartNumber}"` };
    });
    s3.on(CompleteMultipartUploadCommand).resolves({});
    s3.on(PutObjectCommand).resolves({});
    const tasks = createPipelineTasks({
      runs: new MemoryRunStore(),
      approvals: new MemoryApprovalStore(),
      locks: {} as EnvironmentLocks,
      callbacks: noCallbacks,
      artifacts: new S3ArtifactStore(new S3Client({}), { bucket: 'artifacts-bucket', prefix: 'artifacts' }),
      sources: {
        archive: async () => {
          throw new Error('the buffered path must not be used in AWS');
        },
        archiveStream: async () => lazyArchive(progress),
      },
    });

    const prepared = (await tasks({
      action: 'prepareSource',
      runId: 'run-1',
      repository: 'acme/infra',
      sha: SHA,
    })) as { key: string; sha256: string };

    expect(prepared).toEqual({ key: `sources/acme/infra/${SHA}.tar.gz`, sha256: expectedSha256() });
    const create = s3.commandCalls(CreateMultipartUploadCommand);
    expect(create).toHaveLength(1);
    expect(create[0]!.args[0].input).toMatchObject({
      Bucket: 'artifacts-bucket',
      Key: `artifacts/sources/acme/infra/${SHA}.tar.gz`,
      ContentType: 'application/gzip',
    });
    const parts = s3.commandCalls(UploadPartCommand).map((c) => c.args[0].input);
    expect(parts.length).toBeGreaterThanOrEqual(TOTAL_CHUNKS / 8);
    // S3: every part but the last at least 5 MiB, part numbers 1..10000 in order.
    for (const [i, part] of parts.entries()) {
      expect(part.PartNumber).toBe(i + 1);
      if (i < parts.length - 1) expect(Buffer.byteLength(part.Body as Buffer)).toBeGreaterThanOrEqual(5 * CHUNK);
    }
    expect(progress.uploaded).toBe(TOTAL_CHUNKS * CHUNK);
    // Streamed: the producer was never more than a few parts ahead of what S3 had taken.
    expect(progress.mostAhead).toBeLessThan(32 * CHUNK);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(1);
    // The archive itself is never one PutObject; only its small sha256 file is.
    const puts = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => p.Key)).toEqual([`artifacts/sources/acme/infra/${SHA}.tar.gz.sha256`]);
    expect(String(puts[0]!.Body)).toBe(`${expectedSha256()}\n`);
  });

  it('an archive already stored is not fetched again: its recorded sha256 is used', async () => {
    const sha256 = 'd'.repeat(64);
    s3.on(GetObjectCommand, { Key: `artifacts/sources/acme/infra/${SHA}.tar.gz.sha256` }).resolves({
      Body: { transformToByteArray: async () => new TextEncoder().encode(`${sha256}\n`) } as never,
    });
    let fetched = false;
    const tasks = createPipelineTasks({
      runs: new MemoryRunStore(),
      approvals: new MemoryApprovalStore(),
      locks: {} as EnvironmentLocks,
      callbacks: noCallbacks,
      artifacts: new S3ArtifactStore(new S3Client({}), { bucket: 'artifacts-bucket', prefix: 'artifacts' }),
      sources: {
        archive: async () => Buffer.alloc(0),
        archiveStream: async () => {
          fetched = true;
          return Readable.from([]);
        },
      },
    });
    expect(await tasks({ action: 'prepareSource', runId: 'run-1', repository: 'acme/infra', sha: SHA })).toEqual({
      key: `sources/acme/infra/${SHA}.tar.gz`,
      sha256,
    });
    expect(fetched).toBe(false);
    expect(s3.commandCalls(CreateMultipartUploadCommand)).toHaveLength(0);
  });
});
