/**
 * The index's rows file (kernel/src/store/env-rows.ts): a golden file makes a change of
 * format visible; any text round-trips (metadata pulled from elsewhere may hold control
 * characters, tabs, newlines, backslashes); a page parses only its rows; anything that is
 * not a rows file of this version is refused, so the index is rebuilt instead of believed.
 */
import test from 'ava';
import { formatRows, parseRows, rowOrder, rowsSpan, type IndexRow } from '../../../kernel/dist/store/env-rows.js';
import { printable } from '../../../cli/dist/printable.js';

const row = (n: number, extra: Partial<IndexRow> = {}): IndexRow => {
  const env_id = `${n}`.repeat(64).slice(0, 64);
  return { env_id, short_id: env_id.slice(0, 12), name: `env-${n}`, state: 'built', backend: 'mock', base: 'mock:test', packages: n, created_at: `2026-12-08T00:00:0${n}.000Z`, ...extra };
};

const ROWS: IndexRow[] = [
  row(1),
  row(2, { name: null, state: 'frozen', backend: 'namespace', base: 'debian/bookworm' }),
  row(3, { name: 'evil\\N', base: 'a\tb\nc\rd\\e\x1b[2J\u009b\u202e', packages: 0, state: 'archived' }),
];

const GOLDEN = [
  // Widths: the longest short_id, name, state, backend and base among the lines without a backslash (here the first).
  'karapace-rows 2 3 12 5 5 4 9',
  '1111111111111111111111111111111111111111111111111111111111111111\t111111111111\tenv-1\tbuilt\tmock\tmock:test\t1\t2026-12-08T00:00:01.000Z',
  '2222222222222222222222222222222222222222222222222222222222222222\t222222222222\t\\N\tfrozen\tnamespace\tdebian/bookworm\t2\t2026-12-08T00:00:02.000Z',
  '3333333333333333333333333333333333333333333333333333333333333333\t333333333333\tevil\\\\N\tarchived\tmock\ta\\tb\\nc\\rd\\\\e\\x1b[2J\\x9b\\u202e\t0\t2026-12-08T00:00:03.000Z',
  '',
].join('\n');

test('rows are written as the golden file and read back exactly', (t) => {
  t.is(formatRows(ROWS), GOLDEN);
  t.deepEqual(parseRows(GOLDEN), { rows: ROWS, total: 3 });
  t.deepEqual(parseRows('karapace-rows 2 0 0 0 0 0 0\n'), { rows: [], total: 0 });
  t.is(formatRows([]), 'karapace-rows 2 0 0 0 0 0 0\n');
});

test('the header\'s widths are the longest fields of the lines without a backslash', (t) => {
  const rows = [row(1, { name: 'a-much-longer-name', base: 'b' }), row(2, { name: 'x', state: 'archived', backend: 'namespace' }),
    row(3, { name: 'hostile-and-longest\x1b', base: 'the-longest-base-of-all\\' }), row(4, { name: null, base: 'also-longer-than-any-plain-base' })];
  const text = formatRows(rows);
  t.true(text.startsWith('karapace-rows 2 4 12 18 8 9 9\n'), text.split('\n')[0]);
  t.deepEqual(rowsSpan(text)?.widths, [12, 18, 8, 9, 9]);
  t.deepEqual(rowsSpan(text, { offset: 1, limit: 1 })?.widths, [12, 18, 8, 9, 9]);
});

test('every character printable() would change is escaped, so a line without a backslash shows as it is', (t) => {
  for (let c = 0; c < 0x10000; c++) {
    const ch = String.fromCharCode(c);
    if (c >= 0xd800 && c <= 0xdfff) continue;
    const text = formatRows([row(1, { base: `x${ch}y` })]);
    const line = text.split('\n')[1]!;
    if (printable(ch) !== ch || ch === '\t' || ch === '\n') t.true(line.includes('\\'), `U+${c.toString(16)} is escaped`);
    t.is(parseRows(text)!.rows[0]!.base, `x${ch}y`, `U+${c.toString(16)} round-trips`);
  }
});

test('a page parses only its rows and counts them all', (t) => {
  const many = Array.from({ length: 9 }, (_, i) => row(i + 1));
  const text = formatRows(many);
  t.deepEqual(parseRows(text, { offset: 2, limit: 3 }), { rows: many.slice(2, 5), total: 9 });
  t.deepEqual(parseRows(text, { limit: 1 }), { rows: many.slice(0, 1), total: 9 });
  t.deepEqual(parseRows(text, { offset: 7 }), { rows: many.slice(7), total: 9 });
  t.deepEqual(parseRows(text, { offset: 50, limit: 5 }), { rows: [], total: 9 });
  // Rows outside the page are not parsed: a broken one there does not spoil the page.
  t.deepEqual(parseRows(`${text}garbage\n`, { limit: 2 })?.rows, many.slice(0, 2));
});

test('list order is oldest first, then env_id', (t) => {
  const a = row(1, { created_at: '2026-01-01T00:00:00.000Z' });
  const b = row(2, { created_at: '2026-01-01T00:00:00.000Z' });
  const c = row(3, { created_at: '2025-01-01T00:00:00.000Z' });
  t.deepEqual([a, b, c].sort(rowOrder), [c, a, b]);
});

test('anything else is not a rows file: undefined, never a wrong row', (t) => {
  const line = GOLDEN.split('\n')[1]!;
  const h = (n: number) => `karapace-rows 2 ${n} 12 5 5 4 9`;
  for (const bad of [
    '', '[]', 'karapace-rows 3 0 0 0 0 0 0\n', 'karapace-rows 2\n', 'karapace-rows 2 00 0 0 0 0 0\n', 'karapace-rows 2 0 0 0 0 0 0', `${h(1)}\n${line}`, // no final newline
    'karapace-rows 2 0\n', 'karapace-rows 2 0 0 0 0 0\n', 'karapace-rows 2 0 0 0 0 0 -1\n', 'karapace-rows 2 0 0 0 0 0 0 0\n', // widths: five
    `karapace-rows 1 1\n${line}\n`, // version 1: no widths
    `${h(2)}\n${line}\n`, `${h(0)}\n${line}\n`, `${h(0)}\n${line}`, `${h(1)}\n${line}\n${line}\n`, // a count that is not the file's
    `${h(1)}\n${line}\textra\n`, `${h(1)}\n${line.split('\t').slice(0, 7).join('\t')}\n`,
    `${h(1)}\n${line.replace('mock:test', 'bad\\qescape')}\n`, `${h(1)}\n${line.replace('mock:test', 'trailing\\')}\n`,
    `${h(1)}\n${line.replace('\t1\t', '\t-1\t')}\n`, `${h(1)}\n${line.replace('\t1\t', '\t\t')}\n`, `${h(1)}\n${line.replace('\t1\t', '\t0x1\t')}\n`,
  ]) {
    t.is(parseRows(bad), undefined, JSON.stringify(bad));
  }
});
