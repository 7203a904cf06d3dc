/**
 * The index's summary rows (`store/index/rows`, env-index.ts): what `list` shows of each
 * environment, in `list`'s order, so a `list` reads one file and parses only the rows it
 * shows — no JSON parse of every environment (11 M instructions at 1,000), no sort.
 *
 *   karapace-rows 2 <number of rows> <w_short_id> <w_name> <w_state> <w_backend> <w_base>
 *   <env_id> TAB <short_id> TAB <name> TAB <state> TAB <backend> TAB <base> TAB <packages> TAB <created_at>
 *   …
 *
 * One environment a line, ordered by created_at then env_id (`rowOrder`). Fields are escaped
 * in the manner of PostgreSQL's text COPY format (metadata pulled from elsewhere may hold any
 * text): `\\`, `\t`, `\n` and `\r` for a backslash, tab, line feed and carriage return, a
 * name that is not set is `\N`, and every other character a terminal would act on (the rest
 * of C0, DEL, C1, the bidi controls: what the CLI's printable() escapes) is `\xHH` or
 * `\uHHHH`. So a line without a backslash is its fields exactly, each safe to show as it
 * is: `list` reads such lines without unescaping or escaping anything. The header's widths
 * are the longest short_id, name, state, backend and base among those lines (0 when there is
 * none), so an unpaged `list` lays out its table in one pass (the few lines with a backslash
 * it finds with one search and measures itself). Version 1 had no widths.
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

const HEADER = 'karapace-rows 2';
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
  let body = '';
  const widths = [0, 0, 0, 0, 0];
  for (const r of rows) {
    const line = `${escape(r.env_id)}\t${escape(r.short_id)}\t${r.name === null ? '\\N' : escape(r.name)}\t${escape(r.state)}\t${escape(r.backend)}\t${escape(r.base)}\t${r.packages}\t${escape(r.created_at)}\n`;
    body += line;
    if (line.includes('\\')) continue;
    const shown = [r.short_id, r.name!, r.state, r.backend, r.base];
    for (let i = 0; i < 5; i++) widths[i] = Math.max(widths[i]!, shown[i]!.length);
  }
  return `${HEADER} ${rows.length} ${widths.join(' ')}\n${body}`;
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

/** Where a page of rows lies in a rows file: `from` the first row's start, `to` one past the last row's newline. */
export interface RowsSpan {
  from: number;
  to: number;
  /** How many rows the page has. */
  count: number;
  /** How many rows the file has. */
  total: number;
  /** The header's widths: the longest short_id, name, state, backend and base among the file's rows without a backslash. */
  widths: number[];
}

const NUMBER = '(0|[1-9][0-9]{0,8})';
const HEADER_LINE = new RegExp(`^karapace-rows 2 ${NUMBER} ${NUMBER} ${NUMBER} ${NUMBER} ${NUMBER} ${NUMBER}\n`);

/**
 * Where the page's rows are (found by their newlines; the rows before it are skipped, not
 * read); undefined when the text is not a rows file of this version or has fewer rows than
 * its header says. A page that is the whole file is not counted (`to` is the text's end):
 * whoever reads its rows must find exactly `count` of them.
 */
export function rowsSpan(text: string, page: RowsPage = {}): RowsSpan | undefined {
  const header = HEADER_LINE.exec(text);
  if (!header) return undefined;
  const total = Number(header[1]);
  if (!text.endsWith('\n') && total > 0) return undefined;
  const skip = Math.min(page.offset ?? 0, total);
  const take = Math.min(page.limit ?? total, total - skip);
  const widths = header.slice(2, 7).map(Number);
  let at = header[0].length;
  // The whole file: not counted here, its readers count the rows as they read them.
  if (skip === 0 && take === total) return { from: at, to: text.length, count: total, total, widths };
  for (let i = 0; i < skip; i++) {
    at = text.indexOf('\n', at) + 1;
    if (at === 0) return undefined;
  }
  let to = at;
  for (let i = 0; i < take; i++) {
    to = text.indexOf('\n', to) + 1;
    if (to === 0) return undefined;
  }
  // Every row counted: the header's number is the file's.
  if (skip + take === total && to !== text.length) return undefined;
  return { from: at, to, count: take, total, widths };
}

/**
 * The field bounds of the row that starts at `at`, for readers that show rows without making
 * a string of every field (the CLI's list table): field i is text[out[i], out[i + 1] - 1), out[8]
 * the next row's start. False when the row does not have exactly 8 fields.
 */
export function rowBounds(text: string, at: number, out: Int32Array): boolean {
  const end = text.indexOf('\n', at);
  if (end < 0) return false;
  out[0] = at;
  let p = at;
  for (let i = 1; i < FIELDS; i++) {
    const tab = text.indexOf('\t', p);
    if (tab < 0 || tab > end) return false;
    out[i] = p = tab + 1;
  }
  const extra = text.indexOf('\t', p);
  if (extra >= 0 && extra < end) return false;
  out[FIELDS] = end + 1;
  return true;
}

/** The row of the line text[start, end) (no newline); undefined when it does not read. */
export function rowAt(text: string, start: number, end: number): IndexRow | undefined {
  return parseRow(text.slice(start, end));
}

/**
 * The rows of a rows file (`page`: only those, parsed; the others skipped) and how many it
 * has; undefined when it is not a rows file of this version or a row does not read.
 */
export function parseRows(text: string, page: RowsPage = {}): { rows: IndexRow[]; total: number } | undefined {
  const span = rowsSpan(text, page);
  if (!span) return undefined;
  const rows: IndexRow[] = [];
  for (let at = span.from; at < span.to; ) {
    const end = text.indexOf('\n', at);
    if (end < 0) return undefined;
    const row = parseRow(text.slice(at, end));
    if (!row) return undefined;
    rows.push(row);
    at = end + 1;
  }
  if (rows.length !== span.count) return undefined;
  return { rows, total: span.total };
}
