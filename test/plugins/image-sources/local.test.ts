import anyTest from 'ava';
import { existsSync, readdirSync, readFileSync, writeFileSync, appendFileSync, mkdirSync, cpSync, truncateSync, statSync, openSync, writeSync, closeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { digestTree, hashBytes } from '@karapace/kernel';
import { busyboxTarball, tempStore } from './_helpers.js';
import { busyboxMissing } from './_helpers.js';

const test = busyboxMissing ? anyTest.skip : anyTest;

test('a local tarball resolves into the cache with digest, source record and a pinned source', async (t) => {
  const store = tempStore(t);
  const tar = busyboxTarball(t, store.dir, 'gz');
  const base = await store.resolve(tar);
  t.truthy(base);
  t.is(base!.digest, (await digestTree(base!.rootfs)).digest);
  t.regex(base!.source, new RegExp(`^${tar}#blake3=[0-9a-f]{64}$`));
  t.true(existsSync(join(base!.rootfs, 'bin/busybox')));
  const key = base!.rootfs.split('/').slice(-2)[0]!;
  t.is(readFileSync(join(store.imagesDir, key, 'digest'), 'utf8').trim(), base!.digest);
  const record = JSON.parse(readFileSync(join(store.imagesDir, key, 'source.json'), 'utf8'));
  t.is(record.reference, tar);
  t.is(record.kind, 'file');
  t.is(record.archive.size, statSync(tar).size);
  // Progress: extraction reported start/advance/end in bytes.
  const start = store.events.find((e) => e.kind === 'start' && e.label.startsWith('extracting'));
  t.truthy(start);
  t.true(store.events.some((e) => e.kind === 'end' && e.ok));
  // The staging dir is empty again.
  t.deepEqual(readdirSync(store.stagingDir), []);

  // The pinned source resolves to the same image; a wrong pin is refused.
  const pinned = await store.resolve(base!.source);
  t.is(pinned!.digest, base!.digest);
  await t.throwsAsync(store.resolve(`${tar}#blake3=${'0'.repeat(64)}`), { code: 'KP_IMAGE_DIGEST_MISMATCH' } as never);
});

test('xz and plain tarballs of the same tree give the same digest', async (t) => {
  const store = tempStore(t);
  const xz = busyboxTarball(t, store.dir, 'xz');
  const plain = busyboxTarball(t, store.dir, 'none');
  const a = await store.resolve(xz);
  const b = await store.resolve(plain);
  t.is(a!.digest, b!.digest);
  t.not(a!.rootfs, b!.rootfs);
});

test('a zstd tarball is decompressed into the staging directory and that file unpacked natively: the same image as the plain tar', async (t) => {
  const store = tempStore(t);
  const zst = busyboxTarball(t, store.dir, 'zst');
  const plain = busyboxTarball(t, store.dir, 'none');
  const a = await store.resolve(zst);
  t.true(store.events.some((e) => e.kind === 'log' && /decompressed into the staging directory/.test((e as { message: string }).message)));
  t.deepEqual(readdirSync(store.stagingDir), [], 'the decompressed tar is removed');
  const b = await store.resolve(plain);
  t.is(a!.digest, b!.digest);
  const key = a!.rootfs.split('/').slice(-2)[0]!;
  t.is(readFileSync(join(store.imagesDir, key, 'disk-digest'), 'utf8').trim(), (await digestTree(a!.rootfs)).digest);
  // The lock pins the compressed file: its blake3, as read.
  const record = JSON.parse(readFileSync(join(store.imagesDir, key, 'source.json'), 'utf8'));
  t.is(record.archive.size, statSync(zst).size);
  t.is(record.archive.blake3, hashBytes(readFileSync(zst)));
  // The streamed path gives the same identity too ('xz and plain tarballs …' above).
});

test('a corrupt zstd tarball fails as the stream fails, and leaves nothing behind', async (t) => {
  const store = tempStore(t);
  const tar = busyboxTarball(t, store.dir, 'zst');
  truncateSync(tar, Math.floor(statSync(tar).size / 2));
  await t.throwsAsync(store.resolve(tar));
  t.true(store.events.some((e) => e.kind === 'log' && /decompressing into a file failed/.test((e as { message: string }).message)));
  t.deepEqual(readdirSync(store.imagesDir), []);
  t.deepEqual(readdirSync(store.stagingDir), []);
  // Refused at its first bytes, with megabytes still unread: zstd exits early, nothing waits
  // for the rest.
  const early = join(store.dir, 'early.tar.zst');
  writeFileSync(early, Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(4096, 0xff), randomBytes(8 << 20)]));
  await t.throwsAsync(store.resolve(early));
  t.deepEqual(readdirSync(store.stagingDir), []);
});

test('a tampered cached image is detected and fetched again', async (t) => {
  const store = tempStore(t);
  const tar = busyboxTarball(t, store.dir, 'gz');
  const first = await store.resolve(tar);
  writeFileSync(join(first!.rootfs, 'etc/os-release'), 'NAME="tampered"\n');
  store.events.length = 0;
  const again = await store.resolve(tar);
  t.is(again!.digest, first!.digest);
  t.regex(readFileSync(join(again!.rootfs, 'etc/os-release'), 'utf8'), /BusyBox/);
  const warn = store.events.find((e) => e.kind === 'log' && e.level === 'warn');
  t.truthy(warn);
  t.regex((warn as { message: string }).message, /was modified on disk/);
});

test('an unchanged cached image is reused without re-extracting', async (t) => {
  const store = tempStore(t);
  const tar = busyboxTarball(t, store.dir, 'none');
  const first = await store.resolve(tar);
  const inode = statSync(join(first!.rootfs, 'bin/busybox')).ino;
  store.events.length = 0;
  const second = await store.resolve(tar);
  t.is(second!.digest, first!.digest);
  t.is(statSync(join(second!.rootfs, 'bin/busybox')).ino, inode);
  t.false(store.events.some((e) => e.kind === 'start'));
});

test('a corrupt tarball leaves no image behind', async (t) => {
  const store = tempStore(t);
  const tar = busyboxTarball(t, store.dir, 'gz');
  truncateSync(tar, Math.floor(statSync(tar).size / 2));
  await t.throwsAsync(store.resolve(tar));
  t.deepEqual(readdirSync(store.imagesDir), []);
  t.deepEqual(readdirSync(store.stagingDir), []);
});

test('a tarball rewritten while it is unpacked is refused and leaves no image behind', async (t) => {
  const store = tempStore(t);
  const tar = busyboxTarball(t, store.dir, 'none');
  // Appending to the file as soon as its extraction starts: a new mtime and size.
  let touched = false;
  store.kernel.hooks.progress.tap('rewrite', (e) => {
    if (e.kind !== 'start' || touched) return;
    touched = true;
    appendFileSync(tar, Buffer.alloc(1024));
  });
  await t.throwsAsync(store.resolve(tar), { code: 'KP_IMAGE_CHANGED', message: /changed while it was being unpacked/ } as never);
  t.true(touched);
  // Rewritten in place, same size (a byte of the end-of-archive padding): refused as well.
  let rewritten = false;
  store.kernel.hooks.progress.tap('rewrite-in-place', (e) => {
    if (e.kind !== 'start' || rewritten) return;
    rewritten = true;
    const fd = openSync(tar, 'r+');
    writeSync(fd, Buffer.from([0]), 0, 1, statSync(tar).size - 1);
    closeSync(fd);
  });
  await t.throwsAsync(store.resolve(tar), { code: 'KP_IMAGE_CHANGED' } as never);
  t.true(rewritten);
  // Cut short once extraction has begun (the first entry's progress; the 2 MiB tar is read
  // 1 MiB at a time): the same error, not "truncated or corrupt".
  let cut = false;
  store.kernel.hooks.progress.tap('cut', (e) => {
    if (e.kind !== 'advance' || cut) return;
    cut = true;
    truncateSync(tar, statSync(tar).size - 512);
  });
  await t.throwsAsync(store.resolve(tar), { code: 'KP_IMAGE_CHANGED' } as never);
  t.true(cut);
  appendFileSync(tar, Buffer.alloc(512));
  t.deepEqual(readdirSync(store.imagesDir), []);
  t.deepEqual(readdirSync(store.stagingDir), []);
  // Once it stops changing it builds.
  t.truthy(await store.resolve(tar));
});

test('a local directory is copied into the cache and re-copied when it changes', async (t) => {
  const store = tempStore(t);
  const tar = busyboxTarball(t, store.dir, 'none');
  const extracted = await store.resolve(tar);
  const src = join(store.dir, 'src-rootfs');
  cpSync(extracted!.rootfs, src, { recursive: true, verbatimSymlinks: true });
  const a = await store.resolve(src);
  t.is(a!.digest, (await digestTree(src)).digest);
  t.regex(a!.source, /#blake3=[0-9a-f]{64}$/);
  t.is(a!.source.split('#blake3=')[1], a!.digest);
  // Editing the source makes a new image; the cache copy was never shared with it.
  appendFileSync(join(src, 'etc/os-release'), 'VERSION_ID=2\n');
  const b = await store.resolve(src);
  t.not(b!.digest, a!.digest);
  t.regex(readFileSync(join(b!.rootfs, 'etc/os-release'), 'utf8'), /VERSION_ID=2/);
  await t.throwsAsync(store.resolve(`${src}#blake3=${a!.digest}`), { code: 'KP_IMAGE_DIGEST_MISMATCH' } as never);
});

test('a missing path and a malformed reference are clear errors', async (t) => {
  const store = tempStore(t);
  await t.throwsAsync(store.resolve('./nope.tar'), { code: 'KP_IMAGE_NOT_FOUND' } as never);
  await t.throwsAsync(store.resolve('https://example.org/x.tar#md5=abc'), { code: 'KP_IMAGE_REFERENCE' } as never);
  await t.throwsAsync(store.resolve('bootstrap:gentoo'), { code: 'KP_IMAGE_REFERENCE' } as never);
  mkdirSync(join(store.dir, 'x'));
  t.is(await store.resolve('mock:test'), undefined);
});
