/**
 * A changed manifest + `build` makes a new environment: the name moves to it, the old one is
 * kept and the output says so (issue 16: `exec dev` kept running the old env, silently).
 */
import test from 'ava';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { mockManifest, sandbox } from '../../helpers/cli.js';

test('build after a manifest change moves the name to the new env and reports the old one', async (t) => {
  const box = sandbox('kp-build-name-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  const cwd = join(box.dir, 'dev');
  box.write('dev/karapace.toml', mockManifest({ packages: ['git'] }));
  const first = await box.json(['build', '--name', 'dev'], { cwd });
  t.is(first.previous_env, undefined);

  box.write('dev/karapace.toml', mockManifest({ packages: ['git', 'jq'] }));
  const second = await box.json(['build'], { cwd });
  t.not(second.env_id, first.env_id);
  t.is(second.name, 'dev', 'the name follows the manifest');
  t.deepEqual(second.previous_env, { env_id: first.env_id, short_id: first.short_id, name_moved: 'dev' });
  const list = (await box.json(['list'])).environments as { env_id: string; name: string | null }[];
  t.deepEqual(list.map((e) => [e.env_id, e.name]), [[first.env_id, null], [second.env_id, 'dev']], 'the old env is kept, unnamed');

  const text = await box.run(['build'], { cwd: join(box.dir, 'dev') });
  t.regex(text.stdout, /^up to date/, 'unchanged: nothing moves');

  box.write('dev/karapace.toml', mockManifest({ packages: ['git'] }));
  const back = await box.run(['build'], { cwd });
  t.is(back.code, 0, back.stderr);
  t.regex(back.stdout, new RegExp(`name "dev" moved here from ${second.short_id}; the previous environment ${second.short_id} is kept \\(\`karapace destroy ${second.short_id}\` removes it\\)`));
});
