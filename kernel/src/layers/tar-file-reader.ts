/**
 * Reading a plain tar file for the unpacker by position (pread): headers and whatever the
 * unpacker handles itself come through a small window, and the contents the pool's threads
 * read from the file themselves are skipped without being read here at all.
 */
import { fstatSync, readSync } from 'node:fs';
import { badTar } from './tar-format.js';
import type { TarInput } from './tar-reader.js';

/** Large enough to hold the headers and contents of a run of small files in one read. */
const WINDOW = 128 << 10;

export class FileReader implements TarInput {
  private buf = Buffer.allocUnsafe(WINDOW);
  /** File offsets of the window's first byte and of the byte after its last. */
  private start = 0;
  private end = 0;
  private pos = 0;
  /** The size when the unpack began: skipping past it is a truncated archive. */
  readonly size: number;

  constructor(private readonly fd: number) {
    this.size = fstatSync(fd).size;
  }

  get position(): number {
    return this.pos;
  }

  take(n: number): Buffer | undefined {
    if (this.pos < this.start || this.pos + n > this.end) return undefined;
    const at = this.pos - this.start;
    this.pos += n;
    return this.buf.subarray(at, at + n);
  }

  read(n: number): Buffer | null {
    const b = this.take(n);
    if (b) return b;
    const got = this.fill(n);
    if (got === 0 && n > 0) {
      // The end, unless the file was longer when the unpack began.
      if (this.pos < this.size) throw badTar('archive is truncated (it is shorter than when the unpack began)');
      return null;
    }
    if (got < n) throw badTar('archive is truncated');
    return this.take(n)!;
  }

  skip(n: number): boolean {
    if (this.pos + n > this.size) return false;
    this.pos += n;
    return true;
  }

  async stream(n: number, sink: (b: Buffer) => Promise<void> | void): Promise<void> {
    for (let left = n; left > 0;) {
      if (this.pos < this.start || this.pos >= this.end) {
        if (this.fill(1) === 0) throw badTar('archive is truncated');
      }
      const b = this.take(Math.min(left, this.end - this.pos))!;
      const waiting = sink(b);
      if (waiting) await waiting;
      left -= b.length;
    }
  }

  async drain(): Promise<void> {
    this.pos = Math.max(this.pos, this.size);
  }

  async close(): Promise<void> {}

  /** Reads the window at `pos`, at least n bytes when the file has them; returns the bytes at hand from `pos`. */
  private fill(n: number): number {
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
    this.start = this.pos;
    this.end = this.pos;
    while (this.end - this.start < this.buf.length) {
      const got = readSync(this.fd, this.buf, this.end - this.start, this.buf.length - (this.end - this.start), this.end);
      if (got === 0) break;
      this.end += got;
      if (this.end - this.start >= n) break;
    }
    return this.end - this.start;
  }
}
