/**
 * The serial reference unpacker (kernel/src/layers/unpacker.ts), from a stream and from a
 * tar file (unpackTarFile without the native unpacker): the same archive gives the same
 * tree and the file's hash; content hashes are the content's; `recordDisk` reports exactly
 * what lstat(2) reports afterwards; an archive that replaces an entry leaves add-only mode
 * and still ends right; a full disk is the unpack's error; a file that shrinks fails as
 * changed.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import {
  chmodSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, truncateSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tarStream from 'tar-stream';
import {
  hashBytes, packTree, unpackTarFile, unpackTarStream, type DiskStat, type UnpackFileStats, type UnpackOptions,
} from '@karapace/kernel';
import { mountTmpfs } from '../../helpers/tmpfs.js';

const isRoot = process.geteuid?.() === 0;

/** A tree with what a rootfs has: many small files, big ones, links, odd modes. */
function makeTree(root: string): void {
  for (let d = 0; d < 12; d++) {
    const dir = join(root, `usr/share/d${d}`, d % 3 ? 'sub' : '');
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 40; f++) writeFileSync(join(dir, `f${f}.txt`), randomBytes(f * 97));
  }
  writeFileSync(join(root, 'usr/big'), randomBytes(5 * 1024 * 1024 + 11));
  writeFileSync(join(root, 'usr/empty'), '');
  writeFileSync(join(root, 'usr/suid'), '#!/bin/sh\n');
  chmodSync(join(root, 'usr/suid'), 0o4755);
  writeFileSync(join(root, 'usr/secret'), 'x');
  chmodSync(join(root, 'usr/secret'), 0o600);
  linkSync(join(root, 'usr/big'), join(root, 'usr/big.hardlink'));
  linkSync(join(root, 'usr/share/d1/sub/f3.txt'), join(root, 'usr/f3.hardlink'));
  symlinkSync('share/d0/f1.txt', join(root, 'usr/link'));
  symlinkSync('/nonexistent', join(root, 'usr/dangling'));
  mkdirSync(join(root, 'private'), { mode: 0o700 });
  writeFileSync(join(root, 'private/ünïcødé'), 'ü');
}

/** Path → type, mode, size, content hash or link target (what must survive an unpack). */
function describe(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(rel ? join(root, rel) : root).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, r));
      const what = st.isDirectory() ? 'd' : st.isSymbolicLink() ? `l ${readlinkSync(join(root, r))}` : `f ${st.size} ${hashBytes(readFileSync(join(root, r)))}`;
      out[r] = `${(st.mode & 0o7777).toString(8)} ${what}`;
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

async function tarOf(dir: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of packTree(dir)) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** Hands the archive out in 64 KiB pieces of one reused buffer, the way image sources read. */
function* reusing(tar: Buffer): Generator<Buffer> {
  const buf = Buffer.alloc(64 * 1024);
  for (let at = 0; at < tar.length; at += buf.length) {
    const n = tar.copy(buf, 0, at, at + buf.length);
    yield buf.subarray(0, n);
  }
}

const fields = (st: DiskStat) => [st.mode, st.uid, st.gid, st.size, st.ino, st.mtimeMs, st.ctimeMs, st.rdev];

test('a stream and a tar file unpack the same tree; hashes and recorded stats are what the disk says', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-punpack-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const src = join(dir, 'src');
  makeTree(src);
  const tar = await tarOf(src);
  const expected = describe(src);
  const tarFile = join(dir, 'tree.tar');
  writeFileSync(tarFile, tar);
  // unpackTarFile without entriesAfterUnpack: the serial reference, never the native unpacker.
  for (const fromFile of [false, true]) {
    const via = fromFile ? 'reading the file' : 'from the stream';
    const out = join(dir, `out-${fromFile ? 'file' : 'stream'}`);
    const hashes = new Map<string, string | undefined>();
    const options: UnpackOptions = {
      whiteouts: 'apply', recordDisk: true,
      onEntry: (e) => {
        if (e.type !== 'file') return;
        hashes.set(e.path, undefined);
        return { onHash: (h: string) => void hashes.set(e.path, h) };
      },
    };
    const stats = fromFile ? await unpackTarFile(tarFile, out, options) : await unpackTarStream(reusing(tar), out, options);
    t.is((stats as UnpackFileStats).native, undefined, `${via}: the serial reference`);
    if (fromFile) t.deepEqual((stats as UnpackFileStats).archive, { blake3: hashBytes(tar), size: tar.length }, `${via}: the file's hash`);
    t.deepEqual(describe(out), expected, `${via}: same tree`);
    // The hashes are the contents' (a hard link's second name is a link entry, not a file).
    t.true(hashes.size > 480, `${via}: file entries seen`);
    for (const [rel, hash] of hashes) t.is(hash, hashBytes(readFileSync(join(out, rel))), `${via}: hash of ${rel}`);
    // recordDisk: every path, with exactly what lstat says now.
    t.truthy(stats.disk, `${via}: disk recorded`);
    t.deepEqual([...stats.disk!.keys()].sort(), Object.keys(expected).sort(), `${via}: every path recorded`);
    for (const [rel, st] of stats.disk!) t.deepEqual(fields(st), fields(lstatSync(join(out, rel))), `${via}: stat of ${rel}`);
  }
});

test('unpackTarFile into a directory that is not empty takes the lstat-checked path and still hashes the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-punpack-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const src = join(dir, 'src');
  makeTree(src);
  const tar = await tarOf(src);
  const tarFile = join(dir, 'tree.tar');
  writeFileSync(tarFile, tar);
  const out = join(dir, 'out');
  mkdirSync(join(out, 'usr'), { recursive: true });
  writeFileSync(join(out, 'usr/big'), 'an older version');
  writeFileSync(join(out, 'kept'), 'not in the archive');
  const stats = await unpackTarFile(tarFile, out, { whiteouts: 'apply', recordDisk: true, entriesAfterUnpack: true });
  t.is(stats.native, undefined, 'the native unpacker only unpacks into an empty target');
  t.deepEqual(stats.archive, { blake3: hashBytes(tar), size: tar.length });
  t.is(stats.disk, undefined, 'no recorded stats for a target that was not empty');
  t.is(readFileSync(join(out, 'kept'), 'utf8'), 'not in the archive');
  rmSync(join(out, 'kept'));
  t.deepEqual(describe(out), describe(src));
});

test('an archive that replaces an entry leaves add-only mode and still ends with the last version', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-punpack-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pack = tarStream.pack();
  pack.entry({ name: 'etc/', type: 'directory', mode: 0o755 });
  for (let i = 0; i < 200; i++) pack.entry({ name: `etc/f${i}`, mode: 0o644 }, `first ${i}`);
  pack.entry({ name: 'etc/f7', mode: 0o600 }, 'second');
  pack.entry({ name: 'etc/l', type: 'symlink', linkname: 'f1' });
  pack.entry({ name: 'etc/l', mode: 0o644 }, 'a file now');
  pack.entry({ name: 'etc/h', type: 'link', linkname: 'etc/f7' });
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(Buffer.from(c as Uint8Array));
  const out = join(dir, 'out');
  const stats = await unpackTarStream([Buffer.concat(chunks)], out, { whiteouts: 'apply', recordDisk: true });
  t.is(readFileSync(join(out, 'etc/f7'), 'utf8'), 'second');
  t.is(lstatSync(join(out, 'etc/f7')).mode & 0o777, 0o600);
  t.is(readFileSync(join(out, 'etc/l'), 'utf8'), 'a file now');
  t.true(lstatSync(join(out, 'etc/l')).isFile());
  t.is(lstatSync(join(out, 'etc/h')).ino, lstatSync(join(out, 'etc/f7')).ino);
  t.is(readFileSync(join(out, 'etc/f199'), 'utf8'), 'first 199');
  t.is(stats.disk, undefined, 'no recorded stats once the archive replaced something');
});

test('a tar file that shrinks while it is unpacked fails the unpack; no short file is left looking whole', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-punpack-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pack = tarStream.pack();
  for (let i = 0; i < 8; i++) pack.entry({ name: `f${i}`, mode: 0o644 }, randomBytes(256 * 1024));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(Buffer.from(c as Uint8Array));
  const tar = Buffer.concat(chunks);
  for (const cut of [0.5, 0.25, 0.999]) {
    const tarFile = join(dir, `shrinks-${cut}.tar`);
    writeFileSync(tarFile, tar);
    // Cut as soon as the first entry is seen (part of the file is read already).
    let cutDone = false;
    const err = await t.throwsAsync(unpackTarFile(tarFile, join(dir, `out-${cut}`), {
      whiteouts: 'apply',
      onEntry: () => {
        if (!cutDone) truncateSync(tarFile, Math.floor(tar.length * cut));
        cutDone = true;
      },
    }));
    t.regex(err!.message, /truncated: the archive changed while it was being unpacked/, `cut at ${cut}`);
  }
});

(isRoot ? test : test.skip)('a full disk fails the unpack with its error', async (t) => {
  const mnt = mountTmpfs(t, '1m', 'kp-punpack-full-');
  if (!mnt) return;
  const pack = tarStream.pack();
  for (let i = 0; i < 64; i++) pack.entry({ name: `f${i}`, mode: 0o644 }, randomBytes(64 * 1024));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(Buffer.from(c as Uint8Array));
  const tar = Buffer.concat(chunks);
  const err = await t.throwsAsync(unpackTarStream([tar], join(mnt, 'out'), { whiteouts: 'apply' }));
  t.is((err as NodeJS.ErrnoException).code, 'ENOSPC', err!.message);
  // The same for a tar file.
  const tarFile = join(mkdtempSync(join(tmpdir(), 'kp-punpack-')), 'full.tar');
  t.teardown(() => rmSync(join(tarFile, '..'), { recursive: true, force: true }));
  writeFileSync(tarFile, tar);
  const err2 = await t.throwsAsync(unpackTarFile(tarFile, join(mnt, 'out2'), { whiteouts: 'apply' }));
  t.is((err2 as NodeJS.ErrnoException).code, 'ENOSPC', err2!.message);
});
