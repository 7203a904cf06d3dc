/**
 * plugins/runtime-namespace/src/sha256.ts (the owned base's key, without loading node:crypto on
 * every rootless exec) against node:crypto, the reference: the published vectors, every length
 * around the padding boundaries, UTF-8 and random bytes. A difference would move every owned
 * base's key (a fresh copy of each image, the old one left behind).
 */
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { sha256Hex } from '../../../plugins/runtime-namespace/dist/sha256.js';

const reference = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

test('the FIPS 180-2 vectors', (t) => {
  t.is(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  t.is(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  t.is(sha256Hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'), '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
});

test('every length from 0 to 200 bytes, and larger inputs, as node:crypto hashes them', (t) => {
  for (let n = 0; n <= 200; n++) {
    const data = randomBytes(n);
    t.is(sha256Hex(data), reference(data), `${n} bytes`);
  }
  for (const n of [1000, 4096, 65_537]) {
    const data = randomBytes(n);
    t.is(sha256Hex(data), reference(data), `${n} bytes`);
  }
});

test('strings are hashed as UTF-8, as node:crypto hashes them (an owned base key\'s material)', (t) => {
  for (const s of ['/var/lib/karapace/images/x/rootfs\0sha256:ab\x001000\x001000\x00100000\x0065536', 'é€𝄞 \u0000 done', 'x'.repeat(119)]) {
    t.is(sha256Hex(s), reference(s));
  }
});
