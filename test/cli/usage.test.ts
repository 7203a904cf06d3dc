/** Usage errors a new user meets first (issue 16): typos, `help`, option placeholders, the seed's `push --tag`. */
import test from 'ava';
import { rmSync } from 'node:fs';
import { sandbox } from '../helpers/cli.js';

const box = sandbox('kp-usage-');
test.after.always(() => rmSync(box.dir, { recursive: true, force: true }));

test('a mistyped command suggests the close ones and exits 2', async (t) => {
  const r = await box.run(['buidl']);
  t.is(r.code, 2);
  t.is(r.stderr, 'karapace: unknown command "buidl"; did you mean `karapace build`?\nhint: run `karapace help` for the list of commands\n');
  t.regex((await box.run(['frezee'])).stderr, /did you mean `karapace freeze`\?/);
  const far = await box.run(['zzzz']);
  t.is(far.code, 2);
  t.notRegex(far.stderr, /did you mean/);
  const json = await box.run(['exce', '--json']);
  t.deepEqual(JSON.parse(json.stderr).error, { code: 'KP_UNKNOWN_COMMAND', message: 'unknown command "exce"; did you mean `karapace exec`?', exitCode: 2, data: { suggestions: ['exec'] } });
});

test('a mistyped command after global options is still answered as a command name', async (t) => {
  for (const args of [['--store', box.store, 'buidl'], [`--store=${box.store}`, '-v', 'buidl']]) {
    const r = await box.run(args);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.stderr, /unknown command "buidl"; did you mean `karapace build`\?/, args.join(' '));
    t.notRegex(r.stderr, /Unsupported option name/);
  }
  const json = await box.run(['--json', '--store', box.store, 'buidl']);
  t.deepEqual(JSON.parse(json.stderr).error.data, { suggestions: ['build'] });
  const help = await box.run(['--store', box.store, 'help']);
  t.is(help.code, 0, help.stderr);
  t.regex(help.stdout, /karapace unfreeze/);
  const one = await box.run(['--store', box.store, 'help', 'build']);
  t.is(one.code, 0, one.stderr);
  t.regex(one.stdout, /Build an environment from a manifest/);
});

test('`karapace help` lists the commands; `help build` is build --help', async (t) => {
  const all = await box.run(['help']);
  t.is(all.code, 0, all.stderr);
  t.regex(all.stdout, /karapace unfreeze/);
  const one = await box.run(['help', 'build']);
  t.is(one.code, 0);
  t.regex(one.stdout, /Build an environment from a manifest/);
});

test('usage names option values instead of clipanion\'s #0', async (t) => {
  const r = await box.run(['exec']);
  t.is(r.code, 2);
  t.regex(r.stderr, /--store <store>/);
  t.notRegex(r.stderr + (await box.run(['build', '--help'])).stdout, /#0/);
});

test('push takes --tag (the seed CLI\'s form) and refuses two tags', async (t) => {
  const help = await box.run(['push', '--help']);
  t.regex(help.stdout, /--tag <tag>/);
  const twice = await box.run(['push', 'dev', 'dev@v1', '--tag', 'v2']);
  t.is(twice.code, 2);
  t.regex(twice.stderr, /both dev@v1 and --tag v2 name a tag/);
});

test('enter with a command\'s own options and no `--` says to put `--` before the command, with the line to run', async (t) => {
  const r = await box.run(['enter', 'dev', 'sh', '-c', "echo it's"]);
  t.is(r.code, 2);
  t.is(r.stderr, "karapace: the command's own options were read as `enter`'s: put `--` before the command\nhint: karapace enter dev -- sh -c 'echo it'\\''s'\n");
  const root = await box.run(['--store', box.store, 'enter', '--root', 'dev', 'bash', '-l']);
  t.regex(root.stderr, new RegExp(`hint: karapace enter --store ${box.store} --root dev -- bash -l\n$`));
  const json = await box.run(['enter', '--json', 'dev', 'bash', '-l']);
  t.deepEqual(JSON.parse(json.stderr).error, { code: 'KP_USAGE', message: "the command's own options were read as `enter`'s: put `--` before the command", exitCode: 2, hint: 'karapace enter --json dev -- bash -l' });
  // An unknown option of enter's own is not that case.
  t.notRegex((await box.run(['enter', 'dev', '--bogus'])).stderr, /put `--` before/);
});
