/**
 * Pack files (issue 18: a full-tree commit writes one file, not one per content). A pack is
 * content objects concatenated, then an index, then a trailer:
 *
 *   "KPPACK1\n" | object bytes… | index: N × (blake3 32 B, offset u64 BE, size u64 BE),
 *   sorted by hash | trailer: N u64 BE, index offset u64 BE, "KPINDEX\n"
 *
 * It is named `packs/<blake3 of its index>.pack`: the index names every object by its hash
 * and place, so the name covers the whole pack (each object is checked against its own hash
 * when read, as loose ones are). A pack is written once, to a temp name, made durable and
 * renamed; it is never changed: gc deletes a pack none of whose objects are referenced and
 * rewrites one that holds dead objects (store/pack-gc.ts).
 */
import { closeSync, fstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { StoreError } from '../errors.js';
import { hashBytes } from '../hash.js';
import type { StoreLayout } from './layout.js';

export const PACK_MAGIC = Buffer.from('KPPACK1\n');
const TRAILER_MAGIC = Buffer.from('KPINDEX\n');
export const ENTRY = 48;
export const TRAILER = 24;

export function packsDir(layout: StoreLayout): string {
  return `${layout.store}/packs`;
}

export function packPath(layout: StoreLayout, name: string): string {
  return join(packsDir(layout), `${name}.pack`);
}

export interface Pack {
  name: string;
  path: string;
  /** The index: N sorted entries of ENTRY bytes. */
  index: Buffer;
  count: number;
  /** Where the index starts (object bytes end there). */
  indexOffset: number;
  size: number;
}

export function corruptPack(path: string, why: string): StoreError {
  return new StoreError('KP_STORE_PACK_CORRUPT', `store pack ${path} is corrupt: ${why}`, {
    hint: 'run `karapace verify-store` to list every damaged item; restore them from a remote with `karapace pull`',
    data: { path },
  });
}

function readExact(fd: number, length: number, position: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  let off = 0;
  while (off < length) {
    const n = readSync(fd, b, off, length - off, position + off);
    if (n === 0) break;
    off += n;
  }
  return b.subarray(0, off);
}

/**
 * Reads and checks a pack's frame and index (not its objects' bytes): magic, trailer,
 * index hash = name, entries sorted, unique, inside the object area.
 */
export function openPack(path: string, name: string): Pack {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < PACK_MAGIC.length + TRAILER) throw corruptPack(path, `${size} bytes, shorter than its frame`);
    if (!readExact(fd, PACK_MAGIC.length, 0).equals(PACK_MAGIC)) throw corruptPack(path, 'no pack header');
    const trailer = readExact(fd, TRAILER, size - TRAILER);
    if (!trailer.subarray(16).equals(TRAILER_MAGIC)) throw corruptPack(path, 'no index trailer (truncated?)');
    const count = Number(trailer.readBigUInt64BE(0));
    const indexOffset = Number(trailer.readBigUInt64BE(8));
    if (indexOffset < PACK_MAGIC.length || indexOffset + count * ENTRY !== size - TRAILER) throw corruptPack(path, 'its index does not end at its trailer');
    const index = readExact(fd, count * ENTRY, indexOffset);
    if (index.length !== count * ENTRY) throw corruptPack(path, 'its index is truncated');
    const actual = hashBytes(index);
    if (actual !== name) throw corruptPack(path, `its index hashes to ${actual}`);
    for (let i = 0; i < count; i++) {
      const e = i * ENTRY;
      const offset = Number(index.readBigUInt64BE(e + 32));
      const length = Number(index.readBigUInt64BE(e + 40));
      if (offset < PACK_MAGIC.length || offset + length > indexOffset) throw corruptPack(path, `index entry ${i} lies outside its objects`);
      if (i > 0 && index.compare(index, e - ENTRY, e - ENTRY + 32, e, e + 32) <= 0) throw corruptPack(path, 'its index is not sorted');
    }
    return { name, path, index, count, indexOffset, size };
  } finally {
    closeSync(fd);
  }
}

/** Entry i of a pack: hash, offset, size. */
export function packEntry(pack: Pack, i: number): { hash: string; offset: number; size: number } {
  const e = i * ENTRY;
  return { hash: pack.index.toString('hex', e, e + 32), offset: Number(pack.index.readBigUInt64BE(e + 32)), size: Number(pack.index.readBigUInt64BE(e + 40)) };
}

/** Binary search for a hash (32 raw bytes); the entry's index or -1. */
export function findInPack(pack: Pack, key: Buffer): number {
  let lo = 0;
  let hi = pack.count - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = pack.index.compare(key, 0, 32, mid * ENTRY, mid * ENTRY + 32);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** Names of the packs in a store (`<hash>.pack` files). */
export function listPacks(layout: StoreLayout): string[] {
  try {
    return readdirSync(packsDir(layout)).filter((n) => /^[0-9a-f]{64}\.pack$/.test(n)).map((n) => n.slice(0, -5)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** The index of `entries` (sorted here) as the pack stores it. */
export function encodeIndex(entries: { hash: string; offset: number; size: number }[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
  const index = Buffer.alloc(sorted.length * ENTRY);
  for (const [i, e] of sorted.entries()) {
    index.write(e.hash, i * ENTRY, 32, 'hex');
    index.writeBigUInt64BE(BigInt(e.offset), i * ENTRY + 32);
    index.writeBigUInt64BE(BigInt(e.size), i * ENTRY + 40);
  }
  return index;
}

export function encodeTrailer(count: number, indexOffset: number): Buffer {
  const t = Buffer.alloc(TRAILER);
  t.writeBigUInt64BE(BigInt(count), 0);
  t.writeBigUInt64BE(BigInt(indexOffset), 8);
  TRAILER_MAGIC.copy(t, 16);
  return t;
}
