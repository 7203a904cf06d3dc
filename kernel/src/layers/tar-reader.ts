/**
 * Reading a tar stream for the unpacker: exact-size reads across the source's chunks
 * (header blocks, PAX records), file contents passed on without copying, and the PAX
 * xattr records of an entry.
 */
import { badTar } from './tar-format.js';

export class Reader {
  private cur: Buffer = Buffer.alloc(0);
  private pos = 0;
  /** Source bytes before `cur`. */
  private before = 0;
  private readonly it: AsyncIterator<Uint8Array>;
  constructor(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
    this.it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : (async function* () { yield* source; })();
  }
  /** Ends the source early (no-op when it already ended). */
  async close(): Promise<void> {
    await this.it.return?.();
  }
  private async fill(): Promise<boolean> {
    while (this.pos >= this.cur.length) {
      const r = await this.it.next();
      if (r.done) return false;
      this.before += this.cur.length;
      this.cur = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
      this.pos = 0;
    }
    return true;
  }
  /** Bytes of the source consumed so far (the offset of the next byte). */
  get position(): number {
    return this.before + this.pos;
  }
  /** Exactly n bytes when the current chunk holds them (no waiting); otherwise undefined: use read(). */
  take(n: number): Buffer | undefined {
    if (this.cur.length - this.pos < n) return undefined;
    const b = this.cur.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  /** Skips n bytes when the current chunk holds them; false otherwise: use stream(). */
  skip(n: number): boolean {
    if (this.cur.length - this.pos < n) return false;
    this.pos += n;
    return true;
  }
  /** Exactly n bytes; null at a clean end of input. */
  async read(n: number): Promise<Buffer | null> {
    if (this.cur.length - this.pos >= n) {
      const b = this.cur.subarray(this.pos, this.pos + n);
      this.pos += n;
      return b;
    }
    // Copied (once, into the result): a source may reuse a chunk's buffer once it asks for the next one.
    let out: Buffer | undefined;
    let got = 0;
    while (got < n) {
      if (!(await this.fill())) {
        if (got === 0) return null;
        throw badTar('archive is truncated');
      }
      out ??= Buffer.allocUnsafe(n);
      const take = Math.min(n - got, this.cur.length - this.pos);
      this.cur.copy(out, got, this.pos, this.pos + take);
      this.pos += take;
      got += take;
    }
    return out!;
  }
  /** Passes n bytes to `sink` in pieces, without copying; a piece stays valid until the sink's promise (if any) settles. */
  async stream(n: number, sink: (b: Buffer) => Promise<void> | void): Promise<void> {
    let left = n;
    while (left > 0) {
      if (!(await this.fill())) throw badTar('archive is truncated');
      const take = Math.min(left, this.cur.length - this.pos);
      const waiting = sink(this.cur.subarray(this.pos, this.pos + take));
      if (waiting) await waiting;
      this.pos += take;
      left -= take;
    }
  }
  /** Drains the rest, so a verifying source gets to check its hash. */
  async drain(): Promise<void> {
    while (await this.fill()) this.pos = this.cur.length;
  }
}

export function isZero(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

export function xattrsFrom(pax: Map<string, Buffer> | null): [string, Buffer][] {
  if (!pax) return [];
  const out: [string, Buffer][] = [];
  for (const [key, value] of pax) {
    if (key.startsWith('SCHILY.xattr.')) out.push([key.slice('SCHILY.xattr.'.length), value]);
    else if (key.startsWith('LIBARCHIVE.xattr.')) out.push([decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length)), Buffer.from(value.toString(), 'base64')]);
  }
  return out;
}
