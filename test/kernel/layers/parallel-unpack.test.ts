/**
 * The unpacker's thread pool (kernel/src/layers/unpack-pool.ts): with 0, 1 or 2 threads the
 * same archive gives the same tree; content hashes computed by the writing thread are the
 * content's; `recordDisk` reports exactly what lstat(2) reports afterwards; an archive that
 * replaces an entry falls back to the serial path and still ends right; a thread's failure
 * (a full disk) is the unpack's error, reported without hanging; prestarted threads are
 * used and never hold a process open. unpackTarFile without the native unpacker takes the
 * serial reference (the pool is slower on a file): the same tree and the file's hash, and
 * a file that shrinks fails as changed.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, truncateSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import tarStream from 'tar-stream';
import {
  hashBytes, packTree, prestartUnpackThreads, unpackTarFile, unpackTarStream, type DiskStat, type UnpackFileStats, type UnpackOptions,
} from '@karapace/kernel';
import { mountTmpfs } from '../../helpers/tmpfs.js';

const isRoot = process.geteuid?.() === 0;

/** A tree with what a rootfs has: many small files, big ones spanning the pool's slots, links, odd modes. */
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

test('0, 1 and 2 threads unpack the same tree; hashes and recorded stats are what the disk says', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-punpack-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const src = join(dir, 'src');
  makeTree(src);
  const tar = await tarOf(src);
  const expected = describe(src);
  const tarFile = join(dir, 'tree.tar');
  writeFileSync(tarFile, tar);
  // unpackTarFile: the serial reference, whatever `threads` says (they are the native unpacker's).
  for (const [threads, fromFile] of [[0, false], [1, false], [2, false], [0, true], [2, true]] as const) {
    const out = join(dir, `out-${threads}-${fromFile ? 'file' : 'stream'}`);
    const hashes = new Map<string, string | undefined>();
    const options: UnpackOptions = {
      whiteouts: 'apply', threads, recordDisk: true,
      onEntry: (e) => {
        if (e.type !== 'file') return;
        hashes.set(e.path, undefined);
        return { onHash: (h: string) => void hashes.set(e.path, h) };
      },
    };
    const stats = fromFile ? await unpackTarFile(tarFile, out, options) : await unpackTarStream(reusing(tar), out, options);
    if (fromFile) t.deepEqual((stats as UnpackFileStats).archive, { blake3: hashBytes(tar), size: tar.length }, `${threads} thread(s): the file's hash`);
    t.deepEqual(describe(out), expected, `${threads} thread(s), ${fromFile ? 'reading the file' : 'from the stream'}: same tree`);
    // The writing thread's hashes are the contents' (a hard link's second name is a link entry, not a file).
    t.true(hashes.size > 480, `${threads} thread(s): file entries seen`);
    for (const [rel, hash] of hashes) t.is(hash, hashBytes(readFileSync(join(out, rel))), `${threads} thread(s): hash of ${rel}`);
    // recordDisk: every path, with exactly what lstat says now.
    t.truthy(stats.disk, `${threads} thread(s): disk recorded`);
    t.deepEqual([...stats.disk!.keys()].sort(), Object.keys(expected).sort(), `${threads} thread(s): every path recorded`);
    for (const [rel, st] of stats.disk!) t.deepEqual(fields(st), fields(lstatSync(join(out, rel))), `${threads} thread(s): stat of ${rel}`);
  }
});

test('unpackTarFile into a directory that is not empty takes the serial path and still hashes the file', async (t) => {
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
  const stats = await unpackTarFile(tarFile, out, { whiteouts: 'apply', threads: 2, recordDisk: true });
  t.deepEqual(stats.archive, { blake3: hashBytes(tar), size: tar.length });
  t.is(stats.disk, undefined, 'no recorded stats for a target that was not empty');
  t.is(readFileSync(join(out, 'kept'), 'utf8'), 'not in the archive');
  rmSync(join(out, 'kept'));
  t.deepEqual(describe(out), describe(src));
});

test('an archive that replaces an entry leaves the parallel path and still ends with the last version', async (t) => {
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
  const stats = await unpackTarStream([Buffer.concat(chunks)], out, { whiteouts: 'apply', threads: 2, recordDisk: true });
  t.is(readFileSync(join(out, 'etc/f7'), 'utf8'), 'second');
  t.is(lstatSync(join(out, 'etc/f7')).mode & 0o777, 0o600);
  t.is(readFileSync(join(out, 'etc/l'), 'utf8'), 'a file now');
  t.true(lstatSync(join(out, 'etc/l')).isFile());
  t.is(lstatSync(join(out, 'etc/h')).ino, lstatSync(join(out, 'etc/f7')).ino);
  t.is(readFileSync(join(out, 'etc/f199'), 'utf8'), 'first 199');
  t.is(stats.disk, undefined, 'no recorded stats once the archive replaced something');
});

test('prestarted threads unpack the next archive and keep no process alive when unused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-punpack-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const src = join(dir, 'src');
  makeTree(src);
  prestartUnpackThreads(2);
  await unpackTarStream(reusing(await tarOf(src)), join(dir, 'out'), { whiteouts: 'apply', threads: 2 });
  t.deepEqual(describe(join(dir, 'out')), describe(src));
  // A process that prestarts them and then has nothing to unpack still exits at once.
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', "import { prestartUnpackThreads } from '@karapace/kernel'; prestartUnpackThreads(2); console.log('done')"], {
    cwd: fileURLToPath(new URL('../../..', import.meta.url)), encoding: 'utf8', timeout: 30_000,
  });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), 'done');
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

(isRoot ? test : test.skip)('a thread that fails (disk full) fails the unpack with its error, without hanging', async (t) => {
  const mnt = mountTmpfs(t, '1m', 'kp-punpack-full-');
  if (!mnt) return;
  const pack = tarStream.pack();
  for (let i = 0; i < 64; i++) pack.entry({ name: `f${i}`, mode: 0o644 }, randomBytes(64 * 1024));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(Buffer.from(c as Uint8Array));
  const tar = Buffer.concat(chunks);
  const err = await t.throwsAsync(unpackTarStream([tar], join(mnt, 'out'), { whiteouts: 'apply', threads: 2 }));
  t.is((err as NodeJS.ErrnoException).code, 'ENOSPC', err!.message);
  // The same for a tar file (the serial reference).
  const tarFile = join(mkdtempSync(join(tmpdir(), 'kp-punpack-')), 'full.tar');
  t.teardown(() => rmSync(join(tarFile, '..'), { recursive: true, force: true }));
  writeFileSync(tarFile, tar);
  const err2 = await t.throwsAsync(unpackTarFile(tarFile, join(mnt, 'out2'), { whiteouts: 'apply', threads: 2 }));
  t.is((err2 as NodeJS.ErrnoException).code, 'ENOSPC', err2!.message);
});
