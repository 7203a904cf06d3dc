/**
 * The server's pack files: the blobs of one batch upload in one file, so a batch of 1,024
 * small blobs costs one file, one fsync and one directory fsync instead of a file each.
 *
 * The format is the local store's (kernel/src/store/packs.ts: header, the blobs one after
 * another, an index of blake3 → offset/size ascending by hash, a trailer; named by the
 * blake3 of the index), written and read with its functions: one rule for both stores.
 *
 * A pack is made whole in tmp/, fsynced, renamed in and its directory fsynced: after a
 * crash it is either all there or not at all. It is served only after `readPackIndex` has
 * checked it: the kernel's openPack (frame, index hash = name, entries sorted and unique,
 * inside the data) and here, as it may be any file someone left on the server's disk, that
 * the ranges tile the data exactly (none overlapping, no gap).
 */
import { KarapaceError, PACK_MAGIC, encodeIndex, encodeTrailer, hashBytes, openPack, packEntry } from '@karapace/kernel';

export interface PackEntry {
  hash: string;
  offset: number;
  length: number;
}

/** Lays out a pack: the bytes to write and where each blob is. `blobs` must have distinct hashes. */
export function buildPack(blobs: readonly { hash: string; bytes: Buffer }[]): { id: string; parts: Buffer[]; entries: PackEntry[] } {
  const entries: PackEntry[] = [];
  let offset = PACK_MAGIC.length;
  for (const b of blobs) {
    entries.push({ hash: b.hash, offset, length: b.bytes.length });
    offset += b.bytes.length;
  }
  const index = encodeIndex(entries.map((e) => ({ hash: e.hash, offset: e.offset, size: e.length })));
  return { id: hashBytes(index), parts: [PACK_MAGIC, ...blobs.map((b) => b.bytes), index, encodeTrailer(entries.length, offset)], entries };
}

export class BadPack extends Error {}

/** A pack's entries, once it has passed every check (BadPack otherwise). */
export function readPackIndex(path: string, id: string): PackEntry[] {
  let pack;
  try {
    pack = openPack(path, id);
  } catch (err) {
    if (err instanceof KarapaceError && err.code === 'KP_STORE_PACK_CORRUPT') throw new BadPack(err.message);
    throw err;
  }
  const entries: PackEntry[] = [];
  for (let i = 0; i < pack.count; i++) {
    const e = packEntry(pack, i);
    entries.push({ hash: e.hash, offset: e.offset, length: e.size });
  }
  const byOffset = [...entries].sort((x, y) => x.offset - y.offset || x.length - y.length);
  let end = PACK_MAGIC.length;
  for (const e of byOffset) {
    if (e.offset !== end) throw new BadPack(`pack ${path}: ${e.hash} ${e.offset < end ? 'overlaps the blob before it' : 'leaves a gap before it'}`);
    end = e.offset + e.length;
  }
  if (end !== pack.indexOffset) throw new BadPack(`pack ${path}: data beyond its last blob`);
  return entries;
}
