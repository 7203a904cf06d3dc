/**
 * `migrate` from store format version 1 (issue 18) on layer records and tar objects written
 * by karapace before trees (test/fixtures/store-v1): refused until migrated, converted
 * (also after a crash in the middle), each layer's tar given back byte for byte from its
 * tree, and restore reproducing what was committed.
 */
import test from 'ava';
import { cpSync, existsSync, lstatSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { hashBytes, layerTar, readLayer, readMetadata, storeLayout, writeMetadata } from '@karapace/kernel';
import { mockManifest, sandbox, type Sandbox } from '../../helpers/cli.js';

const xattr = createRequire(import.meta.url)('@napi-rs/xattr') as typeof import('@napi-rs/xattr');
const FIXTURE = fileURLToPath(new URL('../../fixtures/store-v1/', import.meta.url));
const isRoot = process.geteuid?.() === 0;

/** A store at version 1 holding the fixture's layers, with an environment whose snapshots they are. */
async function v1Store(t: { teardown(fn: () => void): void }): Promise<{ box: Sandbox; id: string; upper: string }> {
  const box = sandbox('kp-migrate-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  box.write('dev/karapace.toml', mockManifest({ packages: ['git'] }));
  const built = await box.json(['build', '--name', 'dev'], { cwd: join(box.dir, 'dev') });
  const layout = storeLayout(box.store);
  cpSync(join(FIXTURE, 'layers'), layout.layers, { recursive: true });
  cpSync(join(FIXTURE, 'objects'), layout.objects, { recursive: true });
  const meta = (await readMetadata(layout, built.env_id))!;
  await writeMetadata(layout, { ...meta, snapshots: JSON.parse(readFileSync(join(FIXTURE, 'snapshots.json'), 'utf8')) });
  writeFileSync(layout.version, readFileSync(join(FIXTURE, 'version')));
  return { box, id: built.env_id, upper: join(box.store, 'env', built.env_id, 'upper') };
}

function tarObjects(box: Sandbox): string[] {
  const objects = join(box.store, 'store', 'objects');
  return readdirSync(objects).flatMap((s) => readdirSync(join(objects, s)).map((r) => s + r)).sort();
}

async function tarHash(box: Sandbox, hash: string): Promise<string> {
  const layout = storeLayout(box.store);
  const parts: Buffer[] = [];
  for await (const c of await layerTar(layout, await readLayer(layout, hash))) parts.push(Buffer.from(c));
  return hashBytes(Buffer.concat(parts));
}

test('a version 1 store is refused until migrated; migrate turns its layers into trees that give back the same tars', async (t) => {
  const { box, upper } = await v1Store(t);
  const records = readdirSync(join(FIXTURE, 'layers')).map((n) => JSON.parse(readFileSync(join(FIXTURE, 'layers', n), 'utf8')));
  const tars = [...new Set(records.map((r) => r.object))].sort();
  t.deepEqual(tarObjects(box), tars);

  const refused = await box.run(['commit', 'dev']);
  t.is(refused.code, 3);
  t.regex(refused.stderr, /format version 1/);
  t.regex(refused.stderr, /karapace migrate/);

  const r = await box.json(['migrate']);
  t.true(r.migrated);
  t.is(r.version, 1);
  // Three layers, two of them (an unchanged commit) on one tar.
  t.deepEqual(r.layers, { converted: 3, kept_as_tar: 0, tar_bytes_removed: 82432 + 82944, bytes_added: r.layers.bytes_added });
  t.true(r.layers.bytes_added < 82432, 'the trees and contents take less than one tar');
  t.is(readFileSync(join(box.store, 'store', 'version'), 'utf8'), '3\n');
  // The tar objects are gone; each layer gives its tar back from its tree, byte for byte.
  const after = tarObjects(box);
  for (const tar of tars) t.false(after.includes(tar));
  for (const record of records) {
    t.truthy((await readLayer(storeLayout(box.store), record.hash)).tree);
    t.is(await tarHash(box, record.hash), record.object);
  }

  // Snapshot 1 comes back with its owners, modes, xattrs, hardlink, whiteout and opaque dir.
  t.is((await box.run(['restore', 'dev', '1'])).code, 0);
  const conf = lstatSync(join(upper, 'etc/app/conf'));
  t.is(conf.mode & 0o7777, 0o640);
  t.is(conf.nlink, 2);
  t.is(lstatSync(join(upper, 'etc/app/hard')).ino, conf.ino);
  t.deepEqual(xattr.getAttributeSync(join(upper, 'etc/app/conf'), 'user.note'), Buffer.from([0, ...Buffer.from('kept'), 0xff]));
  t.is(readFileSync(join(upper, 'big'), 'utf8'), 'k'.repeat(70000));
  t.is(lstatSync(join(upper, 'etc/sym')).isSymbolicLink(), true);
  if (isRoot) {
    const exe = lstatSync(join(upper, 'exe'));
    t.deepEqual([exe.uid, exe.gid, exe.mode & 0o7777], [1234, 2345, 0o4711]);
    const gone = lstatSync(join(upper, 'gone'));
    t.true(gone.isCharacterDevice() && gone.rdev === 0);
    t.is(xattr.getAttributeSync(join(upper, 'opq'), 'trusted.overlay.opaque')?.toString(), 'y');
  }
  t.is((await box.run(['restore', 'dev', '3'])).code, 0);
  t.is(readFileSync(join(upper, 'etc/app/conf'), 'utf8'), 'v2\n');
  t.false(existsSync(join(upper, 'etc/app/hard')));
  t.is(readFileSync(join(upper, 'added'), 'utf8'), 'new\n');

  const verify = await box.json(['verify-store']);
  t.true(verify.ok, JSON.stringify(verify.problems));
  t.is(verify.checked.trees, 3);
  const again = await box.json(['migrate']);
  t.false(again.migrated);
  t.is(again.version, 3);
});

test('a migrate killed after its first layer is finished by the next one', async (t) => {
  const { box } = await v1Store(t);
  const killed = await box.run(['migrate'], { env: { KARAPACE_TEST_CRASH_AT: 'migrate:layer' } });
  t.not(killed.code, 0);
  t.is(readFileSync(join(box.store, 'store', 'version'), 'utf8'), '1\n');
  const r = await box.json(['migrate']);
  t.true(r.migrated);
  t.is(r.layers.converted, 2, 'the layer converted before the crash is not converted again');
  for (const n of readdirSync(join(FIXTURE, 'layers'))) {
    const record = JSON.parse(readFileSync(join(FIXTURE, 'layers', n), 'utf8'));
    t.is(await tarHash(box, record.hash), record.object);
  }
  t.true((await box.json(['verify-store'])).ok);
});
