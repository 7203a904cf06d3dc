import test from 'ava';
import { mockManifest, runBundled, sandbox } from '../helpers/cli.js';

test('exec behaves the same through the fast path and the full parser', async (t) => {
  const box = sandbox();
  box.write('karapace.toml', mockManifest());
  const { short_id } = await box.json(['build', '--name', 'fp']);
  for (const run of [(args: string[]) => runBundled(box, args), (args: string[]) => box.run(args)]) {
    const fast = await run(['exec', 'fp', '--', 'sh', '-c', 'echo $KARAPACE_ENV_ID; exit 3']);
    t.is(fast.code, 3);
    t.true(fast.stdout.startsWith(short_id));
    const json = await run(['exec', '--json', 'fp', '--', 'sh', '-c', 'echo hi; exit 4']);
    t.is(json.code, 4);
    t.deepEqual(JSON.parse(json.stdout), { exit_code: 4, stdout: 'hi\n', stderr: '' });
    const missing = await run(['exec', 'nope', '--', 'true']);
    t.is(missing.code, 3);
    t.regex(missing.stderr, /no environment "nope"/);
    const help = await run(['exec', '--help']);
    t.is(help.code, 0);
    t.regex(help.stdout, /Run a command in an environment/);
  }
});

test('a warm build answers from the fast path; a cold one falls through to the full build', async (t) => {
  const box = sandbox();
  box.write('karapace.toml', mockManifest({ packages: ['git'] }));
  const cold = await box.json(['build']);
  t.false(cold.cached);
  const warm = JSON.parse((await runBundled(box, ['build', '--json'])).stdout);
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
