/**
 * kernel/src/hash.ts hashes with our addon (native/blake3-addon.c) when native/ is built;
 * @napi-rs/blake-hash is the reference it is held to, byte for byte, on inputs of many sizes
 * and shapes, and both to the official BLAKE3 test vectors.
 */
import test from 'ava';
import * as BlakeHash from '@napi-rs/blake-hash';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { hashBytes, hashImplementation, loadAddonFile, nativeBinary, StreamHasher, type Blake3Addon } from '@karapace/kernel';

const reference = createRequire(import.meta.url)('@napi-rs/blake-hash') as typeof BlakeHash;
const refHash = (data: string | Uint8Array): string => reference.blake3(data).toString('hex');

// Published BLAKE3 test vectors (test_vectors/test_vectors.json in the BLAKE3 repository):
// the input is 0, 1, ..., 250, 0, 1, ... of the given length; the default 32-byte hash.
const VECTORS: Array<[number, string]> = [
  [0, 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'],
  [1, '2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213'],
  [1023, '10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11'],
  [1024, '42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7'],
  [1025, 'd00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444'],
  [2048, 'e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a'],
  [2049, '5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030'],
  [3072, 'b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2'],
  [3073, '7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3'],
  [4096, '015094013f57a5277b59d8475c0501042c0b642e531b0a1c8f58d2163229e969'],
  [4097, '9b4052b38f1c5fc8b1f9ff7ac7b27cd242487b3d890d15c96a1c25b8aa0fb995'],
  [5120, '9cadc15fed8b5d854562b26a9536d9707cadeda9b143978f319ab34230535833'],
  [5121, '628bd2cb2004694adaab7bbd778a25df25c47b9d4155a55f8fbd79f2fe154cff'],
  [6144, '3e2e5b74e048f3add6d21faab3f83aa44d3b2278afb83b80b3c35164ebeca205'],
  [6145, 'f1323a8631446cc50536a9f705ee5cb619424d46887f3c376c695b70e0f0507f'],
  [7168, '61da957ec2499a95d6b8023e2b0e604ec7f6b50e80a9678b89d2628e99ada77a'],
  [7169, 'a003fc7a51754a9b3c7fae0367ab3d782dccf28855a03d435f8cfe74605e7817'],
];
const pattern = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => i % 251));

// Around BLAKE3's block (64) and chunk (1024) boundaries, several chunks, and MiB sizes.
const SIZES = [0, 1, 2, 31, 32, 63, 64, 65, 127, 128, 1023, 1024, 1025, 2047, 2048, 2049, 3072, 4095, 4096, 4097, 8191, 8192, 16385, 65535, 65536, 65537, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 7];

// The addon this checkout built has every function, updateAsync included.
let loaded: Required<Blake3Addon> | undefined;
function addon(): Required<Blake3Addon> {
  const file = nativeBinary('karapace_blake3.node');
  if (!file) throw new Error('karapace_blake3.node is not built');
  return (loaded ??= loadAddonFile<Required<Blake3Addon>>(file));
}

function oursIncremental(parts: Array<string | Uint8Array>): string {
  const a = addon();
  const state = Buffer.alloc(a.hasherSize);
  a.init(state);
  for (const p of parts) a.update(state, p);
  return a.digest(state);
}

test('the blake3 addon is built and hash.ts uses it (KARAPACE_HASH_NATIVE unset)', (t) => {
  t.truthy(nativeBinary('karapace_blake3.node'), 'karapace_blake3.node is missing: install librust-blake3-dev (BLAKE3\'s C sources), then make -C native');
  t.is(process.env.KARAPACE_HASH_NATIVE, undefined);
  t.is(hashImplementation(), 'karapace_blake3');
});

test('KARAPACE_HASH_NATIVE=0 hashes with @napi-rs/blake-hash, to the same digests', (t) => {
  const script = `import('@karapace/kernel').then((k) => console.log(k.hashImplementation(), k.hashBytes('abc'), new k.StreamHasher().update('a').update('bc').digest()))`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, KARAPACE_HASH_NATIVE: '0' }, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const abc = refHash('abc');
  t.is(r.stdout.trim(), `@napi-rs/blake-hash ${abc} ${abc}`);
  t.is(hashBytes('abc'), abc);
});

test('the official BLAKE3 test vectors, one-shot and incremental, ours and the reference', (t) => {
  for (const [n, want] of VECTORS) {
    const input = pattern(n);
    t.is(refHash(input), want, `reference, ${n} bytes`);
    t.is(addon().hash(input), want, `addon, ${n} bytes`);
    t.is(hashBytes(input), want, `hashBytes, ${n} bytes`);
    const h = new StreamHasher();
    for (let i = 0; i < n; i += 100) h.update(input.subarray(i, i + 100));
    t.is(h.digest(), want, `StreamHasher in 100-byte pieces, ${n} bytes`);
  }
});

test('random inputs of many sizes: the addon gives the reference digest, one-shot and in pieces', (t) => {
  for (const n of SIZES) {
    const data = randomBytes(n);
    const want = refHash(data);
    t.is(addon().hash(data), want, `one-shot, ${n} bytes`);
    t.is(hashBytes(data), want, `hashBytes, ${n} bytes`);
    // Pieces of odd sizes that straddle block and chunk boundaries, and one byte at a time.
    for (const piece of [1, 7, 64, 1000, 1024, 65537]) {
      if (piece === 1 && n > 70000) continue;
      const parts: Buffer[] = [];
      for (let i = 0; i < n; i += piece) parts.push(data.subarray(i, i + piece));
      t.is(oursIncremental(parts), want, `${n} bytes in ${piece}-byte pieces`);
    }
    const sh = new StreamHasher();
    sh.update(data);
    t.is(sh.digest(), want);
    t.is(sh.size, n);
  }
});

test('views into a larger buffer hash only their own bytes', (t) => {
  const big = randomBytes(5000);
  for (const [start, end] of [[0, 0], [1, 64], [3, 1027], [100, 5000]] as const) {
    const view = big.subarray(start, end);
    t.is(addon().hash(view), refHash(view));
    t.is(addon().hash(new Uint8Array(big.buffer, big.byteOffset + start, end - start)), refHash(view));
  }
});

test('strings hash as their UTF-8 bytes, short and long, mixed with buffers', (t) => {
  for (const s of ['', 'a', 'héllo wörld ✓ 🦀', 'x'.repeat(4095), 'é'.repeat(3000), '🦀'.repeat(50000)]) {
    t.is(addon().hash(s), refHash(s));
    t.is(addon().hash(s), refHash(Buffer.from(s, 'utf8')));
    const h = new StreamHasher().update(s).update(Buffer.from('tail')).update(s);
    const r = new reference.Blake3Hasher();
    r.update(s);
    r.update(Buffer.from('tail'));
    r.update(s);
    t.is(h.digest(), r.digest('hex'));
    t.is(h.size, 2 * Buffer.byteLength(s) + 4);
  }
});

test('digest can be read mid-stream and the hash goes on, as the reference does', (t) => {
  const h = new StreamHasher();
  const r = new reference.Blake3Hasher();
  for (let i = 0; i < 50; i++) {
    const piece = randomBytes(i * 37);
    h.update(piece);
    r.update(piece);
    t.is(h.digest(), r.digest('hex'));
  }
});

test('hostile arguments are TypeErrors, not crashes', (t) => {
  const a = addon();
  for (const bad of [undefined, null, 42, {}, [1, 2], new Uint16Array(4), new ArrayBuffer(8)]) {
    t.throws(() => a.hash(bad as unknown as Uint8Array), { instanceOf: TypeError });
  }
  t.throws(() => a.init(Buffer.alloc(8)), { instanceOf: TypeError }, 'a state Buffer too small');
  t.throws(() => a.update('x'.repeat(4096) as unknown as Buffer, 'x'), { instanceOf: TypeError });
  t.throws(() => (a.digest as (s?: Buffer) => string)(), { instanceOf: TypeError });
});

test('updateAsync (thread pool) gives the reference digest, mixed with update, ours and the package', async (t) => {
  for (const native of [true, false]) {
    // The same pieces in the child: bytes i * 31 + n, for each size n.
    const sizes = [0, 1, 1024, 65_536, 1_048_577, 3 << 20];
    const pieces = sizes.map((n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + n) & 255)));
    const r = new reference.Blake3Hasher();
    const script = `
      const { StreamHasher } = await import('@karapace/kernel');
      const h = new StreamHasher();
      const pieces = ${JSON.stringify(sizes)}.map((n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + n) & 255)));
      for (const [i, p] of pieces.entries()) if (i % 2) h.update(p); else await h.updateAsync(p);
      process.stdout.write(h.digest() + ' ' + h.size);
    `;
    for (const p of pieces) r.update(p);
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, ...(native ? {} : { KARAPACE_HASH_NATIVE: '0' }) }, maxBuffer: 1 << 26 });
    t.is(out.status, 0, String(out.stderr));
    t.is(out.stdout, `${r.digest('hex')} ${pieces.reduce((n, p) => n + p.length, 0)}`, native ? 'addon' : 'package');
  }
  // In this process (the addon): the state is taken until the update is done.
  const h = new StreamHasher();
  const big = randomBytes(8 << 20);
  const running = h.updateAsync(big);
  t.throws(() => h.update('x'), { message: /still running/ });
  t.throws(() => h.digest(), { message: /still running/ });
  await running;
  t.is(h.digest(), refHash(big));
  const a = addon();
  t.throws(() => a.updateAsync(Buffer.alloc(a.hasherSize), 'x' as unknown as Uint8Array, () => undefined), { instanceOf: TypeError });
  t.throws(() => a.updateAsync(Buffer.alloc(a.hasherSize), Buffer.alloc(1), undefined as unknown as () => void), { instanceOf: TypeError });
  t.throws(() => a.updateAsync(Buffer.alloc(8), Buffer.alloc(1), () => undefined), { instanceOf: TypeError });
});
