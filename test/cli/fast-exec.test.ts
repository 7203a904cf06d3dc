import test from 'ava';
import { parseFastExec } from '../../cli/dist/fast-exec.js';
import { mockManifest, sandbox } from '../helpers/cli.js';

test('fast path parses exec with global options and hands everything unusual to the full CLI', (t) => {
  t.deepEqual(parseFastExec(['exec', 'dev', '--', 'git', '--version']), {
    options: { json: false, verbose: false, trace: false }, env: 'dev', command: ['--', 'git', '--version'],
  });
  t.deepEqual(parseFastExec(['exec', '--store', '/s', '--json', '-v', 'dev', 'ls', '-l']), {
    options: { json: true, verbose: true, trace: false, store: '/s' }, env: 'dev', command: ['ls', '-l'],
  });
  t.is(parseFastExec(['exec', '--store=/x', '--trace', 'e', '--', 'true'])!.options.store, '/x');
  for (const args of [['list'], ['exec'], ['exec', 'dev'], ['exec', 'dev', '--'], ['exec', '--help'], ['exec', '-h', 'dev', 'true'], ['exec', '--unknown', 'dev', 'true'], ['exec', '--store']]) {
    t.is(parseFastExec(args), undefined, args.join(' '));
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
