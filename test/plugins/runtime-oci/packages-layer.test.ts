/**
 * The oci backend on a packages layer (issue 18), through the real CLI with runc and a
 * busybox rootfs: the build's install (the mock package manager, through a resolver that
 * names it) becomes a packages layer mounted as a second lower dir under the upper dir, and a
 * second env with the same base and packages runs on the same layer.
 */
import test from 'ava';
import { lstatSync, readFileSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../../helpers/busybox-rootfs.js';
import { RESOLVE_PLUGIN, manifest, ociSandbox, runcUnavailable } from './fixtures.js';

const missing = runcUnavailable() ?? busyboxRootfsUnavailable();
if (missing) console.warn(`runtime-oci packages-layer tests skipped: ${missing}`);
const it = missing ? test.skip : test;

it('a build\'s packages are a lower layer of the container; a second env with the same packages runs on the same one', async (t) => {
  const box = ociSandbox({ config: { '@karapace/runtime-oci': { runtime: 'runc' } } });
  t.teardown(() => rm(box.dir, { recursive: true, force: true }));
  // The same resolver, naming the mock package manager (the image has none of its own).
  box.write('resolve-dir.mjs', RESOLVE_PLUGIN.replace("packageManager: 'none'", "packageManager: 'mock'"));
  const packages = '[system]\npackages = ["git"]\n';
  box.write('a/karapace.toml', manifest(busyboxRootfs(), { extra: packages }));
  box.write('b/karapace.toml', manifest(busyboxRootfs(), { isolated: true, extra: packages }));
  const a = await box.json(['build', join(box.dir, 'a'), '--name', 'a']);
  const b = await box.json(['build', join(box.dir, 'b'), '--name', 'b']);
  t.not(a.env_id, b.env_id);
  const meta = (id: string) => JSON.parse(readFileSync(join(box.store, 'store', 'metadata', `${id}.json`), 'utf8'));
  const layer = meta(a.env_id).packages_layer;
  t.truthy(layer);
  t.is(meta(b.env_id).packages_layer, layer);
  t.deepEqual(readdirSync(join(box.store, 'packages')), [layer]);
  const record = join(box.store, 'packages', layer, 'root', 'var/lib/karapace-mock/packages/git');
  t.true(lstatSync(record).isFile());
  t.deepEqual(readdirSync(join(box.store, 'env', a.env_id, 'upper')), []);
  for (const name of ['a', 'b']) {
    const r = await box.run(['exec', name, '--', 'sh', '-c', 'cat /var/lib/karapace-mock/packages/git; ls /bin/busybox']);
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, `${readFileSync(record, 'utf8')}/bin/busybox\n`, name);
  }
  // Writes over the layer land in the env's upper dir; the layer is untouched.
  const w = await box.run(['exec', 'a', '--', 'sh', '-c', 'echo changed > /var/lib/karapace-mock/packages/git']);
  t.is(w.code, 0, w.stderr);
  t.regex(readFileSync(record, 'utf8'), /^git /);
  t.is(readFileSync(join(box.store, 'env', a.env_id, 'upper', 'var/lib/karapace-mock/packages/git'), 'utf8'), 'changed\n');
  t.is((await box.run(['exec', 'b', '--', 'cat', '/var/lib/karapace-mock/packages/git'])).stdout, readFileSync(record, 'utf8'));
  // A file of the packages layer changed in the upper dir is modified, not added (runc's mount
  // points for /etc/hosts, /etc/resolv.conf and /etc/localtime appear in the upper dir too).
  const diff = await box.json(['diff', 'a']);
  t.deepEqual(diff.modified, ['var/lib/karapace-mock/packages/git']);
  t.deepEqual(diff.added.filter((p: string) => !p.startsWith('etc/')), []);
  t.deepEqual(diff.removed, []);
});
