/**
 * `list`'s table made straight from the index's rows file (kernel store/env-rows.ts) for
 * bundle/list.cjs: the same text as table() makes of the rows, without an object or an array
 * per row (at 1,000 rows those, and the collector moving them, cost more than Node's start).
 * The whole file is laid out in one pass, with the widths its header holds for the rows
 * without a backslash (a header that does not fit its rows falls back to measuring); a page
 * takes two, a first that finds each row's fields and measures the columns and a second that
 * writes the lines, a chunk at a time. A row with a backslash (an escape, or no name) is read whole and its
 * cells made printable as table() does; any other row's fields show as they are written
 * (the rows file escapes every character printable() would). Written for the interpreter:
 * each row is a few indexOf calls and sums (test/cli/fast-list.test.ts holds the text to the
 * full CLI's table).
 */
import { rowAt, type RowsSpan } from '@karapace/kernel';
import { printable } from './printable.js';

const HEADERS = ['SHORT_ID', 'NAME', 'STATE', 'BACKEND', 'BASE', 'PKGS'] as const;
/** Bounds kept per row: where fields 0–6 start and one past field 6's end (fields in env-rows.ts's order). */
const STEP = 8;
/** Lines per write. */
const CHUNK = 256;

/** Which rows `list.cjs` cannot show without asking a backend whether they run. */
export interface RunningCheck {
  /** Backends that mark what they start (an unmarked env of theirs is stopped). */
  marking: ReadonlySet<string>;
  /** env_ids marked in the running index. */
  marked: ReadonlySet<string>;
}

/**
 * The table's text of the rows in `span`, a chunk at a time; undefined when a row is built
 * and its backend does not mark what it starts or it is marked (a backend must be asked), or
 * a row does not read.
 */
export function rowsTable(text: string, span: RowsSpan, check: RunningCheck): Iterable<string> | undefined {
  if (span.count === span.total) {
    const whole = wholeTable(text, span, check);
    if (whole !== REMEASURE) return whole;
  }
  return pageTable(text, span, check);
}

const REMEASURE = 'remeasure';

/** The printable cells of a row with a backslash; undefined when it does not read or a backend must be asked about it. */
function escapedCells(text: string, at: number, end: number, check: RunningCheck): string[] | undefined {
  const row = rowAt(text, at, end);
  if (!row || (row.state === 'built' && (!check.marking.has(row.backend) || check.marked.has(row.env_id)))) return undefined;
  return [row.short_id, row.name ?? '-', row.state, row.backend, row.base, String(row.packages)].map((c) => printable(c));
}

/**
 * Every row of the file in one pass: the header's widths, widened by the rows with a backslash
 * (found first, with one search each); REMEASURE when a row is wider than the header says.
 */
function wholeTable(text: string, span: RowsSpan, check: RunningCheck): string[] | undefined | typeof REMEASURE {
  const escaped = new Map<number, string[]>();
  const h = span.widths;
  let w0 = Math.max(HEADERS[0].length, h[0]!), w1 = Math.max(HEADERS[1].length, h[1]!), w2 = Math.max(HEADERS[2].length, h[2]!);
  let w3 = Math.max(HEADERS[3].length, h[3]!), w4 = Math.max(HEADERS[4].length, h[4]!);
  for (let bs = text.indexOf('\\', span.from); bs >= 0; ) {
    const at = text.lastIndexOf('\n', bs) + 1;
    const end = text.indexOf('\n', bs);
    if (end < 0) return undefined;
    const cells = escapedCells(text, at, end, check);
    if (!cells) return undefined;
    escaped.set(at, cells);
    w0 = Math.max(w0, cells[0]!.length);
    w1 = Math.max(w1, cells[1]!.length);
    w2 = Math.max(w2, cells[2]!.length);
    w3 = Math.max(w3, cells[3]!.length);
    w4 = Math.max(w4, cells[4]!.length);
    bs = text.indexOf('\\', end);
  }
  w0 += 2; w1 += 2; w2 += 2; w3 += 2; w4 += 2;
  const w = [w0, w1, w2, w3, w4];
  const spaces = padding(Math.max(...w));
  const marking = [...check.marking];
  const anyMarked = check.marked.size > 0;
  const chunks: string[] = [];
  let out = headerLine(w, spaces);
  // Line starts of the rows with a backslash, in file order.
  const escapedAt = [...escaped.keys()];
  let e = 0;
  let nextEscaped = escapedAt.length > 0 ? escapedAt[0]! : -1;
  let at = span.from;
  for (let r = 0; r < span.count; r++) {
    const end = text.indexOf('\n', at);
    if (end < 0) return undefined;
    if (at === nextEscaped) {
      const cells = escaped.get(at)!;
      for (let c = 0; c < 5; c++) out += cells[c] + spaces[w[c]! - cells[c]!.length]!;
      out += `${cells[5]}\n`;
      nextEscaped = ++e < escapedAt.length ? escapedAt[e]! : -1;
    } else {
      const s1 = text.indexOf('\t', at) + 1, s2 = text.indexOf('\t', s1) + 1, s3 = text.indexOf('\t', s2) + 1, s4 = text.indexOf('\t', s3) + 1;
      const s5 = text.indexOf('\t', s4) + 1, s6 = text.indexOf('\t', s5) + 1, s7 = text.indexOf('\t', s6) + 1;
      // Seven tabs on this line (a missing one is found on a later line, or not at all: 0).
      if (s1 === 0 || s2 === 0 || s3 === 0 || s4 === 0 || s5 === 0 || s6 === 0 || s7 === 0 || s7 > end) return undefined;
      if (s4 - s3 === 6 && text.startsWith('built', s3)) {
        let known = false;
        for (let m = 0; m < marking.length && !known; m++) known = s5 - s4 - 1 === marking[m]!.length && text.startsWith(marking[m]!, s4);
        if (!known || (anyMarked && check.marked.has(text.slice(at, s1 - 1)))) return undefined;
      }
      const p0 = w0 + s1 + 1 - s2, p1 = w1 + s2 + 1 - s3, p2 = w2 + s3 + 1 - s4, p3 = w3 + s4 + 1 - s5, p4 = w4 + s5 + 1 - s6;
      if (p0 < 2 || p1 < 2 || p2 < 2 || p3 < 2 || p4 < 2) return REMEASURE;
      out += text.slice(s1, s2 - 1) + spaces[p0]! + text.slice(s2, s3 - 1) + spaces[p1]! + text.slice(s3, s4 - 1) + spaces[p2]!
        + text.slice(s4, s5 - 1) + spaces[p3]! + text.slice(s5, s6 - 1) + spaces[p4]! + text.slice(s6, s7 - 1) + '\n';
    }
    at = end + 1;
    if (r % CHUNK === CHUNK - 1) {
      chunks.push(out);
      out = '';
    }
  }
  if (at !== span.to) return undefined;
  if (out) chunks.push(out);
  return chunks;
}

function padding(max: number): string[] {
  const spaces = [''];
  for (let i = 1; i <= max; i++) spaces.push(spaces[i - 1] + ' ');
  return spaces;
}

function headerLine(w: number[], spaces: string[]): string {
  let out = '';
  for (let c = 0; c < 5; c++) out += HEADERS[c] + spaces[w[c]! - HEADERS[c]!.length]!;
  return `${out}${HEADERS[5]}\n`;
}

/** A page's table in two passes: the columns measured, then the lines written. */
function pageTable(text: string, span: RowsSpan, check: RunningCheck): Iterable<string> | undefined {
  const count = span.count;
  const bounds = new Int32Array(count * STEP);
  const escaped = new Map<number, string[]>();
  const marking = [...check.marking];
  const anyMarked = check.marked.size > 0;
  let w0 = HEADERS[0].length, w1 = HEADERS[1].length, w2 = HEADERS[2].length, w3 = HEADERS[3].length, w4 = HEADERS[4].length;
  let backslash = text.indexOf('\\', span.from);
  let at = span.from;
  for (let r = 0, b = 0; r < count; r++, b += STEP) {
    const end = text.indexOf('\n', at);
    if (end < 0) return undefined;
    bounds[b] = at;
    let p = at;
    for (let i = 1; i < STEP; i++) {
      const tab = text.indexOf('\t', p);
      if (tab < 0 || tab > end) return undefined;
      bounds[b + i] = p = tab + 1;
    }
    if (backslash >= 0 && backslash < at) backslash = text.indexOf('\\', at);
    if (backslash >= 0 && backslash < end) {
      const cells = escapedCells(text, at, end, check);
      if (!cells) return undefined;
      escaped.set(r, cells);
      w0 = Math.max(w0, cells[0]!.length);
      w1 = Math.max(w1, cells[1]!.length);
      w2 = Math.max(w2, cells[2]!.length);
      w3 = Math.max(w3, cells[3]!.length);
      w4 = Math.max(w4, cells[4]!.length);
      at = end + 1;
      continue;
    }
    const s1 = bounds[b + 1]!, s2 = bounds[b + 2]!, s3 = bounds[b + 3]!, s4 = bounds[b + 4]!, s5 = bounds[b + 5]!, s6 = bounds[b + 6]!;
    // A built row (state, field 3) is shown as it is only when its backend (field 4) marks
    // what it starts and it is not marked (env_id, field 0).
    if (s4 - s3 === 6 && text.startsWith('built', s3)) {
      let known = false;
      for (let m = 0; m < marking.length && !known; m++) known = s5 - s4 - 1 === marking[m]!.length && text.startsWith(marking[m]!, s4);
      if (!known || (anyMarked && check.marked.has(text.slice(at, s1 - 1)))) return undefined;
    }
    if (s2 - s1 - 1 > w0) w0 = s2 - s1 - 1;
    if (s3 - s2 - 1 > w1) w1 = s3 - s2 - 1;
    if (s4 - s3 - 1 > w2) w2 = s4 - s3 - 1;
    if (s5 - s4 - 1 > w3) w3 = s5 - s4 - 1;
    if (s6 - s5 - 1 > w4) w4 = s6 - s5 - 1;
    at = end + 1;
  }
  if (at !== span.to) return undefined;
  return lines(text, count, bounds, escaped, [w0 + 2, w1 + 2, w2 + 2, w3 + 2, w4 + 2]);
}

/** The lines, each column padded to its width and the two spaces after it (the last column unpadded). */
function* lines(text: string, count: number, bounds: Int32Array, escaped: Map<number, string[]>, w: number[]): Iterable<string> {
  const spaces = padding(Math.max(...w));
  const [w0, w1, w2, w3, w4] = w as [number, number, number, number, number];
  let out = headerLine(w, spaces);
  for (let r = 0, b = 0; r < count; r++, b += STEP) {
    const cells = escaped.size > 0 ? escaped.get(r) : undefined;
    if (cells) {
      for (let c = 0; c < 5; c++) out += cells[c] + spaces[w[c]! - cells[c]!.length]!;
      out += `${cells[5]}\n`;
    } else {
      const s1 = bounds[b + 1]!, s2 = bounds[b + 2]!, s3 = bounds[b + 3]!, s4 = bounds[b + 4]!, s5 = bounds[b + 5]!, s6 = bounds[b + 6]!, s7 = bounds[b + 7]!;
      out += text.slice(s1, s2 - 1) + spaces[w0 + s1 + 1 - s2]! + text.slice(s2, s3 - 1) + spaces[w1 + s2 + 1 - s3]! + text.slice(s3, s4 - 1) + spaces[w2 + s3 + 1 - s4]!
        + text.slice(s4, s5 - 1) + spaces[w3 + s4 + 1 - s5]! + text.slice(s5, s6 - 1) + spaces[w4 + s5 + 1 - s6]! + text.slice(s6, s7 - 1) + '\n';
    }
    if (r % CHUNK === CHUNK - 1) {
      yield out;
      out = '';
    }
  }
  if (out) yield out;
}
