import { assertArtifactKey, InvalidArtifactLocationError } from '../../domain/artifact-keys.js';

/**
 * `s3://bucket/prefix` locations, parsed without the S3 client: the Lambda entries check ARTIFACTS_BUCKET
 * at cold start, and a function that never touches S3 must not load the client to do it.
 */

export { InvalidArtifactLocationError };

export interface S3Location {
  bucket: string;
  /** Without leading or trailing slashes; '' for the bucket's root. */
  prefix: string;
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function parseS3Location(location: string): S3Location {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(location);
  if (!match) throw new InvalidArtifactLocationError(`not an s3:// location: ${JSON.stringify(location)}`);
  const bucket = match[1]!;
  if (!BUCKET_NAME.test(bucket) || bucket.includes('..')) {
    throw new InvalidArtifactLocationError(`not a valid S3 bucket name: ${JSON.stringify(bucket)}`);
  }
  const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix !== '') assertArtifactKey(prefix);
  return { bucket, prefix };
}

/** ARTIFACTS_BUCKET is a bucket name; an `s3://bucket/prefix` location is accepted too. */
export function artifactLocation(value: string): S3Location {
  return parseS3Location(value.startsWith('s3://') ? value : `s3://${value}`);
}
