import anyTest from 'ava';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { serverArch } from '@karapace/image-sources';
import { busyboxTarball, tempStore } from './_helpers.js';
import { busyboxMissing } from './_helpers.js';

const test = busyboxMissing ? anyTest.skip : anyTest;
import { staticServer } from './_server.js';

const ARCH = serverArch();

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

test('an alias resolves through the simplestreams index and records the verified sha256', async (t) => {
  const store = tempStore(t);
  const tar = busyboxTarball(t, store.dir, 'xz');
  const bytes = readFileSync(tar);
  const server = await staticServer(t);
  const old = Buffer.from('not the newest');
  server.files.set('/streams/v1/index.json', JSON.stringify({
    format: 'index:1.0',
    index: { images: { datatype: 'image-downloads', path: 'streams/v1/images.json', format: 'products:1.0', products: [`debian:bookworm:${ARCH}:default`] } },
  }));
  server.files.set('/streams/v1/images.json', JSON.stringify({
    format: 'products:1.0',
    products: {
      [`debian:bookworm:${ARCH}:default`]: {
        versions: {
          '20240101_05:24': { items: { 'root.tar.xz': { ftype: 'root.tar.xz', path: 'images/debian/bookworm/old/rootfs.tar.xz', sha256: sha256(old), size: old.length } } },
          '20250301_05:24': { items: { 'root.tar.xz': { ftype: 'root.tar.xz', path: 'images/debian/bookworm/new/rootfs.tar.xz', sha256: sha256(bytes), size: bytes.length } } },
        },
      },
    },
  }));
  server.files.set('/images/debian/bookworm/old/rootfs.tar.xz', old);
  server.files.set('/images/debian/bookworm/new/rootfs.tar.xz', bytes);
  const base = await store.resolve('debian/bookworm', {}, { server: server.url });
  t.is(base!.source, `${server.url}/images/debian/bookworm/new/rootfs.tar.xz#sha256=${sha256(bytes)}`);
  t.is(base!.packageManager, 'none');
  t.false(server.requests.some((r) => r.path.includes('/old/')));
  // Download progress was reported in bytes with the total from Content-Length.
  const start = store.events.find((e) => e.kind === 'start' && e.label.startsWith('downloading'));
  t.like(start, { unit: 'bytes', total: bytes.length });

  // A server that now publishes different bytes under the same sha256 is caught.
  const store2 = tempStore(t);
  server.files.set('/images/debian/bookworm/new/rootfs.tar.xz', Buffer.concat([bytes, Buffer.from('x')]));
  await t.throwsAsync(store2.resolve('debian/bookworm', {}, { server: server.url }), { code: 'KP_IMAGE_DIGEST_MISMATCH' } as never);
  t.deepEqual(readdirSync(store2.imagesDir).filter((n) => !n.startsWith('.')), []);
});

test('without an index, an alias resolves through the LXC directory layout (newest build, SHA256SUMS)', async (t) => {
  const store = tempStore(t);
  const tar = busyboxTarball(t, store.dir, 'xz');
  const bytes = readFileSync(tar);
  const server = await staticServer(t);
  const dir = `/images/ubuntu/noble/${ARCH}/default`;
  server.files.set(`${dir}/20240101_07:42/rootfs.tar.xz`, Buffer.from('old build'));
  server.files.set(`${dir}/20250201_07:42/rootfs.tar.xz`, bytes);
  server.files.set(`${dir}/20250201_07:42/SHA256SUMS`, `${sha256(bytes)}  rootfs.tar.xz\n${'0'.repeat(64)}  meta.tar.xz\n`);
  const base = await store.resolve('ubuntu/24.04', {}, { server: server.url });
  t.is(base!.source, `${server.url}${dir}/20250201_07:42/rootfs.tar.xz#sha256=${sha256(bytes)}`);
  t.true(server.requests.some((r) => r.path === '/streams/v1/index.json'));

  // Offline, the cached image for the alias is used; a never-fetched alias fails clearly.
  const before = server.requests.length;
  const offline = await store.resolve('ubuntu/24.04', { offline: true }, { server: server.url });
  t.is(offline!.digest, base!.digest);
  t.is(server.requests.length, before);
  await t.throwsAsync(store.resolve('fedora/41', { offline: true }, { server: server.url }), { code: 'KP_OFFLINE_DOWNLOAD', message: /--offline/ } as never);
  // An alias the server does not carry.
  await t.throwsAsync(store.resolve('arch', {}, { server: server.url }), { code: 'KP_IMAGE_NOT_FOUND' } as never);
});

test('an interrupted download is resumed with a Range request and never looks complete', async (t) => {
  const store = tempStore(t);
  const tar = busyboxTarball(t, store.dir, 'gz');
  const bytes = readFileSync(tar);
  const server = await staticServer(t);
  server.files.set('/rootfs.tar.gz', bytes);
  server.cutOnce.set('/rootfs.tar.gz', Math.floor(bytes.length / 2));
  const url = `${server.url}/rootfs.tar.gz#sha256=${sha256(bytes)}`;
  await t.throwsAsync(store.resolve(url), { code: 'KP_DOWNLOAD_FAILED' } as never);
  t.deepEqual(readdirSync(store.imagesDir).filter((n) => !n.startsWith('.')), []);
  const partials = readdirSync(join(store.imagesDir, '.downloads'));
  t.is(partials.length, 1);
  t.regex(partials[0]!, /\.partial$/);
  const base = await store.resolve(url);
  t.is(base!.source, url);
  // The second request asked only for the rest (what arrived before the cut is kept).
  const last = server.requests.at(-1)!;
  t.is(last.path, '/rootfs.tar.gz');
  const offset = Number(/^bytes=(\d+)-$/.exec(last.range ?? '')?.[1]);
  t.true(offset > 0 && offset <= Math.floor(bytes.length / 2), `range ${last.range}`);
  t.deepEqual(readdirSync(join(store.imagesDir, '.downloads')), []);
});

test('--offline refuses an uncached URL before any request', async (t) => {
  const store = tempStore(t);
  const server = await staticServer(t);
  await t.throwsAsync(store.resolve(`${server.url}/x.tar`, { offline: true }), { code: 'KP_OFFLINE_DOWNLOAD' } as never);
  t.is(server.requests.length, 0);
});
