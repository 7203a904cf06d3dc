/**
 * Layers on a real filesystem: deterministic packing, and pack → unpack reproducing the
 * tree (modes, owners, symlinks, hardlinks, xattrs incl. binary ones, overlay whiteouts and
 * opaque directories). GNU tar must read our layers too.
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, readlinkSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { packTree, unpackTarStream, packLayer, unpackLayer, readLayer, storeLayout, layerTar } from '@karapace/kernel';

const require = createRequire(import.meta.url);
const xattr = require('@napi-rs/xattr') as typeof import('@napi-rs/xattr');
const isRoot = process.geteuid?.() === 0;
// A file capability (v2): permitted cap_setuid + cap_net_bind_service; bytes ≥ 0x80 are not UTF-8.
const CAP = Buffer.from([1, 0, 0, 2, 0x80, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

async function tarOf(dir: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of packTree(dir)) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

function makeTree(root: string): void {
  mkdirSync(join(root, 'etc/app'), { recursive: true });
  writeFileSync(join(root, 'etc/app/conf'), 'key=value\n');
  chmodSync(join(root, 'etc/app/conf'), 0o640);
  writeFileSync(join(root, 'etc/app/run.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(join(root, 'etc/app/run.sh'), 0o4755);
  linkSync(join(root, 'etc/app/conf'), join(root, 'etc/app/conf.hardlink'));
  symlinkSync('app/conf', join(root, 'etc/link'));
  symlinkSync('/nonexistent/target', join(root, 'dangling'));
  mkdirSync(join(root, 'private'), { mode: 0o700 });
  writeFileSync(join(root, 'big.bin'), Buffer.alloc(3 * 1024 * 1024 + 17, 7));
  writeFileSync(join(root, 'ünïcødé ' + 'long-name-'.repeat(15)), 'unicode and long');
  xattr.setAttributeSync(join(root, 'etc/app/conf'), 'user.comment', 'hello');
  xattr.setAttributeSync(join(root, 'etc/app'), 'user.dirattr', Buffer.from([0, 1, 2, 0xff]));
  if (isRoot) {
    chownSync(join(root, 'etc/app/conf'), 1000, 1001);
    chownSync(join(root, 'private'), 3000000, 3000001); // beyond ustar's 7 octal digits
    xattr.setAttributeSync(join(root, 'etc/app/run.sh'), 'security.capability', CAP);
    chmodSync(join(root, 'etc/app/run.sh'), 0o4755); // setting a capability may clear set-uid
    // overlay upper-dir markers: a whiteout (char 0/0) and an opaque directory
    execFileSync('mknod', ['-m', '000', join(root, 'etc/deleted'), 'c', '0', '0']);
    mkdirSync(join(root, 'opaque'));
    writeFileSync(join(root, 'opaque/kept'), 'new');
    xattr.setAttributeSync(join(root, 'opaque'), 'trusted.overlay.opaque', 'y');
  }
}

function describe(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(root, r);
      const st = lstatSync(p);
      const xs = st.isSymbolicLink() ? [] : xattr.listAttributesSync(p).sort().map((k) => `${k}=${xattr.getAttributeSync(p, k)?.toString('hex')}`);
      let kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? `l->${readlinkSync(p)}` : st.isCharacterDevice() ? `c${st.rdev}` : `f:${readFileSync(p).length}:${st.nlink}`;
      out.push(`${r} ${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${xs.join(',')}`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

test('packing is deterministic and a pack → unpack round trip reproduces the tree', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-layer-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const src = join(dir, 'src');
  mkdirSync(src);
  makeTree(src);
  const a = await tarOf(src);
  const b = await tarOf(src);
  t.true(a.equals(b), 'two packs of the same tree are byte-identical');

  const out = join(dir, 'out');
  const stats = await unpackTarStream([a], out, { whiteouts: 'overlay' });
  t.deepEqual(stats.warnings, []);
  const expected = describe(src).map((l) => l.replace(/trusted\.overlay\.opaque=79,?/, ''));
  const actual = describe(out).map((l) => l.replace(/(trusted|user)\.overlay\.opaque=79,?/g, ''));
  t.deepEqual(actual, expected);
  t.true((await tarOf(out)).equals(a), 're-packing the unpacked tree gives the same bytes');
  if (isRoot) {
    t.true(lstatSync(join(out, 'etc/deleted')).isCharacterDevice(), 'whiteout recreated as a 0/0 device');
    t.is(xattr.getAttributeSync(join(out, 'opaque'), 'trusted.overlay.opaque')?.toString(), 'y');
    t.deepEqual(xattr.getAttributeSync(join(out, 'etc/app/run.sh'), 'security.capability'), CAP);
  }
  t.is(lstatSync(join(out, 'etc/app/conf')).ino, lstatSync(join(out, 'etc/app/conf.hardlink')).ino, 'hardlink kept');
});

test('GNU tar reads our layers: names, hardlinks, whiteout markers and xattrs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-layer-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const src = join(dir, 'src');
  mkdirSync(src);
  makeTree(src);
  writeFileSync(join(dir, 'l.tar'), await tarOf(src));
  const listing = spawnSync('tar', ['--xattrs', '--xattrs-include=*', '-tvvf', join(dir, 'l.tar')], { encoding: 'utf8' });
  t.is(listing.status, 0, listing.stderr);
  t.regex(listing.stdout, /etc\/app\/conf\.hardlink link to etc\/app\/conf/);
  t.regex(listing.stdout, /user\.comment/);
  t.regex(listing.stdout, /ünïcødé long-name-/);
  t.regex(listing.stdout, /1970-01-01 00:00/);
  if (isRoot) {
    t.regex(listing.stdout, /etc\/\.wh\.deleted/);
    t.regex(listing.stdout, /opaque\/\.wh\.\.wh\.\.opq/);
    const x = join(dir, 'gnu');
    mkdirSync(x);
    t.is(spawnSync('tar', ['--xattrs', '--xattrs-include=*', '-xf', join(dir, 'l.tar'), '-C', x]).status, 0);
    t.deepEqual(xattr.getAttributeSync(join(x, 'etc/app/run.sh'), 'security.capability'), CAP, 'binary xattr survives GNU tar');
  }
});

test('apply mode deletes whited-out paths and clears opaque directories (OCI flattening)', async (t) => {
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dir = mkdtempSync(join(tmpdir(), 'kp-layer-'));
  const target = join(dir, 'rootfs');
  mkdirSync(join(target, 'a/sub'), { recursive: true });
  writeFileSync(join(target, 'a/old'), 'lower');
  writeFileSync(join(target, 'a/sub/x'), 'lower');
  mkdirSync(join(target, 'o'));
  writeFileSync(join(target, 'o/lower'), 'lower');
  const tarStream = (await import('tar-stream')).default;
  const pack = tarStream.pack();
  pack.entry({ name: 'a/.wh.old', size: 0 }, '');
  pack.entry({ name: 'a/.wh.sub', size: 0 }, '');
  pack.entry({ name: 'o', type: 'directory' });
  pack.entry({ name: 'o/.wh..wh..opq', size: 0 }, '');
  pack.entry({ name: 'o/upper' }, 'upper');
  pack.finalize();
  await unpackTarStream(pack, target, { whiteouts: 'apply' });
  t.deepEqual(readdirSync(join(target, 'a')), []);
  t.deepEqual(readdirSync(join(target, 'o')), ['upper']);
});

test('packLayer stores contents and a tree; the tar comes back from the tree byte for byte; unpackLayer verifies every object', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-layer-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const layout = storeLayout(join(dir, 'store'));
  const src = join(dir, 'src');
  mkdirSync(src);
  makeTree(src);
  const rec = await packLayer(layout, src, { kind: 'snapshot', message: 'm' });
  // The record as stored; `added` only reports what this pack wrote.
  const { added: _added, ...stored } = rec as typeof rec & { added?: unknown };
  t.deepEqual(await readLayer(layout, rec.hash), stored);
  // The layer's tar, produced from its tree, is the packer's tar byte for byte.
  const chunks: Buffer[] = [];
  for await (const c of await layerTar(layout, rec)) chunks.push(Buffer.from(c));
  t.true((await tarOf(src)).equals(Buffer.concat(chunks)));
  const again = await packLayer(layout, src, { kind: 'snapshot' });
  t.is(again.hash, rec.hash, 'same tree, same layer');

  // Corrupt one byte of the largest content object: unpacking must fail and name it.
  const objects = readdirSync(layout.objects).flatMap((shard) => readdirSync(join(layout.objects, shard)).map((rest) => join(layout.objects, shard, rest)));
  const obj = objects.sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
  chmodSync(obj, 0o644);
  const bytes = readFileSync(obj);
  bytes[bytes.length - 2000] ^= 0xff;
  writeFileSync(obj, bytes);
  const err = await t.throwsAsync(unpackLayer(layout, rec.hash, join(dir, 'out'), { whiteouts: 'overlay' }));
  t.regex(err!.message, /corrupt|hashes to|integrity|damaged/i);
  t.true(err!.message.includes(obj.split('/').slice(-2).join('').slice(0, 12)) || err!.message.includes(obj.split('/').pop()!), err!.message);
});

test('large files: a source reusing its buffers, odd sizes around 1 MiB and an archive cut inside a file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-layer-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const src = join(dir, 'src');
  mkdirSync(join(src, 'd'), { recursive: true });
  // Random content: a misplaced or reordered write shows. Sizes straddle 1 MiB.
  const big = randomBytes(5 * 1024 * 1024 + 3);
  writeFileSync(join(src, 'd/big'), big);
  chmodSync(join(src, 'd/big'), 0o600);
  writeFileSync(join(src, 'd/exact'), big.subarray(0, 1 << 20));
  writeFileSync(join(src, 'd/small'), 'tiny');
  // packTree with reuseBuffers hands out each chunk only until the next is asked for: the
  // unpacker must be done with a chunk before it asks for the next.
  const out = join(dir, 'out');
  await unpackTarStream(packTree(src, { reuseBuffers: true, chunkSize: 64 * 1024 }), out, { whiteouts: 'overlay' });
  t.true(readFileSync(join(out, 'd/big')).equals(big));
  t.true(readFileSync(join(out, 'd/exact')).equals(big.subarray(0, 1 << 20)));
  t.is(readFileSync(join(out, 'd/small'), 'utf8'), 'tiny');
  t.is(lstatSync(join(out, 'd/big')).mode & 0o7777, 0o600);
  t.deepEqual(describe(out), describe(src), 'same tree');

  // Cut inside the large file: a clear error, and every descriptor is closed.
  const tar = await tarOf(src);
  const cut = tar.subarray(0, tar.indexOf(big.subarray(0, 64)) + 3 * 1024 * 1024);
  const err = await t.throwsAsync(unpackTarStream([cut], join(dir, 'cut'), { whiteouts: 'overlay' }));
  t.regex(err!.message, /truncated/);
  // Files in the target must be closed when the unpack has failed.
  const intoTarget = readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
    } catch {
      return false;
    }
  });
  t.deepEqual(intoTarget, [], 'no descriptor left open');
});
