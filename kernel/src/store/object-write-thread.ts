/**
 * A thread that creates content objects (temp file, write, close, rename) while the
 * committing thread goes on reading, hashing and checking the tar: creating thousands of
 * files is mostly kernel time, which this puts on another CPU (issue 18: a full-tree commit).
 * Objects are sent in batches; at most IN_FLIGHT_BYTES wait at a time.
 *
 * The thread's code is a string (no module to find next to a bundle): it needs only node:fs.
 */
import { Worker } from 'node:worker_threads';

// import(), not require: eval'd code is a module when the process runs with --input-type=module.
const THREAD_CODE = `
Promise.all([import('node:worker_threads'), import('node:fs')]).then(([{ parentPort }, { closeSync, openSync, renameSync, rmSync, writeSync }]) => parentPort.on('message', (batch) => {
  let failure;
  for (const o of batch) {
    if (failure) break;
    try {
      const fd = openSync(o.tmp, 'wx', 0o444);
      try {
        for (let off = 0; off < o.bytes.length;) off += writeSync(fd, o.bytes, off);
      } finally {
        closeSync(fd);
      }
      renameSync(o.tmp, o.path);
    } catch (err) {
      try { rmSync(o.tmp, { force: true }); } catch {}
      failure = { message: String(err && err.message), code: err && err.code, errno: err && err.errno, syscall: err && err.syscall, path: err && err.path };
    }
  }
  parentPort.postMessage({ count: batch.length, failure });
}));
`;

/** Objects per message, and bytes. */
const BATCH_FILES = 64;
const BATCH_BYTES = 1 << 20;
/** Bytes sent and not yet written (their copies are held until then). */
const IN_FLIGHT_BYTES = 64 << 20;

interface Pending {
  tmp: string;
  path: string;
  bytes: Uint8Array;
}

export class ObjectWriteThread {
  private readonly worker = new Worker(THREAD_CODE, { eval: true });
  private batch: Pending[] = [];
  private batchBytes = 0;
  /** Bytes of each batch sent, in order (the thread answers in order). */
  private readonly sent: number[] = [];
  private inFlight = 0;
  private failure: Error | undefined;
  /** The thread itself failed: no answers will come. */
  private dead = false;
  private wake: (() => void) | undefined;

  constructor() {
    this.worker.on('message', (m: { count: number; failure?: { message: string; code?: string; errno?: number; syscall?: string; path?: string } }) => {
      this.inFlight -= this.sent.shift() ?? 0;
      if (m.failure && !this.failure) this.failure = Object.assign(new Error(m.failure.message), m.failure);
      this.notify();
    });
    this.worker.on('error', (err) => {
      this.failure ??= err;
      this.dead = true;
      this.sent.length = 0;
      this.inFlight = 0;
      this.notify();
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private answer(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  private flush(): void {
    if (this.batch.length === 0) return;
    this.worker.postMessage(this.batch);
    this.sent.push(this.batchBytes);
    this.inFlight += this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
  }

  /** Queues an object (`bytes` is copied); waits while too much is queued. Throws a failure of an earlier write. */
  async write(tmp: string, path: string, bytes: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    this.batch.push({ tmp, path, bytes });
    this.batchBytes += bytes.length;
    if (this.batch.length >= BATCH_FILES || this.batchBytes >= BATCH_BYTES) this.flush();
    while (this.inFlight > IN_FLIGHT_BYTES && !this.failure) await this.answer();
    if (this.failure) throw this.failure;
  }

  /**
   * Waits until every object sent is written (or refused), then ends the thread; throws the
   * first failure. Called on every path: no write is left running behind its caller.
   */
  async close(): Promise<void> {
    try {
      if (!this.failure) this.flush();
      while (this.sent.length > 0 && !this.dead) await this.answer();
      if (this.failure) throw this.failure;
    } finally {
      await this.worker.terminate();
    }
  }
}
