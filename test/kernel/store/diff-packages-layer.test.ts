/**
 * diff over a packages layer (issue 18): what an install deleted from the base (a whiteout
 * in the layer) or made opaque is not in the env's view, so the user making it again is
 * "added"; a layer file the user changes is "modified". The mock backend claims
 * `lowerLayers` so its build makes a layer; the install's deletions are written into the
 * layer as overlayfs writes them (a 0/0 character device, an opaque xattr), as root.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { mockManifest, sandbox } from '../../helpers/cli.js';

const xattr = createRequire(import.meta.url)('@napi-rs/xattr') as typeof import('@napi-rs/xattr');
const asRoot = process.geteuid?.() === 0;

(asRoot ? test : test.skip)('diff sees the packages layer\'s whiteouts and opaque dirs over the base', async (t) => {
  const box = sandbox('kp-diff-layer-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  box.write('.karapacerc.json', JSON.stringify({ '@karapace/runtime-mock': { claim: ['lowerLayers'] } }));
  box.write('p/karapace.toml', mockManifest({ packages: ['git'] }));
  const built = await box.json(['build', join(box.dir, 'p'), '--name', 'dev']);
  const meta = JSON.parse(readFileSync(join(box.store, 'store', 'metadata', `${built.env_id}.json`), 'utf8'));
  const layer = join(box.store, 'packages', meta.packages_layer, 'root');
  const upper = join(box.store, 'env', built.env_id, 'upper');
  // The install removed /etc/os-release and replaced /usr/share/karapace-mock with a new directory.
  mkdirSync(join(layer, 'etc'), { recursive: true });
  t.is(spawnSync('mknod', [join(layer, 'etc/os-release'), 'c', '0', '0']).status, 0);
  mkdirSync(join(layer, 'usr/share/karapace-mock'), { recursive: true });
  xattr.setAttributeSync(join(layer, 'usr/share/karapace-mock'), 'trusted.overlay.opaque', Buffer.from('y'));
  writeFileSync(join(layer, 'usr/share/karapace-mock/new'), 'from the install\n');

  const empty = await box.json(['diff', 'dev']);
  t.deepEqual([empty.added, empty.modified, empty.removed], [[], [], []]);

  mkdirSync(join(upper, 'etc'), { recursive: true });
  writeFileSync(join(upper, 'etc/os-release'), 'NAME=mine\n');
  mkdirSync(join(upper, 'usr/share/karapace-mock'), { recursive: true });
  writeFileSync(join(upper, 'usr/share/karapace-mock/README'), 'mine\n');
  writeFileSync(join(upper, 'usr/share/karapace-mock/new'), 'changed\n');
  mkdirSync(join(upper, 'var/lib/karapace-mock/packages'), { recursive: true });
  writeFileSync(join(upper, 'var/lib/karapace-mock/packages/git'), 'changed\n');
  const diff = await box.json(['diff', 'dev']);
  // os-release was deleted by the install and the base's README hidden by the opaque directory:
  // both are new in the env's view; the install's own files changed are modified.
  t.deepEqual(diff.added, ['etc/os-release', 'usr/share/karapace-mock/README']);
  t.deepEqual(diff.modified, ['usr/share/karapace-mock/new', 'var/lib/karapace-mock/packages/git']);
  t.deepEqual(diff.removed, []);
});
