import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readMetadata, storeLayout, writeMetadata } from '@karapace/kernel';
import { runBundled, sandbox } from '../helpers/cli.js';
import { buildMock } from './helpers.js';

// An ESC sequence (clear screen, set the window title), a C1 CSI, a bidi override and a newline that would fake a line.
const HOSTILE_NAME = 'evil\x1b[2J\x1b]0;pwned\x07\u009b31m\u202Egnp.exe';
const HOSTILE_REF = 'debian/bookworm\nstate:      frozen\x1b[1A';

async function hostileEnv() {
  const b = sandbox('kp-hostile-out-');
  const env = await buildMock(b, 'h', 'plain');
  // Metadata as a remote could have sent it before pull rebuilt it from verified fields.
  const layout = storeLayout(b.store);
  const meta = (await readMetadata(layout, env.env_id))!;
  await writeMetadata(layout, { ...meta, name: HOSTILE_NAME, base: { ...meta.base, reference: HOSTILE_REF } });
  return { b, env };
}

const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]/;

test('list and inspect show control characters from metadata as escapes, one value per line', async (t) => {
  const { b, env } = await hostileEnv();
  const list = await b.run(['list']);
  t.is(list.code, 0, list.stderr);
  t.notRegex(list.stdout, RAW_CONTROL);
  t.true(list.stdout.includes('evil\\x1b[2J\\x1b]0;pwned\\x07\\u009b31m\\u202egnp.exe'), list.stdout);
  t.true(list.stdout.includes('debian/bookworm\\nstate:      frozen\\x1b[1A'));
  t.is(list.stdout.trimEnd().split('\n').length, 2, 'the header and one row');

  const inspect = await b.run(['inspect', env.short_id]);
  t.is(inspect.code, 0, inspect.stderr);
  t.notRegex(inspect.stdout, RAW_CONTROL);
  const lines = inspect.stdout.trimEnd().split('\n');
  t.is(lines.filter((l) => l.startsWith('state:')).length, 1, 'no faked line');
  t.true(lines.includes('name:       evil\\x1b[2J\\x1b]0;pwned\\x07\\u009b31m\\u202egnp.exe'), inspect.stdout);
  t.regex(lines.find((l) => l.startsWith('base:'))!, /^base: {7}debian\/bookworm\\nstate: {6}frozen\\x1b\[1A \(/);

  // A file name from inside the environment: one diff line, escaped.
  const touch = await b.run(['exec', env.short_id, '--', 'sh', '-c', 'touch "$(printf "evil\\nD fake\\033[2J")"']);
  t.is(touch.code, 0, touch.stderr);
  const diff = await b.run(['diff', env.short_id]);
  t.is(diff.code, 0, diff.stderr);
  t.is(diff.stdout, 'A evil\\nD fake\\x1b[2J\n');

  // An error naming it escapes it too.
  const missing = await b.run(['unexport', env.short_id, 'nothing']);
  t.is(missing.code, 2);
  t.notRegex(missing.stderr, RAW_CONTROL);

  // --json keeps the value (JSON escapes C0; C1 and bidi controls are escaped as \u too) and parses back to it.
  const json = await b.run(['inspect', env.short_id, '--json']);
  t.notRegex(json.stdout, RAW_CONTROL);
  t.is(JSON.parse(json.stdout).name, HOSTILE_NAME);
  t.is(JSON.parse(json.stdout).base.reference, HOSTILE_REF);
});

test('--store naming a file, or below one, is a store error (exit 3); an empty --store is an error, not the default', async (t) => {
  const b = sandbox('kp-store-path-');
  mkdirSync(join(b.dir, 'd'));
  const file = join(b.dir, 'd', 'a-file');
  writeFileSync(file, 'not a store\n');
  for (const run of [(a: string[]) => b.run(a), (a: string[]) => runBundled(b, a)]) {
    for (const args of [['list', '--store', file], ['exec', '--store', file, 'x', '--', 'true'], ['build', '--store', file]]) {
      const r = await run(args);
      t.is(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
      t.true(r.stderr.includes(`error: the store path (--store) ${file} is not a directory`), r.stderr);
      t.regex(r.stderr, /hint: name a directory/);
    }
    const below = await run(['list', '--store', join(file, 'store')]);
    t.is(below.code, 3);
    t.true(below.stderr.includes(`${file} is a file`), below.stderr);
    for (const args of [['list', '--store', ''], ['list', '--store='], ['exec', '--store=', 'x', '--', 'true'], ['exec', '--store', '', 'x', '--', 'true']]) {
      const r = await run(args);
      t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      t.regex(r.stderr, /error: --store is empty/);
    }
    const env = await run(['list']);
    t.is(env.code, 0, env.stderr);
  }
  const viaEnv = await b.run(['list'], { env: { KARAPACE_STORE: file } });
  t.is(viaEnv.code, 3);
  t.regex(viaEnv.stderr, /the store path \(KARAPACE_STORE\) .* is not a directory/);
  t.is((await b.run(['list', '--store', join(b.dir, 'new', 'store')])).code, 0, 'a missing directory is created');
});
