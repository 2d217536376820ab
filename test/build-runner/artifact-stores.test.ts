import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  artifactStoreFromLocation,
  parseS3Location,
  S3ArtifactStore,
} from '../../src/adapters/aws/s3-artifact-store.js';
import { assertArtifactKey, FsArtifactStore, InvalidArtifactKeyError } from '../../src/adapters/fs/artifact-store.js';

const HOSTILE_KEYS = [
  '',
  '../outside',
  'runs/../../outside',
  'runs/./x',
  '/etc/passwd',
  'C:/windows',
  'runs\\..\\x',
  'runs//x',
  'runs/x/',
  'a\u0000b',
  'a\nb',
];

describe('assertArtifactKey', () => {
  it.each(HOSTILE_KEYS)('refuses %j', (key) => {
    expect(() => assertArtifactKey(key)).toThrow(InvalidArtifactKeyError);
  });

  it('accepts a plain relative key', () => {
    expect(() => assertArtifactKey('runs/0f8b/ops/plan-result.json')).not.toThrow();
  });
});

describe('FsArtifactStore', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'tfgate-artifacts-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('stores and reads back bytes under nested keys, leaving no temporary files', async () => {
    const store = new FsArtifactStore(path.join(root, 'store'));
    const bytes = Buffer.from([0, 1, 2, 255]);
    await store.put('runs/r1/ops/tfplan', bytes);
    await store.put('runs/r1/ops/plan.txt', 'hello');
    await store.put('runs/r1/ops/plan.txt', 'replaced');
    expect(await store.get('runs/r1/ops/tfplan')).toEqual(bytes);
    expect((await store.get('runs/r1/ops/plan.txt'))?.toString()).toBe('replaced');
    expect((await readdir(path.join(root, 'store/runs/r1/ops'))).sort()).toEqual(['plan.txt', 'tfplan']);
  });

  it('returns undefined for a missing key', async () => {
    expect(await new FsArtifactStore(root).get('runs/none/ops/tfplan')).toBeUndefined();
  });

  it.each(HOSTILE_KEYS)('refuses to write or read %j', async (key) => {
    const store = new FsArtifactStore(path.join(root, 'store'));
    await expect(store.put(key, 'x')).rejects.toThrow(InvalidArtifactKeyError);
    await expect(store.get(key)).rejects.toThrow(InvalidArtifactKeyError);
    expect(await readdir(root)).toEqual([]);
  });

  it('never writes outside its root', async () => {
    const store = new FsArtifactStore(path.join(root, 'store'));
    await expect(store.put('../escaped', 'x')).rejects.toThrow();
    await expect(readFile(path.join(root, 'escaped'))).rejects.toThrow(/ENOENT/);
  });
});

describe('S3ArtifactStore', () => {
  const s3 = mockClient(S3Client);
  afterEach(() => s3.reset());

  it('parses s3://bucket/prefix', () => {
    expect(parseS3Location('s3://tfgate-artifacts/builds/')).toEqual({ bucket: 'tfgate-artifacts', prefix: 'builds' });
    expect(parseS3Location('s3://tfgate-artifacts')).toEqual({ bucket: 'tfgate-artifacts', prefix: '' });
    expect(() => parseS3Location('s3://Bad_Bucket/x')).toThrow(/bucket/);
    expect(() => parseS3Location('s3://bucket/../x')).toThrow(InvalidArtifactKeyError);
    expect(() => parseS3Location('https://bucket/x')).toThrow(/s3:\/\//);
  });

  it('puts and gets objects under the prefix', async () => {
    s3.on(PutObjectCommand).resolves({});
    s3.on(GetObjectCommand, { Bucket: 'b-1', Key: 'pre/runs/r/ops/tfplan' }).resolves({
      Body: { transformToByteArray: async () => new Uint8Array([7, 8]) } as never,
    });
    const store = new S3ArtifactStore(new S3Client({ region: 'eu-west-1' }), { bucket: 'b-1', prefix: 'pre' });
    await store.put('runs/r/ops/plan.txt', 'text', 'text/plain');
    expect(s3.commandCalls(PutObjectCommand)[0]!.args[0].input).toMatchObject({
      Bucket: 'b-1',
      Key: 'pre/runs/r/ops/plan.txt',
      Body: 'text',
      ContentType: 'text/plain',
    });
    expect(await store.get('runs/r/ops/tfplan')).toEqual(Buffer.from([7, 8]));
  });

  it('returns undefined for a missing object and rethrows other errors', async () => {
    const store = new S3ArtifactStore(new S3Client({ region: 'eu-west-1' }), { bucket: 'b-1', prefix: '' });
    s3.on(GetObjectCommand, { Key: 'missing' }).rejects(new NoSuchKey({ message: 'gone', $metadata: {} }));
    s3.on(GetObjectCommand, { Key: 'denied' }).rejects(
      Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }),
    );
    expect(await store.get('missing')).toBeUndefined();
    await expect(store.get('denied')).rejects.toThrow(/Access Denied/);
  });

  it('refuses hostile keys before calling S3', async () => {
    const store = new S3ArtifactStore(new S3Client({ region: 'eu-west-1' }), { bucket: 'b-1', prefix: 'pre' });
    await expect(store.put('../x', 'y')).rejects.toThrow(InvalidArtifactKeyError);
    expect(s3.calls()).toHaveLength(0);
  });
});

describe('artifactStoreFromLocation', () => {
  it('chooses by the s3:// prefix', () => {
    expect(
      artifactStoreFromLocation('s3://bucket-a/x', { s3Client: new S3Client({ region: 'eu-west-1' }) }),
    ).toBeInstanceOf(S3ArtifactStore);
    const local = artifactStoreFromLocation('relative/dir', { cwd: '/srv/tfgate' });
    expect(local).toBeInstanceOf(FsArtifactStore);
    expect((local as FsArtifactStore).root).toBe('/srv/tfgate/relative/dir');
    expect(() => artifactStoreFromLocation('gs://bucket/x')).toThrow(/unsupported/);
  });
});
