import { describe, expect, it } from 'vitest';
import {
  extractTerraformError,
  hclString,
  MAX_ERROR_BYTES,
  stripTerminalEscapes,
} from '../../src/build-runner/text.js';

describe('stripTerminalEscapes', () => {
  it('removes colours, cursor moves, titles, hyperlinks and stray controls, keeping the text', () => {
    const text =
      '\u001b[1m\u001b[31mError:\u001b[0m ' +
      'bad\r\n\u001b]0;title\u0007\u001b]8;;https://x\u001b\\link\u001b]8;;\u001b\\ ' +
      '\u001b[2Kdone\u0007\u0008\tok\u009b31m!\n';
    expect(stripTerminalEscapes(text)).toBe('Error: bad\nlink done\tok!\n');
  });

  it('leaves ordinary text, including non-ASCII, alone', () => {
    expect(stripTerminalEscapes('Plan: 1 to add — ✓ ünïcode\n')).toBe('Plan: 1 to add — ✓ ünïcode\n');
  });
});

describe('extractTerraformError', () => {
  it('keeps the Error: blocks and what follows, dropping what came before', () => {
    const stderr = [
      'Warning: something',
      '',
      '',
      'Error: Saved plan is stale',
      '',
      'The given plan file can no longer be applied.',
      '',
    ].join('\n');
    expect(extractTerraformError(stderr, '')).toBe(
      'Error: Saved plan is stale\n\nThe given plan file can no longer be applied.',
    );
  });

  it('finds boxed errors too', () => {
    expect(extractTerraformError('╷\n│ Error: Invalid reference\n│ \n│ A reference...\n╵\n', '')).toBe(
      '│ Error: Invalid reference\n│ \n│ A reference...\n╵',
    );
  });

  it('falls back to the combined output, then to the end of stderr', () => {
    expect(extractTerraformError('', 'noise\nError: in stdout\nmore')).toBe('Error: in stdout\nmore');
    expect(extractTerraformError('fatal: not our ref\n', '')).toBe('fatal: not our ref');
    expect(extractTerraformError('', 'no error here')).toBeUndefined();
  });

  it('bounds the text to about 4 KB at a line boundary', () => {
    const stderr = `Error: first\n${'x'.repeat(100)}\n`.repeat(200);
    const error = extractTerraformError(stderr, '')!;
    expect(Buffer.byteLength(error)).toBeLessThanOrEqual(MAX_ERROR_BYTES);
    expect(error.startsWith('Error: first\n')).toBe(true);
    expect(error).toMatch(/more output in the log\]$/);
    const tail = extractTerraformError(`${`${'y'.repeat(50)}\n`.repeat(500)}fatal: the end\n`, '')!;
    expect(Buffer.byteLength(tail)).toBeLessThanOrEqual(MAX_ERROR_BYTES);
    expect(tail.endsWith('fatal: the end')).toBe(true);
  });

  it('bounds a single enormous line', () => {
    expect(Buffer.byteLength(extractTerraformError(`Error: ${'z'.repeat(10_000)}`, '')!)).toBeLessThanOrEqual(
      MAX_ERROR_BYTES,
    );
    expect(Buffer.byteLength(extractTerraformError('é'.repeat(10_000), '')!)).toBeLessThanOrEqual(MAX_ERROR_BYTES);
  });
});

describe('hclString', () => {
  it('quotes paths so they can never become templates or break out of the string', () => {
    expect(hclString('/data/state')).toBe('"/data/state"');
    expect(hclString('/a "b"\\c')).toBe('"/a \\"b\\"\\\\c"');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Terraform template the quoting must neutralise, not JS.
    expect(hclString('/x/${file("/etc/passwd")}/%{if true}')).toBe('"/x/$${file(\\"/etc/passwd\\")}/%%{if true}"');
    expect(hclString('a\nb\u0001')).toBe('"a\\nb\\u0001"');
  });
});
