/**
 * Key files (the format of desktop entries) read as GLib's GKeyFile reads them
 * (glib/gkeyfile.c: g_key_file_parse_line and friends), so what we take from an entry is what
 * a desktop would have run; and written back from parsed values only.
 *
 * GLib's rules that matter here: leading whitespace before a key, a group or a comment is
 * skipped; whitespace around `=` is dropped; a repeated group continues the first one; a
 * repeated key replaces the earlier value (last one wins); `Key[locale]` is a key of its own;
 * a line that is no comment, group or key, a key before any group, or a malformed key or
 * group name makes the whole file unreadable. Values are unescaped on read (`\s \n \t \r \\`;
 * any other escape makes the value unreadable) and lists split on unescaped `;`.
 */

export class KeyFileError extends Error {}

/** Groups in order of first appearance; each maps a key (with its `[locale]`) to its raw value. */
export type KeyFile = Map<string, Map<string, string>>;

const ASCII_SPACE = /^[ \t\n\v\f\r]+/;

export function parseKeyFile(text: string): KeyFile {
  if (text.includes('\0')) throw new KeyFileError('it contains a NUL byte');
  const groups: KeyFile = new Map();
  let current: Map<string, string> | undefined;
  let startGroup: string | undefined;
  let currentName: string | undefined;
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const [i, raw] of lines.entries()) {
    const line = (raw.endsWith('\r') ? raw.slice(0, -1) : raw).replace(ASCII_SPACE, '');
    const where = `line ${i + 1}`;
    if (line === '' || line.startsWith('#')) continue;
    if (isGroupLine(line)) {
      const name = line.slice(1, line.lastIndexOf(']'));
      if (!isGroupName(name)) throw new KeyFileError(`${where}: invalid group name`);
      current = groups.get(name) ?? new Map();
      groups.set(name, current);
      currentName = name;
      startGroup ??= name;
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new KeyFileError(`${where}: not a key-value pair, group, or comment`);
    if (!current) throw new KeyFileError(`${where}: a key before the first group`);
    const key = line.slice(0, eq).replace(/[ \t\n\v\f\r]+$/, '');
    if (!isKeyName(key)) throw new KeyFileError(`${where}: invalid key name`);
    const value = line.slice(eq + 1).replace(ASCII_SPACE, '');
    if (key === 'Encoding' && currentName === startGroup && value.toLowerCase() !== 'utf-8') throw new KeyFileError(`${where}: unsupported encoding`);
    current.set(key, value);
  }
  return groups;
}

/** `[name]` with only spaces or tabs after the first `]`. */
function isGroupLine(line: string): boolean {
  if (!line.startsWith('[')) return false;
  const close = line.indexOf(']');
  return close > 0 && /^[ \t]*$/.test(line.slice(close + 1));
}

function isGroupName(name: string): boolean {
  return name.length > 0 && !/[[\]\x00-\x1f\x7f]/.test(name);
}

function isKeyName(key: string): boolean {
  const m = /^([^=[\]]+)(?:\[([\p{L}\p{N}\-_.@]*)\])?$/u.exec(key);
  return !!m && !m[1]!.startsWith(' ') && !m[1]!.endsWith(' ');
}

/** A value as a string, or undefined when GLib could not read it. */
export function unescapeValue(raw: string): string | undefined {
  const parts = unescape(raw, false);
  return parts?.[0];
}

/** A value as a list split on unescaped `;` (a trailing `;` ends the list), or undefined when unreadable. */
export function unescapeList(raw: string): string[] | undefined {
  return unescape(raw, true);
}

function unescape(raw: string, list: boolean): string[] | undefined {
  const out: string[] = [];
  let piece = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '\\') {
      const next = raw[++i];
      if (next === 's') piece += ' ';
      else if (next === 'n') piece += '\n';
      else if (next === 't') piece += '\t';
      else if (next === 'r') piece += '\r';
      else if (next === '\\') piece += '\\';
      else if (list && next === ';') piece += ';';
      else return undefined; // an invalid escape, or one at the end of the line
    } else if (list && c === ';') {
      out.push(piece);
      piece = '';
    } else piece += c;
  }
  if (!list || piece !== '') out.push(piece);
  return out;
}

/** Escapes a string for a value (GLib's g_key_file_parse_string_as_value); `;` too when it is a list item. */
export function escapeValue(value: string, listItem = false): string {
  let out = '';
  let leading = true;
  for (const c of value) {
    if (c === ' ' && leading) out += '\\s';
    else if (c === '\t' && leading) out += '\\t';
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\\') out += '\\\\';
    else if (c === ';' && listItem) out += '\\;';
    else out += c;
    if (c !== ' ' && c !== '\t') leading = false;
  }
  return out;
}

/** Writes groups of already-escaped values. Keys and group names come from the caller's own vocabulary. */
export function serializeKeyFile(groups: [string, [string, string][]][]): string {
  return groups.map(([name, entries]) => [`[${name}]`, ...entries.map(([k, v]) => `${k}=${v}`)].join('\n')).join('\n\n') + '\n';
}
