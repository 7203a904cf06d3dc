/**
 * A packages layer's files are content objects (issue 18), with the mock backend claiming
 * `lowerLayers` so its builds make layers, as root: each file is one inode with its object;
 * gc keeps a layer's objects while the layer is kept, also when a plugin vetoes its removal.
 */
import test from 'ava';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashBytes } from '@karapace/kernel';
import { mockManifest, sandbox } from '../../helpers/cli.js';

const asRoot = process.geteuid?.() === 0;

(asRoot ? test : test.skip)('a layer\'s files share their objects\' inodes; a layer a plugin keeps from gc keeps its objects', async (t) => {
  const box = sandbox('kp-packages-objects-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  const keepPlugin = box.write('keep-packages.mjs', `export default {
  name: 'keep-packages',
  apply(kernel) {
    kernel.hooks.keep.tap('keep-packages', (c) => (c.kind === 'packages' && process.env.KEEP_PACKAGES === '1' ? true : undefined));
  },
};
`);
  box.write('.karapacerc.json', JSON.stringify({ '@karapace/runtime-mock': { claim: ['lowerLayers'] }, plugins: [keepPlugin] }));
  box.write('p/karapace.toml', mockManifest({ packages: ['git', 'curl'] }));
  const built = await box.json(['build', join(box.dir, 'p'), '--name', 'dev']);
  const meta = JSON.parse(readFileSync(join(box.store, 'store', 'metadata', `${built.env_id}.json`), 'utf8'));
  const record = JSON.parse(readFileSync(join(box.store, 'packages', meta.packages_layer, 'layer.json'), 'utf8'));
  t.regex(record.tree, /^[0-9a-f]{64}$/);
  const file = join(box.store, 'packages', meta.packages_layer, 'root', 'var/lib/karapace-mock/packages/git');
  const h = hashBytes(readFileSync(file));
  const object = join(box.store, 'store', 'objects', h.slice(0, 2), h.slice(2));
  t.is(lstatSync(object).ino, lstatSync(file).ino);

  await box.json(['destroy', 'dev']);
  // Vetoed: the layer stays, and so do its tree and the objects its files are.
  const kept = await box.json(['gc'], { env: { KEEP_PACKAGES: '1' } });
  t.true(kept.kept.some((c: { kind: string }) => c.kind === 'packages'));
  t.true(lstatSync(object).isFile());
  t.true(lstatSync(join(box.store, 'store', 'objects', record.tree.slice(0, 2), record.tree.slice(2))).isFile());
  t.true((await box.json(['verify-store'])).ok);
  // Not vetoed: the layer goes, then its objects.
  const gone = await box.json(['gc']);
  t.true(gone.removed.some((c: { kind: string; id: string }) => c.kind === 'object' && c.id === h));
  t.deepEqual(readdirSync(join(box.store, 'packages')), []);
  t.true((await box.json(['verify-store'])).ok);
});

(asRoot ? test : test.skip)('a layer file whose content a commit packed becomes that content\'s loose object (one inode), not a copy', async (t) => {
  const box = sandbox('kp-packages-packed-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  box.write('.karapacerc.json', JSON.stringify({ '@karapace/runtime-mock': { claim: ['lowerLayers'] } }));
  box.write('p/karapace.toml', mockManifest({ packages: ['git', 'curl'] }));
  // What the mock's git package installs, learned from a first build, then dropped from the store.
  const first = await box.json(['build', join(box.dir, 'p'), '--name', 'dev']);
  const firstMeta = JSON.parse(readFileSync(join(box.store, 'store', 'metadata', `${first.env_id}.json`), 'utf8'));
  const content = readFileSync(join(box.store, 'packages', firstMeta.packages_layer, 'root', 'var/lib/karapace-mock/packages/git'));
  await box.json(['destroy', 'dev']);
  await box.json(['gc']);
  const h = hashBytes(content);
  const object = join(box.store, 'store', 'objects', h.slice(0, 2), h.slice(2));
  t.false(existsSync(object));
  // Another env commits that content among 300 others: all in one pack.
  box.write('a/karapace.toml', mockManifest({ image: 'mock:other' }));
  const a = await box.json(['build', join(box.dir, 'a'), '--name', 'a']);
  const upper = join(box.store, 'env', a.env_id, 'upper');
  mkdirSync(join(upper, 'many'));
  for (let i = 0; i < 300; i++) writeFileSync(join(upper, 'many', `f${i}`), `file ${i}\n`);
  writeFileSync(join(upper, 'git-copy'), content);
  await box.json(['commit', 'a']);
  t.false(existsSync(object), 'packed, not loose');
  const built = await box.json(['build', join(box.dir, 'p'), '--name', 'dev']);
  const meta = JSON.parse(readFileSync(join(box.store, 'store', 'metadata', `${built.env_id}.json`), 'utf8'));
  const file = join(box.store, 'packages', meta.packages_layer, 'root', 'var/lib/karapace-mock/packages/git');
  t.is(lstatSync(object).ino, lstatSync(file).ino);
  t.true((await box.json(['verify-store'])).ok);
});
