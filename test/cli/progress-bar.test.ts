import test from 'ava';
import { Writable } from 'node:stream';
import { ProgressRenderer, renderLine, type TaskState } from '../../cli/dist/progress-bar.js';

const MiB = 1024 * 1024;
/** 40 of 100 MiB after 4 s: 10 MiB/s, 6 s left. */
function bytesTask(label: string): TaskState {
  return { label, unit: 'bytes', total: 100 * MiB, done: 40 * MiB, startedAt: 0 };
}
const NOW = 4000;
const LONG = 'Downloading debian/bookworm base image layer sha256:0123456789abcdef';

test('at 120 columns a long label, a 30-wide bar, amounts, rate and ETA all fit', (t) => {
  const line = renderLine(bytesTask('Downloading debian/bookworm'), NOW, 120);
  t.is(line, 'Downloading debian/bookworm [############------------------]   40%  40 MiB/100 MiB  10 MiB/s  ETA 00:06');
  t.true(line.length <= 119);
  const long = renderLine(bytesTask(LONG), NOW, 120);
  t.true(long.length <= 119, long);
  t.regex(long, /… \[#+-+\]   40%  40 MiB\/100 MiB  10 MiB\/s  ETA 00:06$/);
});

test('at 80 columns the ETA survives a long label: the label is shortened with an ellipsis first', (t) => {
  for (const label of ['Installing packages (apt)', LONG]) {
    const line = renderLine(bytesTask(label), NOW, 80);
    t.true(line.length <= 79, line);
    t.regex(line, /  10 MiB\/s  ETA 00:06$/, line);
  }
  t.is(renderLine(bytesTask('Installing packages (apt)'), NOW, 80), 'Installing packages (a… [####------]   40%  40 MiB/100 MiB  10 MiB/s  ETA 00:06');
  t.is(renderLine(bytesTask(LONG), NOW, 80), 'Downloading debian/boo… [####------]   40%  40 MiB/100 MiB  10 MiB/s  ETA 00:06');
  t.is(renderLine(bytesTask('Fetch'), NOW, 80), 'Fetch [###########-----------------]   40%  40 MiB/100 MiB  10 MiB/s  ETA 00:06');
});

test('at 40 columns the ETA goes, then the rate, then the bar; the label keeps at least 12 characters', (t) => {
  const line = renderLine(bytesTask(LONG), NOW, 40);
  t.true(line.length <= 39, line);
  t.notRegex(line, /ETA/);
  // Not even a 10-wide bar fits next to a 12-character label: it goes last.
  t.is(line, 'Downloading debia…  40%  40 MiB/100 MiB');
  // With a short label the bar (10 wide at least) still does not fit beside the amounts.
  t.is(renderLine(bytesTask('Fetch'), NOW, 40), 'Fetch  40%  40 MiB/100 MiB');
  // Between 40 and 80 columns the bar comes back before the rate, the rate before the ETA.
  t.is(renderLine(bytesTask('Fetch'), NOW, 50), 'Fetch [########-----------]   40%  40 MiB/100 MiB');
  t.is(renderLine(bytesTask('Fetch'), NOW, 60), 'Fetch [########-----------]   40%  40 MiB/100 MiB  10 MiB/s');
  t.is(renderLine(bytesTask(LONG), NOW, 60), 'Downloading d… [####------]   40%  40 MiB/100 MiB  10 MiB/s');
});

test('tasks without a total: label, amount, rate and elapsed time, shortened the same way', (t) => {
  const task: TaskState = { label: LONG, unit: 'bytes', done: 40 * MiB, startedAt: 0 };
  t.regex(renderLine(task, NOW, 120), /^Downloading debian\/bookworm base image layer sha256:0123456789abcdef 40 MiB  10 MiB\/s  00:04$/);
  for (const width of [40, 80]) {
    const line = renderLine(task, NOW, width);
    t.true(line.length <= width - 1, line);
    t.regex(line, /… 40 MiB/);
  }
  const items: TaskState = { label: 'Unpacking', unit: 'items', total: 4, done: 1, startedAt: 0 };
  t.is(renderLine(items, NOW, 80), 'Unpacking [########----------------------]   25%  1/4  ETA 00:12');
  t.is(renderLine(items, NOW, 40), 'Unpacking [####------------]   25%  1/4');
});

test('0 or unknown columns draw like 80; tiny widths never overflow', (t) => {
  const at80 = renderLine(bytesTask(LONG), NOW, 80);
  t.is(renderLine(bytesTask(LONG), NOW, 0), at80);
  t.is(renderLine(bytesTask(LONG), NOW, undefined), at80);
  for (const width of [1, 2, 5, 12, 20, 25, 33, 41, 59]) {
    const line = renderLine(bytesTask(LONG), NOW, width);
    t.true(line.length <= Math.max(width - 1, 1), `${width}: ${line}`);
  }
});

test('the renderer uses the stream\'s columns, and 80 when a pty reports 0', (t) => {
  const lines: string[] = [];
  const out = Object.assign(new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } }), { columns: 0 });
  let now = 0;
  const r = new ProgressRenderer(out, true, () => now);
  r.handle({ kind: 'start', task: 'a', label: LONG, total: 100 * MiB, unit: 'bytes' });
  now = NOW;
  r.handle({ kind: 'advance', task: 'a', done: 40 * MiB });
  const drawn = lines.at(-1)!.replace('\r\x1b[2K', '');
  t.is(drawn, renderLine(bytesTask(LONG), NOW, 80));
  t.regex(drawn, /ETA 00:06$/);
});

test('off a TTY: a line per new stage or tenth of the total, not per event', (t) => {
  let text = '';
  const out = new Writable({ write(c, _e, cb) { text += c; cb(); } });
  const r = new ProgressRenderer(out, false, () => 0);
  r.handle({ kind: 'start', task: 'i', label: 'installing 1 package(s) with apt', total: 100, unit: 'items' });
  for (const [done, stage] of [[0, 'downloading packages'], [3, 'downloading packages'], [12, 'downloading packages'], [14, 'downloading packages'], [50, 'installing packages'], [55, 'installing packages'], [100, 'cleaning caches']] as const) {
    r.handle({ kind: 'advance', task: 'i', done, total: 100, stage });
  }
  t.deepEqual(text.trim().split('\n'), [
    'installing 1 package(s) with apt…',
    'installing 1 package(s) with apt: 0% downloading packages',
    'installing 1 package(s) with apt: 12% downloading packages',
    'installing 1 package(s) with apt: 50% installing packages',
    'installing 1 package(s) with apt: 100% cleaning caches',
  ]);
  text = '';
  r.handle({ kind: 'start', task: 'b', label: 'bootstrapping debian/bookworm with mmdebstrap', total: 7, unit: 'items' });
  r.handle({ kind: 'advance', task: 'b', done: 3, total: 7, stage: 'extracting archives' });
  r.handle({ kind: 'advance', task: 'b', done: 3, total: 7, stage: 'extracting archives' });
  t.deepEqual(text.trim().split('\n'), ['bootstrapping debian/bookworm with mmdebstrap…', 'bootstrapping debian/bookworm with mmdebstrap: [3/7] extracting archives']);
});
