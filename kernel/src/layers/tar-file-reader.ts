/**
 * Reading a plain tar file for the unpacker (unpackTarFile): the file is read once, in
 * order, in 1 MiB pieces, each hashed (blake3, when asked) as it is read. The unpacker
 * takes headers and what it writes itself from the pieces; the contents the pool's threads
 * read from the file themselves are skipped. Pieces ahead of the unpacker are read (and
 * hashed) in the time the main thread would otherwise wait for the threads (readAhead).
 */
import { fstatSync, readSync } from 'node:fs';
import { StreamHasher } from '../hash.js';
import { badTar } from './tar-format.js';
import type { TarInput } from './tar-reader.js';
import { SOURCE_SHRANK } from './unpack-protocol.js';

const PIECE = 1 << 20;
/** Pieces read ahead of the unpacker at most (memory). */
const AHEAD = 32;

interface Piece {
  /** File offset of buf[0]. */
  start: number;
  buf: Buffer;
  length: number;
}

export class FileReader implements TarInput {
  /** Pieces read and not yet passed, in order. */
  private readonly pieces: Piece[] = [];
  private readonly spare: Buffer[] = [];
  /** File offset of the next byte to read. */
  private end = 0;
  private pos = 0;
  private readonly hasher: StreamHasher | undefined;
  /** The size when the unpack began: the file ending before it is a truncated archive. */
  readonly size: number;

  constructor(private readonly fd: number, hash: boolean) {
    this.size = fstatSync(fd).size;
    this.hasher = hash ? new StreamHasher() : undefined;
  }

  get position(): number {
    return this.pos;
  }

  take(n: number): Buffer | undefined {
    const p = this.piece(this.pos);
    if (!p || this.pos + n > p.start + p.length) return undefined;
    const at = this.pos - p.start;
    this.pos += n;
    return p.buf.subarray(at, at + n);
  }

  read(n: number): Buffer | null {
    const b = this.take(n);
    if (b) return b;
    if (!this.readTo(this.pos + n)) {
      if (this.end <= this.pos) return null;
      throw badTar('archive is truncated');
    }
    const out = this.take(n);
    if (out) return out;
    // Across two pieces: copied.
    const copy = Buffer.allocUnsafe(n);
    for (let got = 0; got < n;) {
      const p = this.piece(this.pos)!;
      const k = p.buf.copy(copy, got, this.pos - p.start, Math.min(p.length, this.pos - p.start + n - got));
      got += k;
      this.pos += k;
    }
    return copy;
  }

  skip(n: number): boolean {
    if (this.pos + n > this.size) return false;
    this.pos += n;
    return true;
  }

  async stream(n: number, sink: (b: Buffer) => Promise<void> | void): Promise<void> {
    for (let left = n; left > 0;) {
      if (!this.readTo(this.pos + 1)) throw badTar('archive is truncated');
      const p = this.piece(this.pos)!;
      const b = this.take(Math.min(left, p.start + p.length - this.pos))!;
      const waiting = sink(b);
      if (waiting) await waiting;
      left -= b.length;
    }
  }

  async drain(): Promise<void> {
    // The rest is read only for the hash.
    if (this.hasher) this.readTo(this.size);
    this.pos = Math.max(this.pos, this.hasher ? this.end : this.size);
  }

  async close(): Promise<void> {}

  /** Reads (and hashes) one piece ahead of the unpacker; false when there is nothing to do. */
  readAhead(): boolean {
    if (this.pieces.length >= AHEAD || this.end >= this.size) return false;
    return this.readPiece();
  }

  /** The file's hash and size, once drained (with `hash`). */
  digest(): { blake3: string; size: number } {
    return { blake3: this.hasher!.digest(), size: this.end };
  }

  /** The piece holding `offset` (dropping the ones before it), if it was read. */
  private piece(offset: number): Piece | undefined {
    const pieces = this.pieces;
    while (pieces.length && pieces[0]!.start + pieces[0]!.length <= offset) this.spare.push(pieces.shift()!.buf);
    const p = pieces[0];
    return p && offset >= p.start ? p : undefined;
  }

  /** Reads on until `offset` is read (or the file ends); false if it ended first. */
  private readTo(offset: number): boolean {
    if (!this.hasher && this.end < this.pos) {
      // Nothing to hash: what was skipped need not be read at all.
      for (const p of this.pieces.splice(0)) this.spare.push(p.buf);
      this.end = this.pos;
    }
    while (this.end < offset) if (!this.readPiece()) return false;
    return true;
  }

  /** Reads the next piece (up to the size the file had at the start); false at that end. */
  private readPiece(): boolean {
    if (this.end >= this.size) return false;
    const buf = this.spare.pop() ?? Buffer.allocUnsafe(PIECE);
    const want = Math.min(buf.length, this.size - this.end);
    let length = 0;
    while (length < want) {
      const n = readSync(this.fd, buf, length, want - length, this.end + length);
      if (n === 0) throw badTar(`archive is truncated: ${SOURCE_SHRANK}`);
      length += n;
    }
    this.hasher?.update(buf.subarray(0, length));
    const start = this.end;
    this.end += length;
    // A piece wholly skipped by the unpacker is needed only for the hash.
    if (this.end <= this.pos) this.spare.push(buf);
    else this.pieces.push({ start, buf, length });
    return true;
  }
}
