/**
 * A stored tree restored natively (store/tree-restore.ts, native/untar-tree.c) against the
 * reference, the tar path (treeTar into unpacker.ts): on trees
 * with what restores meet — hardlinks, symlinks pointing out of the tree, long and
 * non-ASCII names, sparse files, set-id bits, read-only directories, binary xattrs, device
 * nodes, fifos, whiteouts and opaque directories — both give the same tree, byte for byte:
 * contents, types, modes, owners, xattrs, hardlink groups, link targets, device numbers;
 * neither sets times (the tar's are the epoch: files keep the time they were made).
 * A damaged, resized or missing object (loose or in a pack), or a layer record naming another tree, is caught
 * before anything is returned: the native restore hands over with the directory emptied,
 * and the tar path names the fault, as it did before.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import {
  chmodSync, closeSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, rmSync, symlinkSync,
  writeFileSync, writeSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { hashBytes, packLayer, storeLayout, unpackLayer, unpackTarStream, type StoreLayout, type UnpackOptions } from '@karapace/kernel';
import { layerTar, readLayer } from '../../../kernel/dist/layers/layer.js';
import { objectPath } from '../../../kernel/dist/store/layout.js';
import { lackedObjects, locateObject } from '../../../kernel/dist/store/objects.js';
import { planLayerRestore, restorePlanned } from '../../../kernel/dist/store/tree-restore.js';
import { readTree } from '../../../kernel/dist/store/tree-tar.js';
import { bytes, fixtureTree, isRoot, tempDir } from '../../helpers/tree-fixture.js';

const xattr = createRequire(import.meta.url)('@napi-rs/xattr') as typeof import('@napi-rs/xattr');

/** fixtureTree plus what a restored upper dir may hold beyond it. */
function hostileTree(root: string): void {
  fixtureTree(root);
  mkdirSync(join(root, 'out'));
  symlinkSync('../../../../etc/shadow', join(root, 'out/up'));
  symlinkSync('/etc/passwd', join(root, 'out/abs'));
  symlinkSync('.', join(root, 'out/self'));
  // A hard link group of three, one in another directory, and a hard-linked symlink.
  writeFileSync(join(root, 'out/h1'), bytes(70_000, 9));
  linkSync(join(root, 'out/h1'), join(root, 'out/h2'));
  linkSync(join(root, 'out/h1'), join(root, 'h3'));
  linkSync(join(root, 'out/up'), join(root, 'out/up-link'));
  // A sparse file: a hole, data, a hole at the end.
  const fd = openSync(join(root, 'sparse'), 'w');
  writeSync(fd, bytes(4096, 7), 0, 4096, 1 << 20);
  closeSync(fd);
  spawnSync('truncate', ['-s', String(4 << 20), join(root, 'sparse')]);
  // A component of 255 bytes under a long path (over 100 bytes: PAX names).
  const deep = join(root, 'deep', 'd'.repeat(200), 'e'.repeat(200));
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, 'f'.repeat(255)), 'deep\n');
  writeFileSync(join(root, 'setgid'), 'g');
  chmodSync(join(root, 'setgid'), 0o2755);
  writeFileSync(join(root, 'large'), bytes(9 << 20, 5)); // copied by the main thread, not read whole
  xattr.setAttributeSync(join(root, 'deep'), 'user.dir', Buffer.from([0, 0xfe]));
  mkdirSync(join(root, 'ro/inner'), { recursive: true });
  writeFileSync(join(root, 'ro/inner/f'), 'ro\n');
  chmodSync(join(root, 'ro/inner'), 0o555);
  chmodSync(join(root, 'ro'), 0o500);
  if (isRoot) {
    spawnSync('mknod', ['-m', '0666', join(root, 'null'), 'c', '1', '3']);
    spawnSync('mknod', ['-m', '0600', join(root, 'loop9'), 'b', '7', '9']);
    spawnSync('chown', ['-h', '4242:4343', join(root, 'out/abs'), join(root, 'out/h1')]);
  }
}

/** Everything a restore decides about a tree, path by path (not inode numbers or times). */
function describe(root: string): string[] {
  const out: string[] = [];
  const inodes = new Map<number, string>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(root, r);
      const st = lstatSync(p);
      const what = st.isFile() ? hashBytes(readFileSync(p)) : st.isSymbolicLink() ? readlinkSync(p) : String(st.rdev);
      // The first path of each inode names its hardlink group.
      const group = st.nlink > 1 && !st.isDirectory() ? (inodes.get(st.ino) ?? (inodes.set(st.ino, r), r)) : '';
      const xattrs = st.isSymbolicLink() ? [] : xattr.listAttributesSync(p).sort().map((n) => `${n}=${xattr.getAttributeSync(p, n)?.toString('hex')}`);
      out.push(`${r} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.nlink} ${what} [${group}] {${xattrs.join(',')}}`);
      if (st.isDirectory()) {
        chmodSync(p, st.mode | 0o700);
        walk(r);
        chmodSync(p, st.mode);
      }
    }
  };
  walk('');
  return out;
}

async function storedTree(t: Parameters<typeof tempDir>[0], make: (root: string) => void) {
  const dir = tempDir(t, 'kp-tree-restore-');
  t.teardown(() => spawnSync('chmod', ['-R', 'u+rwx', dir]));
  const src = join(dir, 'src');
  mkdirSync(src);
  make(src);
  const layout = storeLayout(join(dir, 'store'));
  const record = await packLayer(layout, src, { kind: 'snapshot' });
  return { dir, layout, record };
}

/** Restores through the tar path (treeTar into unpacker.ts, the reference) or natively (which must not hand over). */
async function restore(layout: StoreLayout, hash: string, target: string, native: boolean, options: UnpackOptions) {
  const record = await readLayer(layout, hash);
  if (!native) return unpackTarStream(await layerTar(layout, record), target, options);
  const planned = await planLayerRestore(layout, record, options);
  if (!planned) throw new Error('no plan');
  const stats = await restorePlanned(layout.store, target, planned, options);
  if (!stats) throw new Error('the native restore handed over');
  return stats;
}

for (const options of [{ whiteouts: 'overlay' }, { whiteouts: 'overlay', untrusted: true }, { whiteouts: 'overlay', owners: false }] as UnpackOptions[]) {
  test(`a restored tree is the tar path's, byte for byte (${JSON.stringify(options)})`, async (t) => {
    const started = Date.now();
    const { dir, layout, record } = await storedTree(t, hostileTree);
    const [ref, nat] = [join(dir, 'ref'), join(dir, 'nat')];
    const a = await restore(layout, record.hash, ref, false, options);
    const b = await restore(layout, record.hash, nat, true, options);
    t.deepEqual(describe(nat), describe(ref));
    t.deepEqual({ ...b, warnings: [...b.warnings].sort() }, { ...a, warnings: [...a.warnings].sort() });
    const listing = describe(nat).join('\n');
    // What the fixture holds made it through (the comparison above is not of two empty trees).
    t.regex(listing, /^out\/up 120777 .* \.\.\/\.\.\/\.\.\/\.\.\/etc\/shadow/m);
    t.regex(listing, /^out\/h2 .* 3 [0-9a-f]{64} \[h3\]/m);
    t.regex(listing, /^deep 40755 .*\{user\.dir=00fe\}/m);
    t.regex(listing, /^sparse 100644 .* 4194304 1 /m);
    if (isRoot) {
      t.regex(listing, /^gone 20000 0:0 0 1 0 /m, 'the whiteout, a 0/0 character device');
      t.regex(listing, /^opq 40755 .*trusted\.overlay\.opaque=79/m);
      if (options.untrusted) {
        t.notRegex(listing, /^(loop9|null|tty9) /m, 'untrusted content makes no device nodes but whiteouts');
        t.true(b.warnings.includes('loop9: block-device 7:9 not created (pulled content never creates device nodes)'));
      } else {
        t.regex(listing, /^loop9 60600 0:0 0 1 1801 /m);
      }
    }
    // Times are not set by either: files keep the time they were made (the tar's are the epoch).
    for (const root of [ref, nat]) for (const rel of ['big', 'deep', 'out/h1']) t.true(lstatSync(join(root, rel)).mtimeMs >= started - 1000, `${root}/${rel}`);
  });
}

test('every entry of the tree is restored natively, none handed over (the comparison is of the native path)', async (t) => {
  const { dir, layout, record } = await storedTree(t, hostileTree);
  const entries = await readTree(layout, record.tree!);
  const stats = await restore(layout, record.hash, join(dir, 'nat'), true, { whiteouts: 'overlay' });
  t.is(stats.entries, entries.length);
  t.is(stats.bytes, entries.reduce((n, e) => n + (e.size ?? 0), 0));
});

const faults: [string, (layout: StoreLayout, content: string) => void, string][] = [
  ['a damaged object (same size)', (layout, c) => {
    const p = objectPath(layout, c);
    const data = readFileSync(p);
    data[data.length >> 1] ^= 1;
    chmodSync(p, 0o644);
    writeFileSync(p, data);
  }, 'KP_STORE_OBJECT_CORRUPT'],
  ['an object one byte longer', (layout, c) => {
    const p = objectPath(layout, c);
    chmodSync(p, 0o644);
    writeFileSync(p, Buffer.concat([readFileSync(p), Buffer.from('x')]));
  }, 'KP_STORE_OBJECT_CORRUPT'],
  ['an object one byte shorter', (layout, c) => {
    const p = objectPath(layout, c);
    chmodSync(p, 0o644);
    writeFileSync(p, readFileSync(p).subarray(1));
  }, 'KP_STORE_OBJECT_CORRUPT'],
  ['a missing object', (layout, c) => rmSync(objectPath(layout, c)), 'KP_STORE_OBJECT_MISSING'],
];

for (const [what, damage, code] of faults) {
  for (const size of [70_000, 9 << 20]) {
    test(`${what} of ${size} bytes: the native restore hands over with nothing left, and the restore fails with ${code}`, async (t) => {
      const { dir, layout, record } = await storedTree(t, (root) => {
        writeFileSync(join(root, 'a'), 'a\n');
        writeFileSync(join(root, 'victim'), bytes(size, 3));
        writeFileSync(join(root, 'z'), 'z\n');
      });
      const victim = (await readTree(layout, record.tree!)).find((e) => e.path === 'victim')!;
      damage(layout, victim.content!);
      const target = join(dir, 'nat');
      // A loose object is checked where it is read: missing or of another size, it hands over; damaged, the tar's hash differs.
      const planned = await planLayerRestore(layout, await readLayer(layout, record.hash), { whiteouts: 'overlay' });
      t.truthy(planned);
      t.is(await restorePlanned(layout.store, target, planned!, { whiteouts: 'overlay' }), undefined);
      t.deepEqual(readdirSync(target), []);
      const err = await t.throwsAsync(unpackLayer(layout, record.hash, join(dir, 'via-layer'), { whiteouts: 'overlay' }));
      t.is((err as { code?: string }).code, code);
    });
  }
}

test('a layer record naming another tree: the tar it stands for differs, and the restore fails with KP_STORE_TREE_MISMATCH', async (t) => {
  const { dir, layout, record } = await storedTree(t, (root) => writeFileSync(join(root, 'a'), 'one\n'));
  const other = join(dir, 'other');
  mkdirSync(other);
  writeFileSync(join(other, 'a'), 'two\n');
  const second = await packLayer(layout, other, { kind: 'snapshot' });
  const path = join(layout.layers, `${record.hash}.json`);
  const json = JSON.parse(readFileSync(path, 'utf8')) as { tree: string };
  chmodSync(path, 0o644);
  writeFileSync(path, JSON.stringify({ ...json, tree: second.tree }));
  const planned = await planLayerRestore(layout, await readLayer(layout, record.hash), { whiteouts: 'overlay' });
  t.is(await restorePlanned(layout.store, join(dir, 'nat'), planned!, { whiteouts: 'overlay' }), undefined);
  t.deepEqual(readdirSync(join(dir, 'nat')), []);
  const err = await t.throwsAsync(unpackLayer(layout, record.hash, join(dir, 'via-layer'), { whiteouts: 'overlay' }));
  t.is((err as { code?: string }).code, 'KP_STORE_TREE_MISMATCH');
});

test('contents read from a pack (a commit of many new files): the tar path\'s tree, and a flipped byte in the pack is caught', async (t) => {
  const { dir, layout, record } = await storedTree(t, (root) => {
    mkdirSync(join(root, 'many'));
    for (let i = 0; i < 300; i++) writeFileSync(join(root, 'many', `f${i}`), bytes(100 + i * 37, i + 1));
    writeFileSync(join(root, 'large'), bytes(9 << 20, 77));
  });
  const entries = await readTree(layout, record.tree!);
  const places = entries.filter((e) => e.content).map((e) => locateObject(layout, e.content!)!);
  t.true(places.every((p) => p.pack !== undefined), 'every content is in a pack');
  // A pull's question (which of these does the store lack?): packed, loose (the tree) and absent ones.
  const absent = [hashBytes('not stored, 1'), hashBytes('not stored, 2')];
  const contents = entries.filter((e) => e.content).map((e) => e.content!);
  t.deepEqual(lackedObjects(layout, [absent[0]!, ...contents, record.tree!, absent[1]!, 'not-a-hash']), [...absent, 'not-a-hash']);
  const [ref, nat] = [join(dir, 'ref'), join(dir, 'nat')];
  await restore(layout, record.hash, ref, false, { whiteouts: 'overlay' });
  await restore(layout, record.hash, nat, true, { whiteouts: 'overlay' });
  t.deepEqual(describe(nat), describe(ref));
  for (const victim of [places[0]!, places.find((p) => p.size === 9 << 20)!]) {
    const fd = openSync(victim.path, 'r+');
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, victim.offset + (victim.size >> 1));
    byte[0]! ^= 0x40;
    writeSync(fd, byte, 0, 1, victim.offset + (victim.size >> 1));
    closeSync(fd);
    const target = join(dir, `damaged-${victim.size}`);
    const planned = await planLayerRestore(layout, await readLayer(layout, record.hash), { whiteouts: 'overlay' });
    t.is(await restorePlanned(layout.store, target, planned!, { whiteouts: 'overlay' }), undefined);
    t.deepEqual(readdirSync(target), []);
    const err = await t.throwsAsync(unpackLayer(layout, record.hash, join(dir, `via-layer-${victim.size}`), { whiteouts: 'overlay' }));
    t.is((err as { code?: string }).code, 'KP_STORE_OBJECT_CORRUPT');
    // Put back, for the next victim.
    byte[0]! ^= 0x40;
    const back = openSync(victim.path, 'r+');
    writeSync(back, byte, 0, 1, victim.offset + (victim.size >> 1));
    closeSync(back);
  }
});
