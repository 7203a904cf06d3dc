import test from 'ava';
import { parseFastPath } from '../../cli/dist/fast-exec.js';
import { mockManifest, sandbox } from '../helpers/cli.js';

test('fast path parses exec and simple builds with global options and hands everything unusual to the full CLI', (t) => {
  t.deepEqual(parseFastPath(['exec', 'dev', '--', 'git', '--version']), {
    kind: 'exec', options: { json: false, verbose: false, trace: false }, env: 'dev', command: ['--', 'git', '--version'],
  });
  t.deepEqual(parseFastPath(['exec', '--store', '/s', '--json', '-v', 'dev', 'ls', '-l']), {
    kind: 'exec', options: { json: true, verbose: true, trace: false, store: '/s' }, env: 'dev', command: ['ls', '-l'],
  });
  t.is(parseFastPath(['exec', '--store=/x', '--trace', 'e', '--', 'true'])!.options.store, '/x');
  t.deepEqual(parseFastPath(['build', 'dir/karapace.toml', '--locked', '--json']), {
    kind: 'build', options: { json: true, verbose: false, trace: false }, manifest: 'dir/karapace.toml', locked: true,
  });
  t.deepEqual(parseFastPath(['build']), { kind: 'build', options: { json: false, verbose: false, trace: false }, manifest: undefined, locked: false });
  for (const args of [['list'], ['exec'], ['exec', 'dev'], ['exec', 'dev', '--'], ['exec', '--help'], ['exec', '-h', 'dev', 'true'], ['exec', '--unknown', 'dev', 'true'], ['exec', '--store'],
    ['build', '--name', 'x'], ['build', '--offline'], ['build', 'a', 'b'], ['build', '--help']]) {
    t.is(parseFastPath(args), undefined, args.join(' '));
  }
});

test('exec behaves the same through the fast path and the full parser', async (t) => {
  const box = sandbox();
  box.write('karapace.toml', mockManifest());
  const { short_id } = await box.json(['build', '--name', 'fp']);
  const fast = await box.run(['exec', 'fp', '--', 'sh', '-c', 'echo $KARAPACE_ENV_ID; exit 3']);
  t.is(fast.code, 3);
  t.true(fast.stdout.startsWith(short_id));
  const json = await box.run(['exec', '--json', 'fp', '--', 'sh', '-c', 'echo hi; exit 4']);
  t.is(json.code, 4);
  t.deepEqual(JSON.parse(json.stdout), { exit_code: 4, stdout: 'hi\n', stderr: '' });
  const missing = await box.run(['exec', 'nope', '--', 'true']);
  t.is(missing.code, 3);
  t.regex(missing.stderr, /no environment "nope"/);
  const help = await box.run(['exec', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /Run a command in an environment/);
});

test('a warm build answers from the fast path; a cold one falls through to the full build', async (t) => {
  const box = sandbox();
  box.write('karapace.toml', mockManifest({ packages: ['git'] }));
  const cold = await box.json(['build']);
  t.false(cold.cached);
  const warm = await box.json(['build']);
  t.true(warm.cached);
  t.is(warm.env_id, cold.env_id);
  box.write('karapace.toml', mockManifest({ packages: ['git', 'curl'] }));
  const changed = await box.json(['build']);
  t.false(changed.cached);
  t.not(changed.env_id, cold.env_id);
  const drift = await box.run(['build', '--locked']);
  t.is(drift.code, 0);
  box.write('karapace.toml', mockManifest({ packages: ['vim'] }));
  const refused = await box.run(['build', '--locked']);
  t.is(refused.code, 2);
  t.regex(refused.stderr, /package "vim" is in the manifest but not in the lock/);
});
