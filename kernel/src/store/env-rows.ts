/**
 * The index's summary rows (`store/index/rows`, env-index.ts): what `list` shows of each
 * environment, in `list`'s order, so a `list` reads one file and parses only the rows it
 * shows — no JSON parse of every environment (11 M instructions at 1,000), no sort.
 *
 *   karapace-rows 1
 *   <env_id> TAB <short_id> TAB <name> TAB <state> TAB <backend> TAB <base> TAB <packages> TAB <created_at>
 *   …
 *
 * One environment a line, ordered by created_at then env_id (`rowOrder`). Fields are escaped
 * in the manner of PostgreSQL's text COPY format (metadata pulled from elsewhere may hold any
 * text): `\\`, `\t`, `\n` and `\r` for a backslash, tab, line feed and carriage return, a
 * name that is not set is `\N`, and every other character a terminal would act on (the rest
 * of C0, DEL, C1, the bidi controls: what the CLI's printable() escapes) is `\xHH` or
 * `\uHHHH`. So a line without a backslash is its fields exactly, each safe to show as it
 * is: `list` reads such lines without unescaping or escaping anything.
 * test/kernel/store/env-rows.test.ts holds a golden file and the escapes to printable().
 */
import type { EnvState } from './metadata.js';

export interface IndexRow {
  env_id: string;
  short_id: string;
  name: string | null;
  state: EnvState;
  backend: string;
  base: string;
  packages: number;
  created_at: string;
}

/** Which rows to read: `offset` rows skipped, then at most `limit` (all when absent). */
export interface RowsPage {
  offset?: number;
  limit?: number;
}

const HEADER = 'karapace-rows 1';
const FIELDS = 8;
const DIGITS = /^[0-9]{1,15}$/;
const SPECIAL = /[\\\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const SPECIAL_ALL = new RegExp(SPECIAL.source, 'g');
const NAMED: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const UNNAMED: Record<string, string> = { '\\': '\\', t: '\t', n: '\n', r: '\r' };
const HEX2 = /^[0-9a-f]{2}$/;
const HEX4 = /^[0-9a-f]{4}$/;

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  return NAMED[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
}

/** `list`'s order: oldest first, env_id between equals. */
export function rowOrder(a: IndexRow, b: IndexRow): number {
  return a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.env_id < b.env_id ? -1 : a.env_id > b.env_id ? 1 : 0;
}

function escape(value: string): string {
  return SPECIAL.test(value) ? value.replace(SPECIAL_ALL, escapeChar) : value;
}

/** One field back from its escaped form; undefined for a backslash that escapes nothing. */
function unescape(field: string): string | undefined {
  let out = '';
  for (let i = 0; i < field.length; i++) {
    const c = field[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const kind = field[++i] ?? '';
    const named = UNNAMED[kind];
    if (named !== undefined) {
      out += named;
      continue;
    }
    const digits = kind === 'x' ? 2 : kind === 'u' ? 4 : 0;
    const hex = field.slice(i + 1, i + 1 + digits);
    if (!digits || !(digits === 2 ? HEX2 : HEX4).test(hex)) return undefined;
    out += String.fromCharCode(parseInt(hex, 16));
    i += digits;
  }
  return out;
}

/** The rows file for rows already in `list`'s order. */
export function formatRows(rows: readonly IndexRow[]): string {
  let out = `${HEADER}\n`;
  for (const r of rows) {
    out += `${escape(r.env_id)}\t${escape(r.short_id)}\t${r.name === null ? '\\N' : escape(r.name)}\t${escape(r.state)}\t${escape(r.backend)}\t${escape(r.base)}\t${r.packages}\t${escape(r.created_at)}\n`;
  }
  return out;
}

function parseRow(line: string): IndexRow | undefined {
  const f = line.split('\t');
  if (f.length !== FIELDS) return undefined;
  const unnamed = f[2] === '\\N';
  // Only a line with a backslash has escapes (or the unset name).
  if (line.includes('\\')) {
    for (let i = 0; i < FIELDS; i++) {
      if (i === 2 && unnamed) continue;
      const v = unescape(f[i]!);
      if (v === undefined) return undefined;
      f[i] = v;
    }
  }
  if (!DIGITS.test(f[6]!)) return undefined;
  const packages = Number(f[6]);
  return { env_id: f[0]!, short_id: f[1]!, name: unnamed ? null : f[2]!, state: f[3] as EnvState, backend: f[4]!, base: f[5]!, packages, created_at: f[7]! };
}

/**
 * The rows of a rows file (`page`: only those, parsed; the others only counted) and how many
 * it has; undefined when it is not a rows file of this version or a row does not read.
 */
export function parseRows(text: string, page: RowsPage = {}): { rows: IndexRow[]; total: number } | undefined {
  if (!text.startsWith(`${HEADER}\n`)) return undefined;
  const lines = text.split('\n');
  // The header first, an empty string after the last line's newline.
  if (lines.pop() !== '') return undefined;
  const total = lines.length - 1;
  const from = 1 + Math.min(page.offset ?? 0, total);
  const to = page.limit === undefined ? lines.length : Math.min(lines.length, from + page.limit);
  const rows: IndexRow[] = [];
  for (let i = from; i < to; i++) {
    const row = parseRow(lines[i]!);
    if (!row) return undefined;
    rows.push(row);
  }
  return { rows, total };
}
