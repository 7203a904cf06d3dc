import test from 'ava';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { digestTree } from '@karapace/kernel';
import { CanonicalTree, digestRootfs, fingerprintRootfs, makedev, unpackImage } from '@karapace/image-sources';

type Entry = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; body?: string; linkname?: string; mode?: number };

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((r) => pack.on('end', r));
  for (const e of entries) {
    await new Promise<void>((resolve, reject) =>
      pack.entry({ name: e.name, type: e.type ?? 'file', mode: e.mode ?? (e.type === 'directory' ? 0o755 : 0o644), linkname: e.linkname, uid: 0, gid: 0 }, e.type === 'file' || !e.type ? e.body ?? '' : undefined, (err) => (err ? reject(err) : resolve())),
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

function target(t: import('ava').ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'kp-extract-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'root'));
  return dir;
}

/** Unpacks with a fresh canonical tree (one layer). */
async function unpack(tar: Buffer, root: string, tree = new CanonicalTree()) {
  const stats = await unpackImage(Readable.from([tar]), root, tree);
  return { stats, tree };
}

test('makedev matches Linux device numbers', (t) => {
  t.is(makedev(1, 3), 0x103); // /dev/null
  t.is(makedev(136, 0), 0x8800);
  t.is(makedev(259, 300), (300 & 0xff) | (259 << 8) | ((300 & ~0xff) << 12));
});

test('extracts files, directories, symlinks and hard links with their modes', async (t) => {
  const dir = target(t);
  const root = join(dir, 'root');
  const tar = await tarOf([
    { name: './etc/', type: 'directory', mode: 0o755 },
    { name: './etc/hostname', body: 'box\n', mode: 0o644 },
    { name: './bin/', type: 'directory', mode: 0o555 },
    { name: './bin/tool', body: '#!/bin/sh\n', mode: 0o4755 },
    { name: './bin/alias', type: 'link', linkname: './bin/tool' },
    { name: './sh', type: 'symlink', linkname: '/bin/tool' },
  ]);
  const { stats, tree } = await unpack(tar, root);
  t.is(stats.entries, 6);
  t.is(readFileSync(join(root, 'etc/hostname'), 'utf8'), 'box\n');
  t.is(lstatSync(join(root, 'bin')).mode & 0o7777, 0o555);
  t.is(lstatSync(join(root, 'bin/tool')).mode & 0o7777, 0o4755);
  t.is(lstatSync(join(root, 'bin/alias')).ino, lstatSync(join(root, 'bin/tool')).ino);
  t.is(readlinkSync(join(root, 'sh')), '/bin/tool');
  // Headers say 0:0 and we are root: the canonical digest (from the archive) and the
  // one-pass disk digest (hashes seen while unpacking) both equal the kernel's digestTree.
  const kernel = (await digestTree(root)).digest;
  if (process.geteuid?.() === 0) t.is(tree.digest().digest, kernel);
  const mine = await digestRootfs(root, tree.contentHashes());
  t.is(mine.digest, kernel);
  t.is(mine.fingerprint, await fingerprintRootfs(root));
});

test('refuses absolute paths and ..', async (t) => {
  for (const name of ['/abs-file', '../escape', 'a/../../escape']) {
    const dir = target(t);
    const tar = await tarOf([{ name, body: 'x' }]);
    await t.throwsAsync(unpack(tar, join(dir, 'root')), { code: 'KP_IMAGE_UNSAFE_ARCHIVE' } as never);
    t.false(existsSync(join(dir, 'abs-file')) || existsSync(join(dir, 'escape')));
  }
});

test('refuses to write through a symlink planted by an earlier entry', async (t) => {
  const dir = target(t);
  mkdirSync(join(dir, 'outside'));
  const tar = await tarOf([
    { name: 'evil', type: 'symlink', linkname: join(dir, 'outside') },
    { name: 'evil/pwned', body: 'gotcha' },
  ]);
  await t.throwsAsync(unpack(tar, join(dir, 'root')), { code: 'KP_IMAGE_UNSAFE_ARCHIVE', message: /symlink "evil"/ } as never);
  t.false(existsSync(join(dir, 'outside', 'pwned')));
});

test('a symlink later replaced by a file is replaced, not written through', async (t) => {
  const dir = target(t);
  writeFileSync(join(dir, 'victim'), 'original');
  const tar = await tarOf([
    { name: 'link', type: 'symlink', linkname: join(dir, 'victim') },
    { name: 'link', body: 'new content' },
  ]);
  await unpack(tar, join(dir, 'root'));
  t.is(readFileSync(join(dir, 'victim'), 'utf8'), 'original');
  t.true(lstatSync(join(dir, 'root', 'link')).isFile());
});

test('refuses a hard link whose target path goes through a symlink', async (t) => {
  const dir = target(t);
  writeFileSync(join(dir, 'secret'), 'host secret');
  const tar = await tarOf([
    { name: 'up', type: 'symlink', linkname: dir },
    { name: 'stolen', type: 'link', linkname: 'up/secret' },
  ]);
  await t.throwsAsync(unpack(tar, join(dir, 'root')), { code: 'KP_IMAGE_UNSAFE_ARCHIVE' } as never);
  t.false(existsSync(join(dir, 'root', 'stolen')));
});

test('OCI whiteouts delete files and opaque directories from earlier layers', async (t) => {
  const dir = target(t);
  const root = join(dir, 'root');
  const tree = new CanonicalTree();
  await unpack(await tarOf([
    { name: 'etc/', type: 'directory' }, { name: 'etc/keep', body: 'k' }, { name: 'etc/gone', body: 'g' },
    { name: 'opaque/', type: 'directory' }, { name: 'opaque/old', body: 'o' },
  ]), root, tree);
  await unpack(await tarOf([
    { name: 'etc/.wh.gone', body: '' },
    { name: 'opaque/', type: 'directory' }, { name: 'opaque/.wh..wh..opq', body: '' }, { name: 'opaque/new', body: 'n' },
  ]), root, tree);
  t.true(existsSync(join(root, 'etc/keep')));
  t.false(existsSync(join(root, 'etc/gone')));
  t.false(existsSync(join(root, 'etc/.wh.gone')));
  t.false(existsSync(join(root, 'opaque/old')));
  t.true(existsSync(join(root, 'opaque/new')));
  t.false(existsSync(join(root, 'opaque/.wh..wh..opq')));
  const kernel = (await digestTree(root)).digest;
  t.is((await digestRootfs(root, tree.contentHashes())).digest, kernel);
  // The flattened layers' canonical digest is the digest of the flattened tree.
  if (process.geteuid?.() === 0) t.is(tree.digest().digest, kernel);
});

test('a truncated archive is an error, not a partial success', async (t) => {
  const dir = target(t);
  const tar = await tarOf([{ name: 'big', body: 'x'.repeat(100_000) }]);
  await t.throwsAsync(unpack(tar.subarray(0, 20_000), join(dir, 'root')), { code: 'KP_IMAGE_EXTRACT_FAILED' } as never);
});

// A normal user cannot create a tree owned by 0:0 to compare with (CI runs as root).
const asRoot = process.geteuid?.() === 0;
if (!asRoot) console.error('extract.test: the directory-vs-tarball digest test is skipped: it needs root');
(asRoot ? test : test.skip)('a directory and its tarball have the same canonical digest (walk order, implicit parents, hard links)', async (t) => {
  const dir = target(t);
  const src = join(dir, 'src');
  // '-' and '.' sort before '/', so a plain sort of full paths would order these wrongly.
  for (const d of ['a', 'a/b', 'a-c', 'a.b']) mkdirSync(join(src, d), { recursive: true });
  writeFileSync(join(src, 'a/b/file'), 'one');
  writeFileSync(join(src, 'a-c/file'), 'two');
  writeFileSync(join(src, 'a.b/x'), '');
  const { spawnSync } = await import('node:child_process');
  spawnSync('ln', [join(src, 'a/b/file'), join(src, 'a-c/hard')]);
  spawnSync('ln', ['-s', '../a/b/file', join(src, 'a.b/sym')]);
  const expected = (await digestTree(src)).digest;
  const whole = spawnSync('tar', ['-C', src, '--numeric-owner', '-cf', '-', '.'], { maxBuffer: 1 << 24 }).stdout;
  t.is((await unpack(whole, join(dir, 'root'))).tree.digest().digest, expected);
  // Only the files: the parents are implied (755 0:0, which is what src has).
  spawnSync('chmod', ['755', src, ...['a', 'a/b', 'a-c', 'a.b'].map((d) => join(src, d))]);
  const files = spawnSync('tar', ['-C', src, '--numeric-owner', '--no-recursion', '-cf', '-', 'a/b/file', 'a-c/file', 'a-c/hard', 'a.b/x', 'a.b/sym'], { maxBuffer: 1 << 24 }).stdout;
  mkdirSync(join(dir, 'root2'));
  t.is((await unpack(files, join(dir, 'root2'))).tree.digest().digest, (await digestTree(src)).digest);
});
