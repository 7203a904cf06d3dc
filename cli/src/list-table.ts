/**
 * `list`'s table made straight from the index's rows file (kernel store/env-rows.ts) for
 * bundle/list.cjs: the same text as table() makes of the rows, without an object or an array
 * per row (at 1,000 rows those, and the collector moving them, cost more than Node's start).
 * A first pass finds each row's fields and measures the columns; the second writes the lines,
 * a chunk at a time. A row with a backslash (an escape, or no name) is read whole and its
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
      const row = rowAt(text, at, end);
      if (!row || (row.state === 'built' && (!check.marking.has(row.backend) || check.marked.has(row.env_id)))) return undefined;
      const cells = [row.short_id, row.name ?? '-', row.state, row.backend, row.base, String(row.packages)].map((c) => printable(c));
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
  return lines(text, count, bounds, escaped, [w0 + 2, w1 + 2, w2 + 2, w3 + 2, w4 + 2]);
}

/** The lines, each column padded to its width and the two spaces after it (the last column unpadded). */
function* lines(text: string, count: number, bounds: Int32Array, escaped: Map<number, string[]>, w: number[]): Iterable<string> {
  const spaces = [''];
  for (let i = 1; i <= Math.max(...w); i++) spaces.push(spaces[i - 1] + ' ');
  const [w0, w1, w2, w3, w4] = w as [number, number, number, number, number];
  let out = '';
  for (let c = 0; c < 5; c++) out += HEADERS[c] + spaces[w[c]! - HEADERS[c]!.length]!;
  out += `${HEADERS[5]}\n`;
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
