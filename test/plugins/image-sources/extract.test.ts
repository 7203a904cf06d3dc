import test from 'ava';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { digestTree } from '@karapace/kernel';
import { digestRootfs, entryPath, extractTar, fingerprintRootfs, type FileHash } from '@karapace/image-sources';

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

test('entry paths are normalised and hostile ones refused', (t) => {
  t.is(entryPath('./usr//bin/./sh'), 'usr/bin/sh');
  t.is(entryPath('./'), '');
  t.throws(() => entryPath('/etc/passwd'), { message: /absolute path/ });
  t.throws(() => entryPath('usr/../../etc/passwd'), { message: /\.\./ });
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
  const hashes = new Map<string, FileHash>();
  const stats = await extractTar(Readable.from([tar]), root, { hashes });
  t.is(stats.files, 2);
  t.is(readFileSync(join(root, 'etc/hostname'), 'utf8'), 'box\n');
  t.is(lstatSync(join(root, 'bin')).mode & 0o7777, 0o555);
  t.is(lstatSync(join(root, 'bin/tool')).mode & 0o7777, 0o4755);
  t.is(lstatSync(join(root, 'bin/alias')).ino, lstatSync(join(root, 'bin/tool')).ino);
  t.is(readlinkSync(join(root, 'sh')), '/bin/tool');
  // The one-pass digest (hashes from extraction) equals the kernel's digest of the tree.
  const mine = await digestRootfs(root, hashes);
  t.is(mine.digest, (await digestTree(root)).digest);
  t.is(mine.fingerprint, await fingerprintRootfs(root));
});

test('refuses absolute paths and ..', async (t) => {
  for (const name of ['/abs-file', '../escape', 'a/../../escape']) {
    const dir = target(t);
    const tar = await tarOf([{ name, body: 'x' }]);
    await t.throwsAsync(extractTar(Readable.from([tar]), join(dir, 'root')), { code: 'KP_IMAGE_UNSAFE_ARCHIVE' } as never);
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
  await t.throwsAsync(extractTar(Readable.from([tar]), join(dir, 'root')), { message: /parent "evil" is a symlink/ });
  t.false(existsSync(join(dir, 'outside', 'pwned')));
});

test('a symlink later replaced by a file is replaced, not written through', async (t) => {
  const dir = target(t);
  writeFileSync(join(dir, 'victim'), 'original');
  const tar = await tarOf([
    { name: 'link', type: 'symlink', linkname: join(dir, 'victim') },
    { name: 'link', body: 'new content' },
  ]);
  await extractTar(Readable.from([tar]), join(dir, 'root'));
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
  await t.throwsAsync(extractTar(Readable.from([tar]), join(dir, 'root')), { code: 'KP_IMAGE_UNSAFE_ARCHIVE' } as never);
  t.false(existsSync(join(dir, 'root', 'stolen')));
});

test('OCI whiteouts delete files and opaque directories from earlier layers', async (t) => {
  const dir = target(t);
  const root = join(dir, 'root');
  const hashes = new Map<string, FileHash>();
  await extractTar(Readable.from([await tarOf([
    { name: 'etc/', type: 'directory' }, { name: 'etc/keep', body: 'k' }, { name: 'etc/gone', body: 'g' },
    { name: 'opaque/', type: 'directory' }, { name: 'opaque/old', body: 'o' },
  ])]), root, { whiteouts: true, hashes });
  await extractTar(Readable.from([await tarOf([
    { name: 'etc/.wh.gone', body: '' },
    { name: 'opaque/', type: 'directory' }, { name: 'opaque/.wh..wh..opq', body: '' }, { name: 'opaque/new', body: 'n' },
  ])]), root, { whiteouts: true, hashes });
  t.true(existsSync(join(root, 'etc/keep')));
  t.false(existsSync(join(root, 'etc/gone')));
  t.false(existsSync(join(root, 'etc/.wh.gone')));
  t.false(existsSync(join(root, 'opaque/old')));
  t.true(existsSync(join(root, 'opaque/new')));
  t.false(existsSync(join(root, 'opaque/.wh..wh..opq')));
  t.is((await digestRootfs(root, hashes)).digest, (await digestTree(root)).digest);
});

test('a truncated archive is an error, not a partial success', async (t) => {
  const dir = target(t);
  const tar = await tarOf([{ name: 'big', body: 'x'.repeat(100_000) }]);
  await t.throwsAsync(extractTar(Readable.from([tar.subarray(0, 20_000)]), join(dir, 'root')));
});
