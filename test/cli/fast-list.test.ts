/**
 * `list` through bundle/list.cjs (cli/src/fast-list.ts): from the index alone when nothing
 * needs asking, with exactly the full CLI's output (text, --json, pages, hostile metadata,
 * errors; the one pass over every row with the rows file's widths, and the fallback when they
 * do not fit), and handed to exec.cjs — which asks the backends — when something might run.
 */
import test from 'ava';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEngine, readMetadata, storeLayout, writeMetadata } from '@karapace/kernel';
import { MARKING_BACKENDS } from '../../cli/dist/marking-backends.js';
import { CLI_BUILTINS } from '../../cli/dist/builtins.js';
import { runBundled, sandbox } from '../helpers/cli.js';
import { buildMock } from './helpers.js';

test('MARKING_BACKENDS are the built-in backends that mark what they start', async (t) => {
  const box = sandbox('kp-fast-list-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  const engine = await createEngine({ cwd: box.dir, store: box.store, globalConfigDir: join(box.dir, 'config-home'), builtins: CLI_BUILTINS });
  await engine.loadBuiltins();
  t.true(engine.kernel.backends.length >= 3);
  for (const backend of engine.kernel.backends) t.is(engine.kernel.marksRunning(backend), MARKING_BACKENDS.has(backend), backend);
  for (const backend of MARKING_BACKENDS) t.true(engine.kernel.backends.includes(backend), backend);
});

const caches = (dir: string) => (existsSync(join(dir, 'cache/karapace')) ? readdirSync(join(dir, 'cache/karapace')).map((f) => f.split('-')[0]) : []);

test('list.cjs answers from the index with the full CLI\'s output, and hands over what it cannot answer', async (t) => {
  const box = sandbox('kp-fast-list-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  const a = await buildMock(box, 'a', 'alpha');
  const b = await buildMock(box, 'b', 'beta');
  const c = await buildMock(box, 'c', 'gamma');
  // Metadata as a remote could have sent it: control characters in a name and a base.
  const layout = storeLayout(box.store);
  const meta = (await readMetadata(layout, b.env_id))!;
  await writeMetadata(layout, { ...meta, name: 'evil\x1b[2J\u202e', base: { ...meta.base, reference: 'x\ty\nz\\w\u009b' } });
  // A state other than built (the mock backend cannot freeze; the state is what list shows).
  await writeMetadata(layout, { ...(await readMetadata(layout, c.env_id))!, state: 'frozen' });
  // Text a terminal shows as it is, wider in UTF-8 than in the UTF-16 units a column counts (a surrogate pair is two).
  const metaA = (await readMetadata(layout, a.env_id))!;
  await writeMetadata(layout, { ...metaA, base: { ...metaA.base, reference: 'café/日本/\u{1d11e}-longest-plain-base' } });

  // A store without a running index: the first list looks at every env (exec.cjs, the backends).
  const first = await runBundled(box, ['list']);
  t.is(first.code, 0, first.stderr);
  t.true(caches(box.dir).includes('exec'), 'handed over');
  t.true(existsSync(join(box.store, 'running')));

  for (const args of [['list'], ['ls', '--json'], ['list', '--limit', '2'], ['--json', 'list', '--offset', '1', '--limit', '1'], ['list', '--offset', '1'],
    ['list', '--limit', '3'], ['list', '--offset', '0'], ['list', '--offset', '9'], ['list', '--offset', '9', '--json'], ['list', '--limit', '0'], ['list', '--offset=-1'], ['list', '--limit', 'x', '--json']]) {
    rmSync(join(box.dir, 'cache'), { recursive: true, force: true });
    const fast = await runBundled(box, args);
    const full = await box.run(args);
    t.deepEqual(fast, full, args.join(' '));
    // Answered by list.cjs alone unless the page was refused (exec.cjs reports it, as the full CLI does).
    t.deepEqual(caches(box.dir), fast.code === 0 ? ['list'] : ['exec', 'list'], args.join(' '));
  }
  const text = (await runBundled(box, ['list'])).stdout;
  t.regex(text, /evil\\x1b\[2J\\u202e/);
  t.regex(text, /x\\ty\\nz\\w\\u009b/);
  t.regex(text, /gamma +frozen/);
  t.is(text.trimEnd().split('\n').length, 4);
  t.regex(text, /café\/日本\/\u{1d11e}-longest-plain-base  /u);
  // The rows file's header holds the widths of the rows without a backslash (alpha's and gamma's);
  // a header narrower than its rows is not believed: the columns are measured, the text is the same.
  const rowsFile = join(box.store, 'store/index/rows');
  const rows = readFileSync(rowsFile, 'utf8');
  t.regex(rows, /^karapace-rows 2 3 12 5 6 4 29\n/);
  writeFileSync(rowsFile, rows.replace(/^karapace-rows 2 3 [0-9 ]+\n/, 'karapace-rows 2 3 0 0 0 0 0\n'));
  rmSync(join(box.dir, 'cache'), { recursive: true, force: true });
  t.is((await runBundled(box, ['list'])).stdout, text);
  t.deepEqual(caches(box.dir), ['list']);
  writeFileSync(rowsFile, rows);
  const page = await runBundled(box, ['list', '--limit', '1']);
  t.is(page.stderr, 'environments 1–1 of 3; the next page: --offset 1\n');
  const json = JSON.parse((await runBundled(box, ['list', '--json', '--offset', '1'])).stdout);
  t.is(json.total, 3);
  t.is(json.offset, 1);
  t.is(json.environments[0].name, 'evil\x1b[2J\u202e');
  t.is(json.environments[0].base, 'x\ty\nz\\w\u009b');

  // -v shows the engine's work: the full path.
  rmSync(join(box.dir, 'cache'), { recursive: true, force: true });
  t.regex((await runBundled(box, ['list', '-v'])).stderr, /plugins: karapace:core, runtime-mock\n/);
  // An index made stale behind karapace's back: exec.cjs rebuilds it, with the same rows.
  rmSync(join(box.store, 'store/index/stamp'));
  rmSync(join(box.dir, 'cache'), { recursive: true, force: true });
  t.is((await runBundled(box, ['list'])).stdout, text);
  t.true(caches(box.dir).includes('exec'));
});
