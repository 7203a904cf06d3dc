/**
 * Writes one pack (store/packs.ts): objects appended as they come, gathered into 4 MiB slabs
 * that a thread writes (each slab transferred, not copied: sending each object in a message
 * cost more than writing it) while the caller goes on hashing, then the index and trailer;
 * the pack is fsynced before
 * it is renamed to its name, so a pack under its name is whole. Until then it is a temp
 * file in staging (swept by the next locked command if this process dies).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { hashBytes } from '../hash.js';
import { randomHex } from '../random.js';
import type { StoreLayout } from './layout.js';
import { markStoreHoldsPacks } from './version.js';
import { addPack } from './objects.js';
import { encodeIndex, encodeTrailer, ENTRY, PACK_MAGIC, packPath, packsDir, type Pack } from './packs.js';

/** Bytes gathered per write, and slabs at most (one filling, the others being written). */
const SLAB = 4 << 20;
const SLABS = 3;

// A string (no module to find next to a bundle); import(): eval'd code may run as a module.
const THREAD_CODE = `
Promise.all([import('node:worker_threads'), import('node:fs')]).then(([{ parentPort }, { writeSync }]) => parentPort.on('message', (m) => {
  let failure;
  try {
    const b = new Uint8Array(m.buffer, 0, m.length);
    for (let off = 0; off < b.length;) off += writeSync(m.fd, b, off, b.length - off, m.position + off);
  } catch (err) {
    failure = { message: String(err && err.message), code: err && err.code, errno: err && err.errno, syscall: err && err.syscall };
  }
  parentPort.postMessage({ buffer: m.buffer, failure }, [m.buffer]);
}));
`;

type Failure = { message: string; code?: string; errno?: number; syscall?: string };

/** Writes slabs at given places of an open file, on a thread; slabs come back when written. */
class SlabThread {
  private readonly worker = new Worker(THREAD_CODE, { eval: true });
  private readonly free: ArrayBuffer[] = [];
  private made = 0;
  private outstanding = 0;
  failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor() {
    this.worker.on('message', (m: { buffer: ArrayBuffer; failure?: Failure }) => {
      this.outstanding--;
      this.free.push(m.buffer);
      if (m.failure) this.failure ??= Object.assign(new Error(m.failure.message), m.failure);
      this.notify();
    });
    this.worker.on('error', (err) => {
      this.failure ??= err;
      this.outstanding = 0;
      this.notify();
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** A slab to fill: a free one, a new one, or the next one written. */
  async slab(): Promise<ArrayBuffer> {
    for (;;) {
      if (this.failure) throw this.failure;
      const b = this.free.pop();
      if (b) return b;
      if (this.made < SLABS) {
        this.made++;
        return new ArrayBuffer(SLAB);
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  send(fd: number, position: number, buffer: ArrayBuffer, length: number): void {
    this.outstanding++;
    this.worker.postMessage({ fd, position, buffer, length }, [buffer]);
  }

  /** Waits for every slab sent, ends the thread; throws the first failure. */
  async close(): Promise<void> {
    try {
      while (this.outstanding > 0) await new Promise<void>((resolve) => (this.wake = resolve));
      if (this.failure) throw this.failure;
    } finally {
      await this.worker.terminate();
    }
  }
}

export class PackWriter {
  private readonly tmp: string;
  private fd: number;
  private position = PACK_MAGIC.length;
  private readonly entries: { hash: string; offset: number; size: number }[] = [];
  private done = false;
  /** Objects gathered since the last write, from `slabStart`. */
  private slab: Buffer | undefined;
  private slabUsed = 0;
  private slabStart = PACK_MAGIC.length;
  private thread: SlabThread | undefined;

  /** `threaded`: slabs are written on a thread (a commit); else here (gc's rewrite). */
  constructor(private readonly layout: StoreLayout, threaded = false) {
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
    this.thread = threaded ? new SlabThread() : undefined;
  }

  get count(): number {
    return this.entries.length;
  }

  private writeAt(bytes: Uint8Array, position: number): void {
    for (let off = 0; off < bytes.length;) off += writeSync(this.fd, bytes, off, bytes.length - off, position + off);
  }

  private async flush(): Promise<void> {
    const slab = this.slab;
    if (slab && this.slabUsed > 0) {
      if (this.thread) {
        this.thread.send(this.fd, this.slabStart, slab.buffer as ArrayBuffer, this.slabUsed);
        this.slab = undefined;
      } else this.writeAt(slab.subarray(0, this.slabUsed), this.slabStart);
    }
    this.slabUsed = 0;
    this.slabStart = this.position;
  }

  /** Appends an object (`bytes` is copied or written before this returns); the caller adds each hash once. */
  async add(hash: string, bytes: Uint8Array): Promise<void> {
    const position = this.position;
    this.entries.push({ hash, offset: position, size: bytes.length });
    if (bytes.length > SLAB / 2) {
      // What the slab holds goes first: it lies before this object.
      await this.flush();
      this.writeAt(bytes, position);
      this.position += bytes.length;
      this.slabStart = this.position;
      return;
    }
    if (this.slabUsed + bytes.length > SLAB) await this.flush();
    this.slab ??= this.thread ? Buffer.from(await this.thread.slab()) : Buffer.allocUnsafe(SLAB);
    this.slab.set(bytes, this.slabUsed);
    this.slabUsed += bytes.length;
    this.position += bytes.length;
  }

  /**
   * Writes the index and trailer, makes the pack durable and gives it its name; returns
   * its path (and the packs directory, which the caller fsyncs with its other new names).
   */
  async finish(): Promise<{ pack: Pack; written: string[] }> {
    try {
      await this.flush();
      const thread = this.thread;
      this.thread = undefined;
      await thread?.close();
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
      markStoreHoldsPacks(this.layout);
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
    // No write into the file may be left running once it is closed (its fd number could be reused).
    const thread = this.thread;
    this.thread = undefined;
    await thread?.close().catch(() => undefined);
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
