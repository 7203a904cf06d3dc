/** Text from metadata (names, references, labels — possibly pulled from a remote) made safe to show on a terminal. */

/**
 * Shows terminal control characters as escapes: C0 (with `\n` and `\t` kept when
 * `keepNewlines`, for whole texts; formatters pass single values without it, so a value stays on its
 * line), DEL, C1 (U+0080–U+009F: U+009B is a CSI in some terminals) and the bidi controls
 * that reorder what is shown.
 */
export function printable(text: string, keepNewlines = false): string {
  return text.replace(keepNewlines ? CONTROL_BUT_NEWLINE : CONTROL, escapeChar);
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const CONTROL_BUT_NEWLINE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  return NAMED[c] ?? (code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
}

/** JSON escapes C0 itself; the rest of `printable`'s set is escaped too (only strings can hold it, so the JSON stays valid). */
export function jsonText(data: unknown, indent?: number): string {
  return JSON.stringify(data, null, indent).replace(/[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
