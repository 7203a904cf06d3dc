/** gc drops the push caches (upper dir tar hash and tree by fingerprint) of destroyed environments only. */
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { mockManifest, sandbox } from '../../helpers/cli.js';
import { WRITE_TOKEN, startTestServer } from './server-process.js';

test('gc drops the push caches of destroyed environments and keeps the others', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.stop());
  const box = sandbox('kp-push-caches-');
  const env = { env: { KARAPACE_REMOTE_TOKEN: WRITE_TOKEN } };
  const ids: Record<string, string> = {};
  for (const name of ['kept', 'gone']) {
    box.write(`${name}/karapace.toml`, mockManifest({ image: `mock:${name}` }));
    await box.json(['build', join(box.dir, name), '--name', name]);
    t.is((await box.run(['exec', name, '--', 'sh', '-c', `echo ${name} > f`])).code, 0);
    // Past the racy window, so the push keeps its tree by fingerprint.
    await new Promise((r) => setTimeout(r, 2100));
    ids[name] = (await box.json(['push', name, `${name}@v1`, '--remote', server.url], env)).env_id;
  }
  const caches = join(box.store, 'cache', 'bundles');
  const of = (id: string) => readdirSync(caches).filter((n) => n.startsWith(`upper-${id}.`)).sort();
  t.deepEqual(of(ids.gone!), [`upper-${ids.gone}.json`, `upper-${ids.gone}.tree`]);
  await box.json(['destroy', 'gone']);
  await box.json(['gc']);
  t.deepEqual(of(ids.gone!), []);
  t.deepEqual(of(ids.kept!), [`upper-${ids.kept}.json`, `upper-${ids.kept}.tree`]);
  t.true(existsSync(join(caches, `upper-${ids.kept}.tree`)));
});
