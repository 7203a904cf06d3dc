/**
 * The blake3 of a whole tar file being unpacked by unpackTarFile, taken by the main thread
 * in the time it would otherwise spend waiting for the pool's threads (UnpackPool.onIdle),
 * a piece at a time, and finished at the end. The threads are the bottleneck of such an
 * unpack; the main thread, which reads only headers, has time to spare.
 */
import { readSync } from 'node:fs';
import { StreamHasher } from '../hash.js';

/** Small enough that the pool is looked at again soon. */
const PIECE = 1 << 20;

export class SourceHasher {
  private readonly hasher = new StreamHasher();
  private readonly buf = Buffer.allocUnsafe(PIECE);
  private at = 0;

  /** Hashes `size` bytes of `fd` from its start. */
  constructor(private readonly fd: number, readonly size: number) {}

  /** Hashes the next piece; false when everything is hashed. */
  step(): boolean {
    if (this.at >= this.size) return false;
    const want = Math.min(PIECE, this.size - this.at);
    const n = readSync(this.fd, this.buf, 0, want, this.at);
    if (n === 0) throw new Error('the archive changed while it was being unpacked (it is shorter than it was)');
    this.hasher.update(this.buf.subarray(0, n));
    this.at += n;
    return this.at < this.size;
  }

  /** Hashes the rest and returns the digest. */
  digest(): string {
    while (this.step());
    return this.hasher.digest();
  }
}
