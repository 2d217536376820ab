/**
 * The canary's Terraform root: one `terraform_data` resource (built into terraform, so nothing to
 * download but terraform itself, and nothing created outside its own state), packed the way the
 * pipeline stores a commit: a gzipped tar with one top-level directory, which the build runner strips.
 */
import { gzipSync } from 'node:zlib';

export const CANARY_DIRECTORY = 'tfgate-canary';

export function canaryMainTf(runId: string): string {
  return [
    '# tfgate doctor --canary: one terraform_data resource. It creates nothing outside this state, and the',
    '# doctor deletes the state, the plan and this source when it is done.',
    'terraform {',
    '  required_version = ">= 1.4.0"',
    '}',
    '',
    'resource "terraform_data" "canary" {',
    `  input = "${runId}"`,
    '}',
    '',
    'output "canary" {',
    '  value = terraform_data.canary.output',
    '}',
    '',
  ].join('\n');
}

const BLOCK = 512;

function octal(value: number, width: number): string {
  // width - 1 digits and a NUL, as ustar numeric fields are written.
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** A ustar header (POSIX.1-1988); names here are short ASCII, so no prefix field or extensions are needed. */
function header(name: string, size: number, type: '0' | '5', mode: number, mtime: number): Buffer {
  if (Buffer.byteLength(name) > 99 || !/^[\x20-\x7e]+$/.test(name)) throw new Error(`tar: unsupported name ${name}`);
  const block = Buffer.alloc(BLOCK, 0);
  block.write(name, 0, 'ascii');
  block.write(octal(mode, 8), 100, 'ascii');
  block.write(octal(0, 8), 108, 'ascii');
  block.write(octal(0, 8), 116, 'ascii');
  block.write(octal(size, 12), 124, 'ascii');
  block.write(octal(mtime, 12), 136, 'ascii');
  block.write(' '.repeat(8), 148, 'ascii');
  block.write(type, 156, 'ascii');
  block.write('ustar\0', 257, 'ascii');
  block.write('00', 263, 'ascii');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return block;
}

function padded(content: Buffer): Buffer {
  const rest = content.length % BLOCK;
  return rest === 0 ? content : Buffer.concat([content, Buffer.alloc(BLOCK - rest, 0)]);
}

/** `tfgate-canary/main.tf` as a .tar.gz (the layout of a GitHub archive: one directory on top). */
export function canaryArchive(runId: string, mtime = 0): Buffer {
  const main = Buffer.from(canaryMainTf(runId), 'utf8');
  const tar = Buffer.concat([
    header(`${CANARY_DIRECTORY}/`, 0, '5', 0o755, mtime),
    header(`${CANARY_DIRECTORY}/main.tf`, main.length, '0', 0o644, mtime),
    padded(main),
    Buffer.alloc(BLOCK * 2, 0),
  ]);
  return gzipSync(tar);
}
