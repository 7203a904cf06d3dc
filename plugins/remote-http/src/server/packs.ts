/**
 * The server's pack files: the blobs of one batch upload in one file, so a batch of 4,096
 * small blobs costs one file, one fsync and one directory fsync instead of 4,096 files.
 *
 * `packs/<id>.pack` =
 *   the blobs' bytes, one after another, in upload order
 *   index: one 48-byte entry per blob, ascending by hash: hash (32) | offset (u64) | length (u64)
 *   trailer (56 bytes): "KPSPACK1" | count (u64) | index offset (u64) | blake3 of the index (32)
 * and `<id>` is the blake3 of the index (so the same batch twice is the same file).
 *
 * A pack is made whole in tmp/, fsynced, renamed in and its directory fsynced: after a crash
 * it is either all there or not at all. It is trusted only after `readPackIndex` has checked
 * it: size, index checksum, hashes strictly ascending (no duplicates) and ranges that tile
 * the data exactly (none overlapping, none outside it, no gap).
 */
import { hashBytes } from '@karapace/kernel';

export const PACK_MAGIC = 'KPSPACK1';
export const PACK_ENTRY = 48;
export const PACK_TRAILER = 56;
/** Largest pack index read back (a batch holds at most MAX_BATCH blobs; packs are never merged beyond this). */
export const MAX_PACK_ENTRIES = 1 << 20;

export interface PackEntry {
  hash: string;
  offset: number;
  length: number;
}

/** Lays out a pack: the bytes to write and where each blob is. `blobs` must have distinct hashes. */
export function buildPack(blobs: readonly { hash: string; bytes: Buffer }[]): { id: string; parts: Buffer[]; size: number; entries: PackEntry[] } {
  const entries: PackEntry[] = [];
  let offset = 0;
  for (const b of blobs) {
    entries.push({ hash: b.hash, offset, length: b.bytes.length });
    offset += b.bytes.length;
  }
  const sorted = [...entries].sort((x, y) => (x.hash < y.hash ? -1 : x.hash > y.hash ? 1 : 0));
  const index = Buffer.alloc(sorted.length * PACK_ENTRY);
  sorted.forEach((e, i) => {
    const at = i * PACK_ENTRY;
    index.write(e.hash, at, 32, 'hex');
    index.writeBigUInt64BE(BigInt(e.offset), at + 32);
    index.writeBigUInt64BE(BigInt(e.length), at + 40);
  });
  const id = hashBytes(index);
  const trailer = Buffer.alloc(PACK_TRAILER);
  trailer.write(PACK_MAGIC, 0, 'latin1');
  trailer.writeBigUInt64BE(BigInt(sorted.length), 8);
  trailer.writeBigUInt64BE(BigInt(offset), 16);
  trailer.write(id, 24, 32, 'hex');
  return { id, parts: [...blobs.map((b) => b.bytes), index, trailer], size: offset + index.length + PACK_TRAILER, entries };
}

export class BadPack extends Error {}

/**
 * Reads and checks a pack's index from its tail (`tail` = the file's last bytes, at least
 * the index and trailer; `fileSize` = its whole size). Throws BadPack for anything but a
 * pack exactly as buildPack writes it.
 */
export function readPackIndex(id: string, readTail: (length: number) => Buffer, fileSize: number): PackEntry[] {
  if (fileSize < PACK_TRAILER) throw new BadPack(`pack ${id} is ${fileSize} bytes, shorter than its trailer`);
  const trailer = readTail(PACK_TRAILER);
  if (trailer.toString('latin1', 0, 8) !== PACK_MAGIC) throw new BadPack(`pack ${id} has no pack trailer`);
  const count = trailer.readBigUInt64BE(8);
  const dataEnd = trailer.readBigUInt64BE(16);
  if (count > BigInt(MAX_PACK_ENTRIES)) throw new BadPack(`pack ${id} claims ${count} entries`);
  const indexBytes = Number(count) * PACK_ENTRY;
  if (dataEnd + BigInt(indexBytes + PACK_TRAILER) !== BigInt(fileSize)) throw new BadPack(`pack ${id}: its trailer does not add up to its size ${fileSize}`);
  const index = readTail(indexBytes + PACK_TRAILER).subarray(0, indexBytes);
  const sum = hashBytes(index);
  if (sum !== trailer.toString('hex', 24, 56) || sum !== id) throw new BadPack(`pack ${id}: its index does not match its checksum or name`);
  const entries: PackEntry[] = [];
  let previous = '';
  for (let at = 0; at < indexBytes; at += PACK_ENTRY) {
    const hash = index.toString('hex', at, at + 32);
    if (hash <= previous) throw new BadPack(`pack ${id}: index not strictly ascending at ${hash}`);
    previous = hash;
    const offset = index.readBigUInt64BE(at + 32);
    const length = index.readBigUInt64BE(at + 40);
    if (offset + length > dataEnd) throw new BadPack(`pack ${id}: ${hash} lies outside the data`);
    entries.push({ hash, offset: Number(offset), length: Number(length) });
  }
  // The ranges must tile the data: nothing overlaps, nothing is unaccounted for.
  const byOffset = [...entries].sort((x, y) => x.offset - y.offset || x.length - y.length);
  let end = 0;
  for (const e of byOffset) {
    if (e.offset !== end) throw new BadPack(`pack ${id}: ${e.hash} ${e.offset < end ? 'overlaps the blob before it' : 'leaves a gap before it'}`);
    end = e.offset + e.length;
  }
  if (BigInt(end) !== dataEnd) throw new BadPack(`pack ${id}: data beyond its last blob`);
  return entries;
}
