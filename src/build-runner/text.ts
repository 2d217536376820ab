/** Text handling for what terraform and git print: cleaning it, finding the error in it, quoting paths for HCL. */

// One sanitiser for everything tfgate stores or shows: core/domain/sanitize.ts.
export { stripTerminalEscapes } from '../domain/sanitize.js';

export const MAX_ERROR_BYTES = 4096;

// With -no-color terraform prints "Error: summary"; with colour (user wrappers, tofu) it prints the
// same inside a box drawn with "│".
const ERROR_LINE = /^(?:[│|]\s*)?Error: /;

/**
 * The part of a failed command's output a person needs: from the first `Error:` line to the end, cut
 * to about 4 KB at a line boundary. Without an `Error:` line, the last lines of stderr.
 */
export function extractTerraformError(stderr: string, combined: string): string | undefined {
  for (const source of [stderr, combined]) {
    const lines = source.split('\n');
    const start = lines.findIndex((line) => ERROR_LINE.test(line));
    if (start >= 0) return boundHead(trimBlankLines(lines.slice(start)).join('\n'));
  }
  const tail = trimBlankLines(stderr.split('\n')).join('\n');
  return tail === '' ? undefined : boundTail(tail);
}

function trimBlankLines(lines: string[]): string[] {
  let start = 0;
  let end = lines.length;
  while (start < end && lines[start]!.trim() === '') start += 1;
  while (end > start && lines[end - 1]!.trim() === '') end -= 1;
  return lines.slice(start, end);
}

function boundHead(text: string): string {
  if (Buffer.byteLength(text) <= MAX_ERROR_BYTES) return text;
  const marker = '\n[… more output in the log]';
  const lines = text.split('\n');
  const kept: string[] = [];
  let size = Buffer.byteLength(marker);
  for (const line of lines) {
    const lineSize = Buffer.byteLength(line) + 1;
    if (size + lineSize > MAX_ERROR_BYTES) break;
    kept.push(line);
    size += lineSize;
  }
  // A single enormous first line still deserves to be seen, cut by characters.
  if (kept.length === 0) kept.push(cutToBytes(lines[0] ?? '', MAX_ERROR_BYTES - Buffer.byteLength(marker)));
  return kept.join('\n') + marker;
}

function boundTail(text: string): string {
  if (Buffer.byteLength(text) <= MAX_ERROR_BYTES) return text;
  const marker = '[… earlier output in the log]\n';
  const lines = text.split('\n');
  const kept: string[] = [];
  let size = Buffer.byteLength(marker);
  for (let index = lines.length - 1; index >= 0; index -= 1) {
    const lineSize = Buffer.byteLength(lines[index]!) + 1;
    if (size + lineSize > MAX_ERROR_BYTES) break;
    kept.unshift(lines[index]!);
    size += lineSize;
  }
  if (kept.length === 0)
    kept.push(
      cutToBytes((lines[lines.length - 1] ?? '').slice(-MAX_ERROR_BYTES), MAX_ERROR_BYTES - Buffer.byteLength(marker)),
    );
  return marker + kept.join('\n');
}

function cutToBytes(text: string, maxBytes: number): string {
  let result = '';
  let size = 0;
  for (const character of text) {
    const characterSize = Buffer.byteLength(character);
    if (size + characterSize > maxBytes) break;
    result += character;
    size += characterSize;
  }
  return result;
}

/**
 * A quoted HCL string whose value is exactly `value`: quotes and backslashes escaped, and template
 * sequences (`${`, `%{`) doubled so a path can never become an interpolation.
 */
export function hclString(value: string): string {
  let escaped = '';
  for (const character of value) {
    const code = character.codePointAt(0)!;
    if (character === '\\') escaped += '\\\\';
    else if (character === '"') escaped += '\\"';
    else if (character === '\n') escaped += '\\n';
    else if (character === '\r') escaped += '\\r';
    else if (character === '\t') escaped += '\\t';
    else if (code < 0x20 || code === 0x7f) escaped += `\\u${code.toString(16).padStart(4, '0')}`;
    else escaped += character;
  }
  // Replacement functions, not strings: in a replacement string "$$" means one "$".
  return `"${escaped.replace(/\$\{/g, () => '$${').replace(/%\{/g, () => '%%{')}"`;
}
