/**
 * The unpacker's thread pool: files, symlinks and hard links created by worker threads
 * (unpack-worker.ts) while the main thread goes on parsing and checking the archive. Unpacking a rootfs is bound by the kernel's cost of creating inodes and copying
 * data into the page cache, not by anything Node does; spread over threads, that cost runs
 * in parallel.
 *
 * Order: each worker applies its batches in the order they were queued, a file's pieces
 * all go to one worker, and a hard link is queued on the worker that creates its target,
 * so it never runs before it. Directories are made by the main thread before anything
 * inside them is queued, or, with a single worker, queued to it ahead of their contents.
 *
 * Hand-over without messages: batches are written into a fixed set of shared buffers
 * (slots) and queued through a shared ring per worker with Atomics; a worker sleeps in
 * Atomics.wait until work arrives. (postMessage with a transferred buffer per batch cost
 * more main-thread time than the file-system calls it saved.)
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import {
  CTRL, HASH_BYTES, RECORD_HEADER, RING, RecordFlag, RecordKind, SLOTS, SLOT_BYTES, STAT_BYTES, STOP, WORKER, perWorker, readStat,
  type DiskStat, type PoolFailure, type PoolWorkerData,
} from './unpack-protocol.js';

const require = createRequire(import.meta.url);
/**
 * node:worker_threads, loaded when the first pool is made: every CLI start (exec, a warm
 * build) loads this module with the kernel, few of them unpack.
 */
function workerClass(): typeof Worker {
  return (require('node:worker_threads') as typeof import('node:worker_threads')).Worker;
}

/** Records per batch: small enough that every thread gets work early. */
const BATCH_RECORDS = 256;
/**
 * A batch's cost, in bytes written plus ENTRY_COST per entry (creating an inode costs the
 * kernel about as much as writing that many bytes), is capped so that big files spread
 * over the threads; the next batch goes to the thread with the least cost outstanding.
 */
const ENTRY_COST = 32 << 10;
const BATCH_COST = 2 << 20;

/** The worker script: the bundle's single CommonJS file when there is one (it boots faster than ES modules), else the module beside this one. */
function workerPath(): string | undefined {
  for (const name of ['./unpack-worker.cjs', './unpack-worker.js']) {
    const file = fileURLToPath(new URL(name, import.meta.url));
    if (existsSync(file)) return file;
  }
  return undefined;
}

interface Batch {
  slot: number;
  buf: Buffer;
  used: number;
  records: number;
  /** Bytes to write plus ENTRY_COST per record. */
  cost: number;
  /** Where workers write results (hashes, stats) in this batch, and who reads them. */
  results: { at: number; read: (buf: Buffer, at: number) => void }[];
}

/** A file being queued piece by piece (see UnpackPool.file). */
export interface PoolFileWriter {
  readonly worker: number;
  /** Copies `chunk` in; resolves immediately unless it must wait for a free slot. */
  write(chunk: Buffer): Promise<void> | void;
}

export class UnpackPool {
  private readonly workers: Worker[];
  private readonly ctrl: Int32Array;
  private readonly used: Int32Array;
  private readonly slots: Buffer[];
  private readonly views: DataView[];
  private readonly free: number[];
  /** Per worker: the slots queued, oldest first (freed as its done count passes them). */
  private readonly queued: number[][];
  /** Per worker: the costs of the batches in `queued`, and their sum. */
  private readonly queuedCost: number[][];
  private readonly outstanding: number[];
  private readonly sent: number[];
  private readonly current: (Batch | undefined)[];
  /** Per slot: the results to read once its batch is applied. */
  private readonly results: Batch['results'][] = Array.from({ length: SLOTS }, () => []);
  private cursor = 0;
  private failure: Error | undefined;
  private stopped = false;
  /** Per worker: it has exited (a failed one stops without acknowledging STOP). */
  private readonly gone: boolean[];
  /** Directories queued since the last drain: until they exist, the caller must not touch paths below them. */
  dirsQueued = false;

  /** A pool of `threads` workers; undefined when threads are off or the worker script is absent (then the caller works alone). */
  static open(threads: number): UnpackPool | undefined {
    return UnpackPool.take(threads) ?? UnpackPool.create(threads, false);
  }

  private static create(threads: number, idle: boolean): UnpackPool | undefined {
    if (threads < 1) return undefined;
    const file = workerPath();
    return file ? new UnpackPool(file, threads, idle) : undefined;
  }

  /**
   * Starts a pool of `threads` ahead of its first use: a thread's boot otherwise stalls the
   * start of an unpack. The next pool opened with this size takes it
   * over; until then its threads do not keep the process alive.
   */
  static prestart(threads: number): void {
    prestarted ??= UnpackPool.create(threads, true);
  }

  /** The prestarted pool, if it has `threads` threads. */
  private static take(threads: number): UnpackPool | undefined {
    const pool = prestarted;
    if (!pool || pool.size !== threads) return undefined;
    prestarted = undefined;
    for (const w of pool.workers) w.ref();
    return pool;
  }

  private constructor(file: string, threads: number, idle: boolean) {
    const ctrl = new SharedArrayBuffer(4 * perWorker(threads));
    const used = new SharedArrayBuffer(4 * SLOTS);
    const slots = Array.from({ length: SLOTS }, () => new SharedArrayBuffer(SLOT_BYTES));
    this.ctrl = new Int32Array(ctrl);
    this.used = new Int32Array(used);
    this.slots = slots.map((s) => Buffer.from(s));
    this.views = slots.map((s) => new DataView(s));
    this.free = Array.from({ length: SLOTS }, (_, i) => SLOTS - 1 - i);
    this.queued = Array.from({ length: threads }, () => []);
    this.queuedCost = Array.from({ length: threads }, () => []);
    this.outstanding = new Array<number>(threads).fill(0);
    this.sent = new Array<number>(threads).fill(0);
    this.current = new Array<Batch | undefined>(threads).fill(undefined);
    this.gone = new Array<boolean>(threads).fill(false);
    this.workers = Array.from({ length: threads }, (_, index) => {
      const w = new (workerClass())(file, { workerData: { index, ctrl, used, slots, ring: RING } satisfies PoolWorkerData });
      w.on('message', (f: PoolFailure) => {
        const { message, ...fields } = f;
        this.fail(Object.assign(new Error(message), fields));
      });
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => {
        this.gone[index] = true;
        if (!this.stopped) this.fail(new Error(`an unpack thread exited unexpectedly (code ${code})`));
      });
      // After the listeners: adding a 'message' listener refs the worker's port again.
      if (idle) w.unref();
      return w;
    });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    // Wakes the main thread if it waits for a slot.
    Atomics.add(this.ctrl, CTRL.completed, 1);
    Atomics.notify(this.ctrl, CTRL.completed);
  }

  /** Returns slots whose batches the workers have finished to the free list. */
  private reclaim(): void {
    for (let w = 0; w < this.workers.length; w++) {
      const done = Atomics.load(this.ctrl, perWorker(w) + WORKER.done);
      const q = this.queued[w]!;
      const finished = q.length - (this.sent[w]! - done);
      if (finished <= 0) continue;
      for (const cost of this.queuedCost[w]!.splice(0, finished)) this.outstanding[w]! -= cost;
      for (const slot of q.splice(0, finished)) {
        const buf = this.slots[slot]!;
        for (const { at, read } of this.results[slot]!) read(buf, at);
        this.results[slot] = [];
        this.free.push(slot);
      }
    }
  }

  /** A free slot, waiting for a worker to finish one if needed. */
  private async slot(): Promise<number> {
    for (;;) {
      if (this.failure) throw this.failure;
      this.reclaim();
      const s = this.free.pop();
      if (s !== undefined) return s;
      const seen = Atomics.load(this.ctrl, CTRL.completed);
      this.reclaim();
      if (this.free.length || this.failure) continue;
      await completedAfter(this.ctrl, seen);
    }
  }

  /** A free slot without waiting, if there is one. */
  private slotNow(): number | undefined {
    if (!this.free.length) this.reclaim();
    return this.free.pop();
  }

  private queue(w: number): void {
    const b = this.current[w];
    if (!b) return;
    this.current[w] = undefined;
    this.used[b.slot] = b.used;
    this.results[b.slot] = b.results;
    this.queued[w]!.push(b.slot);
    this.queuedCost[w]!.push(b.cost);
    this.outstanding[w]! += b.cost;
    this.post(w, b.slot);
  }

  /** Puts a slot number (or STOP) on worker `w`'s ring and wakes it if it sleeps. */
  private post(w: number, slot: number): void {
    const base = perWorker(w);
    const n = this.sent[w]!;
    this.ctrl[base + WORKER.ring + (n % RING)] = slot;
    this.sent[w] = n + 1;
    Atomics.store(this.ctrl, base + WORKER.queued, n + 1);
    // A wake-up is a futex syscall: only for a worker that is (about to be) asleep.
    if (Atomics.load(this.ctrl, base + WORKER.sleeping)) Atomics.notify(this.ctrl, base + WORKER.queued, 1);
  }

  /** Worker `w`'s open batch, with room for `bytes` (queues the open one and takes a slot when needed). */
  private async room(w: number, bytes: number): Promise<Batch> {
    return this.roomNow(w, bytes) ?? this.openBatch(w, await this.slot());
  }

  /** room() without waiting: undefined when it would have to wait for a free slot. */
  private roomNow(w: number, bytes: number): Batch | undefined {
    const b = this.current[w];
    if (b && !full(b, bytes)) return b;
    if (b) this.queue(w);
    const slot = this.slotNow();
    return slot === undefined ? undefined : this.openBatch(w, slot);
  }

  private openBatch(w: number, slot: number): Batch {
    const b: Batch = { slot, buf: this.slots[slot]!, used: 0, records: 0, cost: 0, results: [] };
    this.current[w] = b;
    return b;
  }

  /** The current worker until its batch is full; then the one with the least cost outstanding. */
  private pick(bytes: number): number {
    const b = this.current[this.cursor];
    if (b && full(b, bytes)) {
      this.queue(this.cursor);
      this.reclaim();
      let best = this.cursor;
      for (let w = 0; w < this.workers.length; w++) {
        if (this.outstanding[w]! + (this.current[w]?.cost ?? 0) < this.outstanding[best]! + (this.current[best]?.cost ?? 0)) best = w;
      }
      this.cursor = best;
    }
    return this.cursor;
  }

  private header(b: Batch, kind: RecordKind, flags: number, path: string | undefined, payload: number, mode = 0, chown?: [number, number], chmod?: number): number {
    const buf = b.buf;
    let at = b.used;
    const pathBytes = path === undefined ? 0 : buf.write(path, at + RECORD_HEADER, 'utf8');
    // DataView: Buffer's writeUInt32LE range-checks every call, which shows at thousands of records.
    const v = this.views[b.slot]!;
    v.setUint8(at, kind);
    v.setUint8(at + 1, flags | (chown ? RecordFlag.Chown : 0) | (chmod !== undefined ? RecordFlag.Chmod : 0));
    v.setUint16(at + 2, pathBytes, true);
    v.setUint32(at + 4, mode, true);
    v.setUint32(at + 8, chmod ?? 0, true);
    v.setUint32(at + 12, chown?.[0] ?? 0, true);
    v.setUint32(at + 16, chown?.[1] ?? 0, true);
    v.setUint32(at + 20, payload, true);
    at += RECORD_HEADER + pathBytes;
    b.used = at + payload;
    b.records++;
    b.cost += ENTRY_COST + payload;
    return at;
  }

  /**
   * Queues a file of `size` bytes with a writer for its content (exactly `size` bytes in
   * all). Big files continue in further slots on the same worker.
   */
  async file(
    path: string, size: number, mode: number, chown?: [number, number], chmod?: number,
    onHash?: (hash: string) => void, onStat?: (st: DiskStat) => void,
  ): Promise<PoolFileWriter> {
    const pathBytes = Buffer.byteLength(path);
    const tail = (onHash ? HASH_BYTES : 0) + (onStat ? STAT_BYTES : 0);
    const hash = onHash ? RecordFlag.Hash : 0;
    const first = Math.min(size, SLOT_BYTES - RECORD_HEADER - pathBytes - tail);
    const w = this.pick(RECORD_HEADER + pathBytes + first + tail);
    let b = await this.room(w, RECORD_HEADER + pathBytes + first + tail);
    let left = size - first;
    /** Writes a record's header; the last one of the file gets the owner, the mode and the hash. */
    const record = (kind: RecordKind, name: string | undefined, n: number): number => {
      if (left > 0) return this.header(b, kind, RecordFlag.More | hash, name, n, mode);
      const at = this.header(b, kind, hash | (onStat ? RecordFlag.Stat : 0), name, n, mode, chown, chmod);
      this.reserveHash(b, onHash);
      this.reserveStat(b, onStat);
      return at;
    };
    let at = record(RecordKind.File, path, first);
    let room = first;
    const next = async () => {
      // The file goes on in the worker's next batch: a Data record in a fresh slot.
      this.queue(w);
      b = await this.room(w, SLOT_BYTES);
      const n = Math.min(left, SLOT_BYTES - RECORD_HEADER - tail);
      left -= n;
      at = record(RecordKind.Data, undefined, n);
      room = n;
    };
    const write = (chunk: Buffer): Promise<void> | void => {
      const n = Math.min(room, chunk.length);
      chunk.copy(b.buf, at, 0, n);
      at += n;
      room -= n;
      if (n === chunk.length) return;
      // The reader keeps the chunk valid until this promise settles.
      const rest = chunk.subarray(n);
      return (async () => {
        await next();
        await write(rest);
      })();
    };
    return { worker: w, write };
  }

  /** Room after a record for the hex digest its worker writes, and who gets it. */
  private reserveHash(b: Batch, onHash: ((hash: string) => void) | undefined): void {
    if (!onHash) return;
    b.results.push({ at: b.used, read: (buf, from) => onHash(buf.toString('latin1', from, from + HASH_BYTES)) });
    b.used += HASH_BYTES;
  }

  private reserveStat(b: Batch, onStat: ((st: DiskStat) => void) | undefined): void {
    if (!onStat) return;
    b.results.push({ at: b.used, read: (buf, from) => onStat(readStat(buf, from)) });
    b.used += STAT_BYTES;
  }

  /** Queues a symlink; returns its worker (at once unless it must wait for a free slot). */
  symlink(path: string, target: string, chown?: [number, number], onStat?: (st: DiskStat) => void): number | Promise<number> {
    const bytes = RECORD_HEADER + Buffer.byteLength(path) + Buffer.byteLength(target) + (onStat ? STAT_BYTES : 0);
    const w = this.pick(bytes);
    const put = (b: Batch): number => {
      const at = this.header(b, RecordKind.Symlink, onStat ? RecordFlag.Stat : 0, path, Buffer.byteLength(target), 0, chown);
      b.buf.write(target, at, 'utf8');
      this.reserveStat(b, onStat);
      return w;
    };
    const b = this.roomNow(w, bytes);
    return b ? put(b) : this.room(w, bytes).then(put);
  }

  get size(): number {
    return this.workers.length;
  }

  /**
   * Queues a mkdir. Only for a pool of one thread, where everything queued later is applied
   * after it; with more, the caller makes directories itself before queuing what is in them.
   */
  async mkdir(path: string, mode: number): Promise<void> {
    if (this.workers.length !== 1) throw new Error('UnpackPool.mkdir needs a pool of one thread');
    const bytes = RECORD_HEADER + Buffer.byteLength(path);
    const b = await this.room(this.pick(bytes), bytes);
    this.header(b, RecordKind.Mkdir, 0, path, 0, mode);
    this.dirsQueued = true;
  }

  /** Queues a hard link on the worker that creates (or created) its target, behind it. */
  async link(worker: number, target: string, path: string): Promise<void> {
    const bytes = RECORD_HEADER + Buffer.byteLength(path) + Buffer.byteLength(target);
    const b = await this.room(worker, bytes);
    const at = this.header(b, RecordKind.HardLink, 0, path, Buffer.byteLength(target));
    b.buf.write(target, at, 'utf8');
  }

  /** Queues everything and waits until all of it is applied; throws a worker's failure. */
  async drain(): Promise<void> {
    for (let w = 0; w < this.workers.length; w++) this.queue(w);
    for (;;) {
      if (this.failure) throw this.failure;
      const seen = Atomics.load(this.ctrl, CTRL.completed);
      let pending = false;
      for (let w = 0; w < this.workers.length; w++) if (Atomics.load(this.ctrl, perWorker(w) + WORKER.done) < this.sent[w]!) pending = true;
      if (!pending) break;
      await completedAfter(this.ctrl, seen);
    }
    this.reclaim();
    if (this.failure) throw this.failure;
    this.dirsQueued = false;
  }

  /**
   * Stops the threads once they have applied what was queued (a failed thread has stopped
   * already): after this resolves nothing can still write, and no descriptor is left open.
   */
  async close(): Promise<void> {
    this.stopped = true;
    for (let w = 0; w < this.workers.length; w++) this.post(w, STOP);
    // A thread acknowledges STOP when it has let go of everything; its exit (tearing down
    // its isolate) need not hold up the caller, nor keep the process alive.
    for (;;) {
      const seen = Atomics.load(this.ctrl, CTRL.completed);
      if (this.workers.every((_, w) => this.gone[w] || Atomics.load(this.ctrl, perWorker(w) + WORKER.done) >= this.sent[w]!)) break;
      await completedAfter(this.ctrl, seen, 50);
    }
    for (const w of this.workers) w.unref();
  }
}

let prestarted: UnpackPool | undefined;

/** Resolves once a worker completes a batch (or fails, or acknowledges STOP) after `seen`, or after `timeout` ms. */
async function completedAfter(ctrl: Int32Array, seen: number, timeout = Infinity): Promise<void> {
  const waited = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, t: number): { async: boolean; value: Promise<string> | string } })
    .waitAsync(ctrl, CTRL.completed, seen, timeout);
  if (!waited.async) return;
  // A pending waitAsync does not keep the event loop alive, and once the workers have
  // failed and ended, nothing else may: the process then exited before their failure and
  // exit events came in (seen under load). A timer keeps it up for the length of the wait.
  const alive = setInterval(() => {}, 1 << 30);
  try {
    await waited.value;
  } finally {
    clearInterval(alive);
  }
}

/** Whether a batch takes no record of `bytes` more. */
function full(b: Batch, bytes: number): boolean {
  return b.records >= BATCH_RECORDS || b.cost >= BATCH_COST || b.used + bytes > SLOT_BYTES;
}

/** A pool opened on first use (an archive without files never starts a thread). */
export class LazyPool {
  private pool: UnpackPool | undefined;
  private tried = false;

  constructor(private readonly threads: number) {}

  /** The pool, opening it now if needed; undefined when there is none to have. */
  get(): UnpackPool | undefined {
    if (!this.tried) {
      this.tried = true;
      this.pool = UnpackPool.open(this.threads);
    }
    return this.pool;
  }

  /** The pool if it was opened. */
  get opened(): UnpackPool | undefined {
    return this.pool;
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}
