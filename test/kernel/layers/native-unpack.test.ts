/**
 * The native unpacker (native/untar.c through native-unpack.ts): for archives GNU tar
 * writes (ustar, GNU and PAX formats, long names, implied directories, read-only
 * directories, set-id bits, hard links, symlinks, device nodes) it gives what the
 * TypeScript unpacker gives — the same entries in the same order with the same content
 * hashes, the same tree, the archive's hash — and records stats that are what lstat(2)
 * says afterwards. What it does not handle (whiteouts, xattrs, replaced entries) it hands
 * over, and the result is the TypeScript unpacker's. A file that shrinks under it fails
 * the unpack as the archive having changed. The tree digests it computes (treeDigests)
 * are image-sources' canonical digest and disk digest, and its stats come in their order.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync, closeSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync,
  truncateSync, writeFileSync, writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import tarStream from 'tar-stream';
import { digestTree, hashBytes, SOURCE_SHRANK, unpackTarFile, unpackTarStream, type UnpackEntry, type UnpackFileStats, type UnpackOptions } from '@karapace/kernel';
import { CanonicalTree, digestRootfs, fingerprintRootfs } from '@karapace/image-sources';
import { mountTmpfs } from '../../helpers/tmpfs.js';
import { archive, header } from './_tar.js';

const isRoot = process.geteuid?.() === 0;

test('the native unpacker is built (the rest of this file tests it)', (t) => {
  const addon = fileURLToPath(new URL('../../../native/build/karapace_untar.node', import.meta.url));
  t.true(existsSync(addon), `${addon} is missing: install BLAKE3's C sources (apt-get install librust-blake3-dev), then npm run build:native`);
});

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'kp-native-unpack-'));
  t.teardown(() => {
    spawnSync('chmod', ['-R', 'u+rwx', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** A tree with what rootfs tarballs hold, and what makes tar use its long-name formats. */
function makeTree(root: string): void {
  const deep = join(root, 'usr/share', 'a-rather-long-directory-name'.repeat(3), 'and-deeper-still-'.repeat(4));
  mkdirSync(deep, { recursive: true });
  for (let f = 0; f < 30; f++) writeFileSync(join(deep, `file-with-a-long-name-${'x'.repeat(f * 3)}-${f}`), randomBytes(f * 131));
  mkdirSync(join(root, 'etc/ro/inner'), { recursive: true });
  writeFileSync(join(root, 'etc/ro/inner/conf'), 'conf\n');
  chmodSync(join(root, 'etc/ro/inner'), 0o555);
  chmodSync(join(root, 'etc/ro'), 0o500);
  mkdirSync(join(root, 'tmp'));
  chmodSync(join(root, 'tmp'), 0o1777);
  mkdirSync(join(root, 'bin'));
  writeFileSync(join(root, 'bin/big'), randomBytes(3 * 1024 * 1024 + 7));
  writeFileSync(join(root, 'bin/one-mib'), randomBytes(1024 * 1024));
  writeFileSync(join(root, 'bin/empty'), '');
  writeFileSync(join(root, 'bin/suid'), '#!/bin/sh\n');
  chmodSync(join(root, 'bin/suid'), 0o4755);
  writeFileSync(join(root, 'bin/secret'), 'x');
  chmodSync(join(root, 'bin/secret'), 0o600);
  writeFileSync(join(root, 'bin/grüße-ünïcödé'), 'unicode\n');
  linkSync(join(root, 'bin/suid'), join(root, 'bin/suid-hardlink'));
  symlinkSync('suid', join(root, 'bin/sym'));
  symlinkSync('/dangling/absolute', join(root, 'bin/dangling'));
  linkSync(join(root, 'bin/sym'), join(root, 'bin/sym-hardlink'));
  if (isRoot) {
    mkdirSync(join(root, 'dev'));
    spawnSync('mknod', ['-m', '666', join(root, 'dev/null'), 'c', '1', '3']);
    spawnSync('mknod', ['-m', '600', join(root, 'dev/fifo'), 'p']);
    spawnSync('chown', ['-h', '1234:5678', join(root, 'bin/secret'), join(root, 'bin/sym')]);
    spawnSync('chown', ['4321:4321', join(root, 'etc/ro/inner')]);
  }
}

/** Unpacks `tar` into a new directory; `native`: let the native unpacker take it. */
async function unpack(tar: string, target: string, native: boolean, extra: Partial<UnpackOptions> = {}) {
  const entries: (UnpackEntry & { hash?: string })[] = [];
  const stats: UnpackFileStats = await unpackTarFile(tar, target, {
    whiteouts: 'apply', recordDisk: true, entriesAfterUnpack: native, ...extra,
    onEntry: (e) => {
      const seen: UnpackEntry & { hash?: string } = { ...e };
      entries.push(seen);
      if (e.type === 'file' || e.type === 'contiguous-file') return { onHash: (hash) => void (seen.hash = hash) };
    },
  });
  return { entries, stats };
}

/** What a tree holds, path by path (stat fields that do not depend on when or where it was made). */
function describe(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, r));
      const what = st.isFile() ? hashBytes(readFileSync(join(root, r))) : st.isSymbolicLink() ? readlinkSync(join(root, r)) : String(st.rdev);
      out.push(`${r} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.nlink} ${what}`);
      if (st.isDirectory()) {
        // Read-only directories (the archive's modes): opened up to look inside, then restored.
        chmodSync(join(root, r), st.mode | 0o700);
        walk(r);
        chmodSync(join(root, r), st.mode);
      }
    }
  };
  walk('');
  return out;
}

/** Every recorded stat is what lstat says now (all fields, inode and times too). */
function assertRecordedIsDisk(t: import('ava').ExecutionContext, root: string, stats: UnpackFileStats): void {
  t.truthy(stats.disk);
  for (const [rel, st] of stats.disk!) {
    const now = lstatSync(join(root, rel));
    const fields = ['mode', 'uid', 'gid', 'size', 'ino', 'mtimeMs', 'ctimeMs', 'rdev'] as const;
    t.deepEqual(fields.map((f) => st[f]), fields.map((f) => now[f]), rel);
  }
}

for (const format of ['gnu', 'pax', 'ustar'] as const) {
  test(`a ${format} archive unpacks natively into what the TypeScript unpacker makes`, async (t) => {
    const dir = tempDir(t);
    const src = join(dir, 'src');
    mkdirSync(src);
    makeTree(src);
    const tar = join(dir, 'tree.tar');
    // ustar cannot hold the long names: that archive leaves the deep directory out.
    const members = format === 'ustar' ? ['./bin', './etc', './tmp', ...(isRoot ? ['./dev'] : [])] : ['.'];
    const made = spawnSync('tar', ['-cf', tar, `--format=${format}`, '-C', src, ...members]);
    t.is(made.status, 0, String(made.stderr));
    const native = await unpack(tar, join(dir, 'native'), true);
    const typescript = await unpack(tar, join(dir, 'typescript'), false);
    t.true(native.stats.native);
    t.falsy(typescript.stats.native);
    t.deepEqual(native.entries, typescript.entries);
    t.true(native.entries.filter((e) => e.type === 'file').every((e) => typeof e.hash === 'string'));
    t.deepEqual(native.stats.archive, typescript.stats.archive);
    t.is(native.stats.archive!.blake3, hashBytes(readFileSync(tar)));
    t.is(native.stats.entries, typescript.stats.entries);
    t.is(native.stats.bytes, typescript.stats.bytes);
    t.deepEqual(native.stats.warnings, typescript.stats.warnings);
    t.deepEqual([...native.stats.disk!.keys()].sort(), [...typescript.stats.disk!.keys()].sort());
    // First: describe() opens directories up to look inside, which changes their ctime.
    assertRecordedIsDisk(t, join(dir, 'native'), native.stats);
    t.deepEqual(describe(join(dir, 'native')), describe(join(dir, 'typescript')));
    if (format !== 'ustar') t.deepEqual(describe(join(dir, 'native')), describe(src));
  });
}

test('directories the archive implies but does not list are made 0755, as the TypeScript unpacker makes them', async (t) => {
  const dir = tempDir(t);
  const pack = tarStream.pack();
  pack.entry({ name: 'a/b/c/file', mode: 0o640, uid: 0, gid: 0 }, 'deep');
  pack.entry({ name: 'a/b', type: 'directory', mode: 0o711 });
  pack.entry({ name: 'x/link', type: 'symlink', linkname: '../a/b/c/file' });
  pack.entry({ name: 'x/hard', type: 'link', linkname: 'a/b/c/file' });
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(Buffer.from(c as Uint8Array));
  writeFileSync(join(dir, 'implied.tar'), Buffer.concat(chunks));
  const native = await unpack(join(dir, 'implied.tar'), join(dir, 'native'), true);
  const typescript = await unpack(join(dir, 'implied.tar'), join(dir, 'typescript'), false);
  t.true(native.stats.native);
  t.deepEqual(native.entries, typescript.entries);
  // First: describe() opens directories up to look inside, which changes their ctime.
  assertRecordedIsDisk(t, join(dir, 'native'), native.stats);
  t.deepEqual(describe(join(dir, 'native')), describe(join(dir, 'typescript')));
  t.is(lstatSync(join(dir, 'native/a/b')).mode & 0o7777, 0o711);
  t.is(lstatSync(join(dir, 'native/a/b/c')).mode & 0o777, 0o755 & ~process.umask());
  t.is(lstatSync(join(dir, 'native/x/hard')).nlink, 2);
});

test('without owners (what an unprivileged user gets) files keep their modes and no ids are set', async (t) => {
  const dir = tempDir(t);
  const pack = tarStream.pack();
  pack.entry({ name: 'd', type: 'directory', mode: 0o750, uid: 1234, gid: 1234 });
  pack.entry({ name: 'd/f', mode: 0o2755, uid: 1234, gid: 1234 }, 'x');
  pack.entry({ name: 'd/s', type: 'symlink', linkname: 'f', uid: 1234, gid: 1234 });
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(Buffer.from(c as Uint8Array));
  writeFileSync(join(dir, 'ids.tar'), Buffer.concat(chunks));
  const native = await unpack(join(dir, 'ids.tar'), join(dir, 'native'), true, { owners: false });
  const typescript = await unpack(join(dir, 'ids.tar'), join(dir, 'typescript'), false, { owners: false });
  t.true(native.stats.native);
  assertRecordedIsDisk(t, join(dir, 'native'), native.stats);
  t.deepEqual(describe(join(dir, 'native')), describe(join(dir, 'typescript')));
  t.is(lstatSync(join(dir, 'native/d/f')).uid, process.geteuid!());
  t.is(lstatSync(join(dir, 'native/d/f')).mode & 0o7777, 0o2755);
});

const handedOver: [string, Record<string, unknown>[]][] = [
  ['a whiteout', [{ name: 'a', type: 'directory' }, { name: 'a/f' }, { name: 'a/.wh.f' }]],
  ['an xattr', [{ name: 'f', pax: { 'SCHILY.xattr.user.kp': 'v' } }]],
  ['a file replacing an earlier one', [{ name: 'f' }, { name: 'f', mode: 0o600 }]],
  ['a directory replacing a file', [{ name: 'f' }, { name: 'f', type: 'directory' }]],
  ['a path with a "." inside', [{ name: 'a', type: 'directory' }, { name: 'a/./f' }]],
  ['a global PAX header', [{ name: 'f' }]],
];

for (const [what, headers] of handedOver) {
  test(`${what}: handed over to the TypeScript unpacker, with its result`, async (t) => {
    const dir = tempDir(t);
    const pack = tarStream.pack();
    for (const h of headers) pack.entry(h as never, h.type === 'directory' ? undefined : `body of ${String(h.name)}`);
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(Buffer.from(c as Uint8Array));
    let tar = Buffer.concat(chunks);
    // tar-stream writes no global headers: this one is made by hand (type 'g', 0 bytes).
    if (what === 'a global PAX header') tar = Buffer.concat([globalHeader(), tar]);
    writeFileSync(join(dir, 'x.tar'), tar);
    const native = await unpack(join(dir, 'x.tar'), join(dir, 'native'), true);
    const typescript = await unpack(join(dir, 'x.tar'), join(dir, 'typescript'), false);
    t.falsy(native.stats.native);
    t.deepEqual(native.entries, typescript.entries);
    t.deepEqual(describe(join(dir, 'native')), describe(join(dir, 'typescript')));
    t.deepEqual(native.stats.archive, typescript.stats.archive);
  });
}

function globalHeader(): Buffer {
  const b = Buffer.alloc(512);
  b.write('pax_global_header', 0);
  b.write('0000644\0', 100);
  b.write('00000000000\0', 124);
  b.write('00000000000\0', 136);
  b[156] = 'g'.charCodeAt(0);
  b.write('ustar\x0000', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}

test('a tar file that shrinks while the native unpacker reads it fails as changed, not as corrupt', async (t) => {
  const dir = tempDir(t);
  // One 256 MiB entry of zeros, sparse on disk: cheap to make, long enough to cut it mid-unpack.
  const tar = join(dir, 'big.tar');
  const size = 256 * 1024 * 1024;
  const pack = tarStream.pack();
  pack.entry({ name: 'small' }, 'x');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(Buffer.from(c as Uint8Array));
  const small = Buffer.concat(chunks);
  const big = Buffer.from(small.subarray(0, 512));
  // The same header with the big size (and its checksum redone).
  big.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  big.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of big) sum += byte;
  big.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  const fd = openSync(tar, 'w');
  writeSync(fd, big, 0, 512, 0);
  closeSync(fd);
  truncateSync(tar, 512 + size + 1024);
  const cut = setTimeout(() => truncateSync(tar, 512 + size / 2), 30);
  const err = await t.throwsAsync(unpackTarFile(tar, join(dir, 'out'), { whiteouts: 'apply', recordDisk: true, entriesAfterUnpack: true }));
  clearTimeout(cut);
  t.true(err!.message.includes(SOURCE_SHRANK), err!.message);
});

test('progress is reported, ending at the archive read', async (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'src');
  mkdirSync(src);
  makeTree(src);
  const tar = join(dir, 'tree.tar');
  t.is(spawnSync('tar', ['-cf', tar, '-C', src, '.']).status, 0);
  const seen: number[] = [];
  const { stats } = await unpack(tar, join(dir, 'out'), true, { onProgress: (p) => seen.push(p) });
  t.true(stats.native);
  t.true(seen.length > 0);
  t.true(seen.every((p, i) => i === 0 || p >= seen[i - 1]!));
  t.true(seen.at(-1)! > 0 && seen.at(-1)! <= lstatSync(tar).size);
});

for (const owners of [true, false]) {
  test(`the tree digests computed natively are the canonical and disk digests the TypeScript side computes (owners ${owners})`, async (t) => {
    const dir = tempDir(t);
    const src = join(dir, 'src');
    mkdirSync(src);
    makeTree(src);
    // Names that sort differently by byte and by position: '/' below every other character.
    mkdirSync(join(src, 'sort'));
    for (const name of ['a', 'a-b', 'a.b', 'a0', 'A', 'é', 'z']) writeFileSync(join(src, 'sort', name), name);
    mkdirSync(join(src, 'sort/a-dir'));
    writeFileSync(join(src, 'sort/a-dir/x'), 'x');
    const tar = join(dir, 'tree.tar');
    t.is(spawnSync('tar', ['-cf', tar, '--format=gnu', '-C', src, '.']).status, 0);
    // Implied directories too: members named without their parents.
    const implied = join(dir, 'implied.tar');
    t.is(spawnSync('tar', ['-cf', implied, '--no-recursion', '-C', src, 'bin/suid', 'bin/sym', 'sort/a-dir/x', 'etc/ro/inner/conf']).status, 0);
    for (const archive of [tar, implied]) {
      const native = join(dir, `native-${archive === tar ? 'tree' : 'implied'}`);
      const nat = await unpackTarFile(archive, native, { whiteouts: 'apply', recordDisk: true, entriesAfterUnpack: true, treeDigests: true, owners });
      t.truthy(nat.treeDigests, 'computed natively');
      // The reference: the canonical tree fed by the TypeScript unpacker, and a digest of its disk.
      const tree = new CanonicalTree();
      const typescript = join(dir, `typescript-${archive === tar ? 'tree' : 'implied'}`);
      const ts = await unpackTarFile(archive, typescript, { whiteouts: 'apply', recordDisk: true, onEntry: tree.onEntry, owners });
      t.falsy(ts.native);
      t.is(nat.treeDigests!.tree, tree.digest().digest);
      const reference = await digestRootfs(typescript, tree.contentHashes(), ts.disk);
      t.is(nat.treeDigests!.disk, reference.digest);
      // A walk over the native tree agrees (the disk digest is digestTree's), and the stats
      // come in the walk's order: the fingerprint from them is a walk's fingerprint.
      t.is(nat.treeDigests!.disk, (await digestTree(native)).digest);
      t.is((await digestRootfs(native)).fingerprint, await fingerprintRootfs(native));
      const order = [...nat.disk!.keys()];
      const sorted = [...order].sort((a, b) => (a.replaceAll('/', '\0') < b.replaceAll('/', '\0') ? -1 : 1));
      t.deepEqual(order, sorted);
      t.is(new Set(order).size, order.length);
      assertRecordedIsDisk(t, native, nat);
    }
  });
}

test('a name above U+FFFF (sorted differently by UTF-16 and UTF-8) leaves the digests to the TypeScript side, which gets every entry', async (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'src');
  mkdirSync(src);
  for (const name of ['\u{1F600}', '\uFF01', 'plain']) writeFileSync(join(src, name), name);
  const tar = join(dir, 'tree.tar');
  t.is(spawnSync('tar', ['-cf', tar, '-C', src, '.']).status, 0);
  const tree = new CanonicalTree();
  const stats = await unpackTarFile(tar, join(dir, 'out'), { whiteouts: 'apply', recordDisk: true, entriesAfterUnpack: true, treeDigests: true, onEntry: tree.onEntry });
  t.true(stats.native);
  t.is(stats.treeDigests, undefined);
  const reference = new CanonicalTree();
  await unpackTarFile(tar, join(dir, 'reference'), { whiteouts: 'apply', onEntry: reference.onEntry });
  t.is(tree.digest().digest, reference.digest().digest);
  t.is(tree.digest().entries, 3);
});

test('a hard link to a device node that could not be made is not made either: a warning, on every path', async (t) => {
  const dir = tempDir(t);
  // Major 5000 does not fit Linux's device numbers: mknod fails even for root.
  const tar = archive(
    header({ name: 'dev/', type: '5', mode: 0o755 }),
    header({ name: 'dev/odd', type: '3', mode: 0o600, devmajor: 5000, devminor: 1 }),
    header({ name: 'dev/odd-link', type: '1', linkname: 'dev/odd' }),
    header({ name: 'dev/odd-link-2', type: '1', linkname: 'dev/odd-link' }),
    header({ name: 'dev/fifo', type: '6', mode: 0o600 }),
    header({ name: 'dev/fifo-link', type: '1', linkname: 'dev/fifo' }),
  );
  writeFileSync(join(dir, 'links.tar'), tar);
  const runs: [string, (target: string, tree: CanonicalTree) => Promise<UnpackFileStats>][] = [
    ['stream', (target, tree) => unpackTarStream([tar], target, { whiteouts: 'apply', onEntry: tree.onEntry, recordDisk: true })],
    ['file', (target, tree) => unpackTarFile(join(dir, 'links.tar'), target, { whiteouts: 'apply', onEntry: tree.onEntry, recordDisk: true })],
    ['native, handed over', (target, tree) => unpackTarFile(join(dir, 'links.tar'), target, { whiteouts: 'apply', onEntry: tree.onEntry, recordDisk: true, entriesAfterUnpack: true, treeDigests: true })],
  ];
  const digests = new Set<string>();
  for (const [via, run] of runs) {
    const target = join(dir, via);
    const tree = new CanonicalTree();
    const stats = await run(target, tree);
    t.falsy(stats.native, via);
    t.deepEqual(readdirSync(join(target, 'dev')).sort(), ['fifo', 'fifo-link'], via);
    t.is(lstatSync(join(target, 'dev/fifo-link')).ino, lstatSync(join(target, 'dev/fifo')).ino, via);
    t.deepEqual(stats.warnings.filter((w) => w.includes('hard link')), [
      'dev/odd-link: hard link to the character-device "dev/odd" not created (its target was not)',
      'dev/odd-link-2: hard link to the character-device "dev/odd-link" not created (its target was not)',
    ], via);
    t.deepEqual([...stats.disk!.keys()].sort(), ['dev', 'dev/fifo', 'dev/fifo-link'], via);
    // The canonical tree has what a faithful extraction makes: three device entries, one rdev.
    const listing = tree.digest().listing;
    t.is(listing.split('\n').filter((l) => l.startsWith('c dev/odd')).length, 3, via);
    digests.add(tree.digest().digest);
  }
  t.is(digests.size, 1);
});

(isRoot ? test : test.skip)('a full disk hands over too: the TypeScript unpacker fails with ENOSPC, nothing hangs', async (t) => {
  const mnt = mountTmpfs(t, '1m', 'kp-native-full-');
  if (!mnt) return;
  const dir = tempDir(t);
  const pack = tarStream.pack();
  for (let i = 0; i < 64; i++) pack.entry({ name: `f${i}`, mode: 0o644 }, randomBytes(64 * 1024));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(Buffer.from(c as Uint8Array));
  writeFileSync(join(dir, 'full.tar'), Buffer.concat(chunks));
  const err = await t.throwsAsync(unpackTarFile(join(dir, 'full.tar'), join(mnt, 'out'), { whiteouts: 'apply', entriesAfterUnpack: true, treeDigests: true }));
  t.is((err as NodeJS.ErrnoException).code, 'ENOSPC', err!.message);
});
