/** gc drops the push caches (upper dir tar hash and tree by fingerprint) of destroyed environments only. */
import test from 'ava';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
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

test('a tar-bundle push of the unchanged upper dir keeps its tree for the next v3 push', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.stop());
  const box = sandbox('kp-push-caches-');
  const env = { env: { KARAPACE_REMOTE_TOKEN: WRITE_TOKEN } };
  box.write('p/karapace.toml', mockManifest({ image: 'mock:alt' }));
  await box.json(['build', join(box.dir, 'p'), '--name', 'alt']);
  t.is((await box.run(['exec', 'alt', '--', 'sh', '-c', 'mkdir d && echo one > d/a && echo two > d/b'])).code, 0);
  await new Promise((r) => setTimeout(r, 2100));
  const first = await box.json(['push', 'alt', 'alt@v3', '--remote', server.url], env);
  const entry = join(box.store, 'cache', 'bundles', `upper-${first.env_id}.json`);
  const tree = (JSON.parse(readFileSync(entry, 'utf8')) as { tree?: string }).tree;
  t.truthy(tree);
  // The same dir pushed as tar bundles (as to an OCI registry): same tar, so the same tree.
  const tarsDir = join(box.dir, 'tars');
  mkdirSync(tarsDir);
  writeFileSync(join(tarsDir, '.karapacerc.json'), JSON.stringify({ '@karapace/remote-http': { bundle: 'tars' } }));
  await box.json(['push', 'alt', 'alt@tars', '--remote', server.url], { ...env, cwd: tarsDir });
  t.is((JSON.parse(readFileSync(entry, 'utf8')) as { tree?: string }).tree, tree);
  // And it is still the right tree: a v3 push from it pulls back the same files.
  await box.json(['push', 'alt', 'alt@again', '--remote', server.url], env);
  const dst = sandbox('kp-push-caches-dst-');
  await dst.json(['pull', 'alt@again', '--remote', server.url], env);
  const out = await dst.run(['exec', 'alt', '--', 'sh', '-c', 'cat d/a d/b']);
  t.is(out.stdout, 'one\ntwo\n');
  // A changed dir drops the kept tree on a tar push (its tar is another).
  await new Promise((r) => setTimeout(r, 1100));
  t.is((await box.run(['exec', 'alt', '--', 'sh', '-c', 'echo three > d/c'])).code, 0);
  await box.json(['push', 'alt', 'alt@tars2', '--remote', server.url], { ...env, cwd: tarsDir });
  t.not((JSON.parse(readFileSync(entry, 'utf8')) as { tree?: string }).tree, tree);
});
