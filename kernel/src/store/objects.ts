/**
 * Content-addressed objects, named by the blake3 of their bytes, written atomically,
 * verified on every read. A corrupt object is reported, never used.
 *
 * An object is loose (`objects/ab/cdef…`, a file of its own) or packed (a range of a pack
 * file, store/packs.ts). Every read of an object's bytes goes through this module:
 * `locateObject` (where its bytes are: path, offset, size), `openObject` (an fd and the
 * range), `getObject` / `readObjectSync` (whole, verified) and `readObjectVerified` (a
 * verified stream). Code that needs a loose file (a hard link) asks `looseObject`.
 */
import { closeSync, createReadStream, createWriteStream, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { StoreError } from '../errors.js';
import { hashBytes, StreamHasher, type Hash } from '../hash.js';
import { fsyncDir, tempPathFor, writeFileAtomic } from './atomic.js';
import { objectPath, type StoreLayout } from './layout.js';
import { findInPack, listPacks, openPack, packPath, packsDir, type Pack } from './packs.js';

export function corruptObject(path: string, expected: string, actual: string): StoreError {
  return new StoreError('KP_STORE_OBJECT_CORRUPT', `store object ${path} is corrupt (expected blake3 ${expected}, got ${actual})`, {
    hint: 'run `karapace verify-store` to list every damaged item; restore them from a remote with `karapace pull`',
    data: { path, expected, actual },
  });
}

/** Where an object's bytes are: `size` bytes of `path` from `offset`; `pack` names its pack. */
export interface ObjectLocation {
  path: string;
  offset: number;
  size: number;
  pack?: string;
}

/** The packs this process has read, per store: their indexes, and the packs dir's stat when listed. */
interface PackSet {
  packs: Map<string, Pack>;
  stamp: string;
}
const packSets = new Map<string, PackSet>();

function dirStamp(layout: StoreLayout): string {
  const st = statSync(packsDir(layout), { throwIfNoEntry: false, bigint: true });
  return st ? `${st.ino}:${st.mtimeNs}:${st.ctimeNs}` : '';
}

/** The store's packs; re-listed when `fresh`, or when the packs directory changed since. */
function packSet(layout: StoreLayout, fresh: 'no' | 'if-changed' | 'yes'): PackSet {
  const dir = packsDir(layout);
  let set = packSets.get(dir);
  if (set && fresh === 'no') return set;
  const stamp = dirStamp(layout);
  if (set && fresh === 'if-changed' && stamp === set.stamp) return set;
  const packs = new Map<string, Pack>();
  for (const name of listPacks(layout)) {
    const known = set?.packs.get(name);
    if (known) packs.set(name, known);
    else {
      try {
        packs.set(name, openPack(packPath(layout, name), name));
      } catch (err) {
        // A damaged pack holds nothing readable; verify-store reports it.
        if ((err as { code?: string }).code !== 'KP_STORE_PACK_CORRUPT' && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }
  set = { packs, stamp };
  packSets.set(dir, set);
  return set;
}

/** Registers a pack this process just wrote (so its objects are found without a re-listing). */
export function addPack(layout: StoreLayout, pack: Pack): void {
  packSet(layout, 'no').packs.set(pack.name, pack);
}

/** Forgets this process's view of the packs (after gc removed or rewrote some). */
export function forgetPacks(layout: StoreLayout): void {
  packSets.delete(packsDir(layout));
}

/** The store's readable packs. */
export function storePacks(layout: StoreLayout): Pack[] {
  return [...packSet(layout, 'yes').packs.values()];
}

function inPacks(set: PackSet, key: Buffer): ObjectLocation | undefined {
  for (const pack of set.packs.values()) {
    const i = findInPack(pack, key);
    if (i < 0) continue;
    const e = i * 48;
    return { path: pack.path, offset: Number(pack.index.readBigUInt64BE(e + 32)), size: Number(pack.index.readBigUInt64BE(e + 40)), pack: pack.name };
  }
  return undefined;
}

/**
 * Where object `hash` is, or undefined when the store lacks it. Packs first (their indexes
 * are in memory, re-read when their directory changed), then the loose file; `fresh`: a
 * miss re-lists the packs (before an object is reported missing).
 */
export function locateObject(layout: StoreLayout, hash: Hash, fresh = false): ObjectLocation | undefined {
  const key = /^[0-9a-f]{64}$/.test(hash) ? Buffer.from(hash, 'hex') : undefined;
  if (key) {
    // One stat of the packs directory: a pack another process removed is not trusted.
    const found = inPacks(packSet(layout, 'if-changed'), key);
    if (found) return found;
  }
  const path = objectPath(layout, hash);
  const st = statSync(path, { throwIfNoEntry: false });
  if (st?.isFile()) return { path, offset: 0, size: st.size };
  if (!key) return undefined;
  if (!fresh) return undefined;
  return inPacks(packSet(layout, 'yes'), key);
}

/**
 * A lookup in the packs as they are now, for many questions in a row while the store lock
 * keeps them as they are (an ingest): no stat of the packs directory each time.
 */
export function packedLookup(layout: StoreLayout): (hash: Hash) => boolean {
  const set = packSet(layout, 'if-changed');
  return (hash) => set.packs.size > 0 && inPacks(set, Buffer.from(hash, 'hex')) !== undefined;
}

/**
 * Where each of `hashes` is in a pack (undefined: not packed, so loose or missing), with
 * one look at the packs directory for them all (a restore's plan locates thousands).
 */
export function locatePacked(layout: StoreLayout, hashes: Hash[]): (ObjectLocation | undefined)[] {
  const set = packSet(layout, 'if-changed');
  return hashes.map((hash) => (/^[0-9a-f]{64}$/.test(hash) ? inPacks(set, Buffer.from(hash, 'hex')) : undefined));
}

/** The loose file of object `hash` (what a hard link can share), if it has one. */
export function looseObject(layout: StoreLayout, hash: Hash): string | undefined {
  const path = objectPath(layout, hash);
  return statSync(path, { throwIfNoEntry: false })?.isFile() ? path : undefined;
}

/**
 * Of `hashes`, the ones the store lacks (as locateObject finds them), with one look at the
 * packs directory for them all: a pull asks about thousands of content objects.
 */
export function lackedObjects(layout: StoreLayout, hashes: readonly Hash[]): Hash[] {
  const packed = locatePacked(layout, [...hashes]);
  return hashes.filter((hash, i) => !packed[i] && !statSync(objectPath(layout, hash), { throwIfNoEntry: false })?.isFile());
}

export function hasObjectSync(layout: StoreLayout, hash: Hash): boolean {
  return locateObject(layout, hash) !== undefined;
}

export async function hasObject(layout: StoreLayout, hash: Hash): Promise<boolean> {
  return hasObjectSync(layout, hash);
}

export function missingObject(layout: StoreLayout, hash: Hash, of?: string): StoreError {
  const path = objectPath(layout, hash);
  return new StoreError('KP_STORE_OBJECT_MISSING', of ? `content object ${hash} of ${of} is missing (${path})` : `store object ${hash} is missing (${path})`, {
    hint: 'run `karapace verify-store`; pull the environment again from a remote if it was pushed',
    data: { hash, path },
  });
}

/** An object opened for reading: `size` bytes of `fd` from `start` (read with explicit positions). */
export interface OpenObject extends ObjectLocation {
  fd: number;
}

/**
 * Opens object `hash`; undefined when the store lacks it. A loose object's size is its
 * file's (fstat), a packed one's its index entry's. The caller closes `fd`.
 */
export function openObject(layout: StoreLayout, hash: Hash): OpenObject | undefined {
  for (let attempt = 0; attempt < 2; attempt++) {
    const where = locateObject(layout, hash, attempt > 0);
    if (!where) return undefined;
    let fd: number;
    try {
      fd = openSync(where.path, 'r');
    } catch (err) {
      // Removed since it was located (a pack gc rewrote): look again, once.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        forgetPacks(layout);
        continue;
      }
      throw err;
    }
    if (!where.pack) return { ...where, fd, size: fstatSync(fd).size };
    return { ...where, fd };
  }
  return undefined;
}

/** Reads `length` bytes at `position` into `buf` at `offset`; fewer only at end of file. */
export function readFully(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, offset + done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Object `hash`, whole and verified. */
export function readObjectSync(layout: StoreLayout, hash: Hash): Buffer {
  const o = openObject(layout, hash);
  if (!o) throw missingObject(layout, hash);
  try {
    const data = Buffer.allocUnsafe(o.size);
    const n = readFully(o.fd, data, 0, o.size, o.offset);
    const actual = hashBytes(data.subarray(0, n));
    if (n !== o.size || actual !== hash) throw corruptObject(o.pack ? `${o.path} (object ${hash})` : o.path, hash, actual);
    return data;
  } finally {
    closeSync(o.fd);
  }
}

export async function putObject(layout: StoreLayout, data: string | Uint8Array): Promise<Hash> {
  const hash = hashBytes(data);
  const path = objectPath(layout, hash);
  if (!(await hasObject(layout, hash))) await writeFileAtomic(path, data, 0o444);
  return hash;
}

/** Streams bytes into the store, hashing as they pass; returns the object's hash and size. */
export async function putObjectStream(layout: StoreLayout, source: Readable | AsyncIterable<Uint8Array>): Promise<{ hash: Hash; size: number }> {
  await mkdir(layout.staging, { recursive: true });
  const tmp = tempPathFor(`${layout.staging}/object`);
  const hasher = new StreamHasher();
  // Loaded here: node:stream/promises is not needed by most commands (start-up time).
  const { pipeline } = await import('node:stream/promises');
  try {
    await pipeline(
      source,
      async function* (chunks: AsyncIterable<Uint8Array>) {
        for await (const chunk of chunks) {
          hasher.update(chunk);
          yield chunk;
        }
      },
      createWriteStream(tmp, { mode: 0o444 }),
    );
    const handle = await open(tmp, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    const hash = hasher.digest();
    const path = objectPath(layout, hash);
    if (await hasObject(layout, hash)) {
      await rm(tmp, { force: true });
    } else {
      await mkdir(dirname(path), { recursive: true });
      await rename(tmp, path);
      await fsyncDir(dirname(path));
    }
    return { hash, size: hasher.size };
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function getObject(layout: StoreLayout, hash: Hash): Promise<Buffer> {
  return readObjectSync(layout, hash);
}

/**
 * Streams an object, verifying its hash as it is read. The stream errors at the end when
 * the content does not match, so consumers must treat their output as provisional until
 * the stream ends cleanly (unpack into staging, then rename).
 */
export async function* readObjectVerified(layout: StoreLayout, hash: Hash): AsyncGenerator<Buffer> {
  const where = locateObject(layout, hash, true);
  if (!where) throw missingObject(layout, hash);
  const hasher = new StreamHasher();
  const stream = where.size === 0 ? [] : createReadStream(where.path, { highWaterMark: 1 << 20, start: where.offset, ...(where.pack ? { end: where.offset + where.size - 1 } : {}) });
  for await (const chunk of stream) {
    hasher.update(chunk as Buffer);
    yield chunk as Buffer;
  }
  const actual = hasher.digest();
  if (actual !== hash || (where.pack && hasher.size !== where.size)) throw corruptObject(where.pack ? `${where.path} (object ${hash})` : where.path, hash, actual);
}
