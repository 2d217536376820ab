/**
 * The one sanitiser for text tfgate did not write (terraform and git output, commit messages, author
 * names, approval reasons, errors): what it returns holds no sequence a terminal, a browser's text or
 * a mail client would act on. The build runner stores output through it; pages, mails, Slack, the pull
 * request comment and the console show data through it.
 */

// OSC (title changes, hyperlinks) ends with BEL or ST, or runs to the end of the text when unterminated;
// CSI (colours, cursor moves) ends with a final byte in @-~; the remaining escapes are ESC plus
// intermediates plus one final byte, or a lone ESC.
const OSC = /\u001b\][\s\S]*?(?:\u0007|\u001b\\|$)/g;
const CSI = /(?:\u001b\[|\u009b)[0-?]*[ -/]*[@-~]/g;
const OTHER_ESCAPE = /\u001b[ -/]*[0-~]?/g;
// What is left that a terminal would act on: C0 controls other than tab and newline, DEL, C1 controls.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** No escape sequences, no carriage-return overprinting; tab and newline stay. */
export function stripTerminalEscapes(text: string): string {
  return text.replace(/\r\n/g, '\n').replace(OSC, '').replace(CSI, '').replace(OTHER_ESCAPE, '').replace(CONTROL, '');
}
