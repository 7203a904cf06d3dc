/**
 * Writes one pack (store/packs.ts): objects appended as they come, gathered into a slab
 * written in one call when full (not sent to a thread: copying each object into a message
 * cost more than writing it), then the index and trailer; the pack is fsynced before
 * it is renamed to its name, so a pack under its name is whole. Until then it is a temp
 * file in staging (swept by the next locked command if this process dies).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { hashBytes } from '../hash.js';
import { randomHex } from '../random.js';
import type { StoreLayout } from './layout.js';
import { addPack } from './objects.js';
import { encodeIndex, encodeTrailer, ENTRY, PACK_MAGIC, packPath, packsDir, type Pack } from './packs.js';

/** Bytes gathered per write. */
const SLAB = 4 << 20;

export class PackWriter {
  private readonly tmp: string;
  private fd: number;
  private position = PACK_MAGIC.length;
  private readonly entries: { hash: string; offset: number; size: number }[] = [];
  private done = false;
  /** Objects gathered since the last write, from `slabStart`. */
  private readonly slab = Buffer.allocUnsafe(SLAB);
  private slabUsed = 0;
  private slabStart = PACK_MAGIC.length;

  constructor(private readonly layout: StoreLayout) {
    mkdirSync(layout.staging, { recursive: true });
    this.tmp = join(layout.staging, `.pack-${process.pid}-${randomHex(4)}`);
    this.fd = openSync(this.tmp, 'wx', 0o444);
    try {
      writeSync(this.fd, PACK_MAGIC);
    } catch (err) {
      closeSync(this.fd);
      rmSync(this.tmp, { force: true });
      throw err;
    }
  }

  get count(): number {
    return this.entries.length;
  }

  private writeAt(bytes: Uint8Array, position: number): void {
    for (let off = 0; off < bytes.length;) off += writeSync(this.fd, bytes, off, bytes.length - off, position + off);
  }

  private flush(): void {
    if (this.slabUsed > 0) this.writeAt(this.slab.subarray(0, this.slabUsed), this.slabStart);
    this.slabUsed = 0;
    this.slabStart = this.position;
  }

  /** Appends an object; the caller adds each hash once. */
  add(hash: string, bytes: Uint8Array): void {
    const position = this.position;
    this.entries.push({ hash, offset: position, size: bytes.length });
    if (this.slabUsed + bytes.length > SLAB) this.flush();
    this.position += bytes.length;
    if (bytes.length > SLAB / 2) {
      this.writeAt(bytes, position);
      this.slabStart = this.position;
      return;
    }
    this.slab.set(bytes, this.slabUsed);
    this.slabUsed += bytes.length;
  }

  /**
   * Writes the index and trailer, makes the pack durable and gives it its name; returns
   * its path (and the packs directory, which the caller fsyncs with its other new names).
   */
  async finish(): Promise<{ pack: Pack; written: string[] }> {
    try {
      this.flush();
      const index = encodeIndex(this.entries);
      const trailer = encodeTrailer(this.entries.length, this.position);
      const tail = Buffer.concat([index, trailer]);
      for (let off = 0; off < tail.length;) off += writeSync(this.fd, tail, off, tail.length - off, this.position + off);
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = -1;
      const name = hashBytes(index);
      mkdirSync(packsDir(this.layout), { recursive: true });
      const path = packPath(this.layout, name);
      // The same name is the same index, so the same objects at the same places: either copy will do.
      renameSync(this.tmp, path);
      this.done = true;
      const pack: Pack = { name, path, index, count: index.length / ENTRY, indexOffset: this.position, size: this.position + tail.length };
      addPack(this.layout, pack);
      return { pack, written: [path, packsDir(this.layout)] };
    } catch (err) {
      await this.abandon();
      throw err;
    }
  }

  /** Drops the temp pack (after a failure), once no write into it is left running. */
  async abandon(): Promise<void> {
    if (this.done) return;
    this.done = true;
    if (this.fd >= 0) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = -1;
    }
    rmSync(this.tmp, { force: true });
  }
}
