/**
 * A tree → its layer tar, byte for byte the tar it was ingested from (issue 18: tar stays
 * the exchange format). Every content object is verified as it is read, and so is the
 * whole tar against the layer's recorded hash: the stream errors at its end when anything
 * differs, so consumers treat their output as provisional until it ends cleanly.
 */
import { closeSync } from 'node:fs';
import { StoreError } from '../errors.js';
import { hashBytes, StreamHasher } from '../hash.js';
import { encodeEntry } from '../layers/pack.js';
import { END_OF_ARCHIVE, padding } from '../layers/tar-format.js';
import type { StoreLayout } from './layout.js';
import { corruptObject, getObject, missingObject, openObject, readFully } from './objects.js';
import { parseTree, tarPartsOf, type TreeEntry } from './tree.js';

/** The size of the tar's chunks. */
export const CHUNK = 4 << 20;
const ZEROS = Buffer.alloc(512);

export async function readTree(layout: StoreLayout, hash: string): Promise<TreeEntry[]> {
  return parseTree(hash, await getObject(layout, hash));
}

/**
 * The tar of tree `treeHash`, in chunks from two alternating buffers: each chunk is valid
 * until the next-but-one is requested. `expect` is the tar's recorded blake3 and size.
 */
export async function* treeTar(layout: StoreLayout, treeHash: string, expect?: { hash: string; size: number }): AsyncGenerator<Buffer> {
  const entries = await readTree(layout, treeHash);
  const pool = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  let turn = 0;
  let buf = pool[0]!;
  let off = 0;
  const tar = new StreamHasher();
  const take = (): Buffer => {
    const out = buf.subarray(0, off);
    tar.update(out);
    turn ^= 1;
    buf = pool[turn]!;
    off = 0;
    return out;
  };
  function* put(bytes: Buffer): Generator<Buffer> {
    let from = 0;
    while (from < bytes.length) {
      const n = Math.min(CHUNK - off, bytes.length - from);
      bytes.copy(buf, off, from, from + n);
      off += n;
      from += n;
      if (off === CHUNK) yield take();
    }
  }
  function* content(e: TreeEntry): Generator<Buffer> {
    const o = openObject(layout, e.content!);
    if (!o) throw missingObject(layout, e.content!, `tree ${treeHash.slice(0, 12)} (${e.path})`);
    const path = o.pack ? `${o.path} (object ${e.content})` : o.path;
    // An object longer than its entry says is as wrong as a shorter one.
    if (o.size !== e.size) {
      closeSync(o.fd);
      throw corruptObject(path, e.content!, `a file of another size than ${e.size}`);
    }
    // An object that fits in the current chunk is hashed in one call (most are small: a
    // hasher object each costs more than hashing them).
    const whole = e.size! <= CHUNK - off;
    const hasher = whole ? undefined : new StreamHasher();
    const start = off;
    try {
      let left = e.size!;
      while (left > 0) {
        const n = readFully(o.fd, buf, off, Math.min(CHUNK - off, left), o.offset + e.size! - left);
        if (n === 0) break;
        hasher?.update(buf.subarray(off, off + n));
        off += n;
        left -= n;
        if (off === CHUNK && left > 0) yield take();
      }
      if (left !== 0) throw corruptObject(path, e.content!, `a file of another size than ${e.size}`);
    } finally {
      closeSync(o.fd);
    }
    const actual = hasher ? hasher.digest() : hashBytes(buf.subarray(start, off));
    if (actual !== e.content) throw corruptObject(path, e.content!, actual);
    if (off === CHUNK) yield take();
    yield* put(ZEROS.subarray(0, padding(e.size!)));
  }
  for (const e of entries) {
    for (const part of encodeEntry(tarPartsOf(e))) yield* put(part);
    if (e.content) yield* content(e);
  }
  yield* put(END_OF_ARCHIVE);
  if (off > 0) yield take();
  if (expect) {
    const actual = tar.digest();
    if (actual !== expect.hash || tar.size !== expect.size) {
      throw new StoreError('KP_STORE_TREE_MISMATCH', `tree ${treeHash} gives a tar of ${tar.size} bytes with blake3 ${actual}; its layer records ${expect.size} bytes with ${expect.hash}`, {
        hint: 'run `karapace verify-store`; pull the environment again from a remote if it was pushed',
        data: { tree: treeHash, expected: expect.hash, actual },
      });
    }
  }
}
