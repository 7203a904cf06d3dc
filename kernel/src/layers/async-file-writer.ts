/**
 * Writing one large file's content from a stream without blocking the main thread: chunks
 * are copied into a few pooled buffers and written with positioned writes on the libuv
 * pool, so the socket (or whatever feeds the stream) keeps being read and hashed while the
 * disk takes the previous buffers. Copying is required anyway: a source may reuse a chunk's
 * memory once it is asked for the next one.
 */
import { write } from 'node:fs';

/** Size of one write (and of each pooled buffer). */
const SLAB = 1 << 20;
/** Writes in flight at once; the libuv pool has 4 threads and others need some. */
const IN_FLIGHT = 3;

function writeAt(fd: number, buf: Buffer, length: number, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (off: number) => {
      write(fd, buf, off, length - off, position + off, (err, n) => {
        if (err) reject(err);
        else if (off + n < length) step(off + n);
        else resolve();
      });
    };
    step(0);
  });
}

export class AsyncFileWriter {
  private readonly free: Buffer[] = [];
  private readonly pending: { done: Promise<void>; buf: Buffer }[] = [];
  private cur: Buffer | undefined;
  private fill = 0;
  private position = 0;
  private failure: unknown;

  constructor(private readonly fd: number) {}

  /** Takes a chunk (copied; it may be reused by its owner after this returns). */
  async add(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      if (!this.cur) this.cur = await this.slab();
      const n = chunk.copy(this.cur, this.fill, off);
      this.fill += n;
      off += n;
      if (this.fill === SLAB) this.flushSlab();
    }
  }

  private async slab(): Promise<Buffer> {
    while (this.pending.length >= IN_FLIGHT) await this.retireOldest();
    return this.free.pop() ?? Buffer.allocUnsafe(SLAB);
  }

  private flushSlab(): void {
    const buf = this.cur!;
    const done = writeAt(this.fd, buf, this.fill, this.position);
    // Observed here so a failure is never unhandled; reported by the next await.
    done.catch((err: unknown) => { this.failure ??= err; });
    this.pending.push({ done, buf });
    this.position += this.fill;
    this.cur = undefined;
    this.fill = 0;
  }

  private async retireOldest(): Promise<void> {
    const first = this.pending.shift()!;
    await first.done.catch(() => undefined);
    if (this.failure) throw this.failure;
    this.free.push(first.buf);
  }

  /** Writes what is buffered and waits for every write; throws the first write error. */
  async finish(): Promise<void> {
    if (this.fill > 0) this.flushSlab();
    while (this.pending.length) await this.retireOldest();
  }

  /** Waits for writes in flight without reporting their errors (before closing the fd on failure). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.pending.map((p) => p.done));
  }
}
