/**
 * A deterministic layer tar → content objects + a tree (issue 18). Each file's content is
 * stored as an object only when the store lacks it, so a commit costs what changed. Every
 * header is re-encoded from the tree entry it became and compared with the bytes read: a
 * tar the packer would not have written byte for byte is refused (NotCanonical) and the
 * caller stores it as a tar instead — so the tree always gives back the exact tar.
 *
 * Content objects are written without an fsync; the caller makes the new ones durable
 * (`written`) before it writes the tree and the layer record that reference them.
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { hashBytes, StreamHasher } from '../hash.js';
import { encodeEntry } from '../layers/pack.js';
import { BLOCK, decodePax, padding, type UstarHeader } from '../layers/tar-format.js';
import { decodeHeader } from '../layers/tar-header.js';
import { isZero, Reader } from '../layers/tar-reader.js';
import { randomHex } from '../random.js';
import type { ContentCache } from './content-cache.js';
import { objectPath, type StoreLayout } from './layout.js';
import { tarPartsOf, treeEntryOf, type TreeEntry } from './tree.js';

/** The tar is not exactly what the deterministic packer writes; store it as a tar. */
export class NotCanonical extends Error {}

/** Files up to this size are hashed in memory before anything is written (most files). */
const IN_MEMORY_MAX = 64 << 20;

export interface IngestResult {
  entries: TreeEntry[];
  /** blake3 and size of the whole tar (the layer's exchange identity). */
  tarHash: string;
  tarSize: number;
  contentBytes: number;
  /** Content objects this ingest added to the store, and their bytes. */
  added: { objects: number; bytes: number };
  /** Paths of the objects it wrote, and of their shard directories. */
  written: string[];
}

/** Writes content objects, skipping those the store has. */
class ContentWriter {
  readonly added = { objects: 0, bytes: 0 };
  readonly written: string[] = [];
  readonly dirs = new Set<string>();
  private readonly shards = new Set<string>();
  constructor(private readonly layout: StoreLayout) {}

  private shard(hash: string): void {
    const s = hash.slice(0, 2);
    if (this.shards.has(s)) return;
    mkdirSync(join(this.layout.objects, s), { recursive: true });
    this.shards.add(s);
  }

  private temp(): string {
    mkdirSync(this.layout.staging, { recursive: true });
    return join(this.layout.staging, `.content-${process.pid}-${randomHex(6)}`);
  }

  private wrote(path: string, size: number): void {
    this.added.objects++;
    this.added.bytes += size;
    this.written.push(path);
    this.dirs.add(dirname(path));
  }

  /** Whether the store holds object `hash`. */
  has(hash: string): boolean {
    return existsSync(objectPath(this.layout, hash));
  }

  /** Stores `bytes` unless present; returns its hash. */
  putBytes(bytes: Buffer): string {
    const hash = hashBytes(bytes);
    const path = objectPath(this.layout, hash);
    if (existsSync(path)) return hash;
    this.shard(hash);
    const tmp = this.temp();
    const fd = openSync(tmp, 'wx', 0o444);
    try {
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    this.wrote(path, bytes.length);
    return hash;
  }

  /** Streams a large file into a temp object, hashing as it goes; kept only when new. */
  async putStream(reader: Reader, size: number): Promise<string> {
    const tmp = this.temp();
    const fd = openSync(tmp, 'wx', 0o444);
    const hasher = new StreamHasher();
    try {
      await reader.stream(size, (piece) => {
        hasher.update(piece);
        let off = 0;
        while (off < piece.length) off += writeSync(fd, piece, off);
      });
    } catch (err) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw err;
    }
    closeSync(fd);
    const hash = hasher.digest();
    const path = objectPath(this.layout, hash);
    if (existsSync(path)) rmSync(tmp, { force: true });
    else {
      this.shard(hash);
      renameSync(tmp, path);
      this.wrote(path, size);
    }
    return hash;
  }
}

async function readExactly(reader: Reader, n: number, what: string): Promise<Buffer> {
  const b = await reader.read(n);
  if (!b || b.length !== n) throw new NotCanonical(`the tar ends inside ${what}`);
  // Copied: the producer may reuse its chunk once the next one is asked for.
  return Buffer.from(b);
}

function header(block: Buffer): UstarHeader {
  try {
    const h = decodeHeader(block);
    if (!h) throw new NotCanonical('an empty header before the end of the archive');
    return h;
  } catch (err) {
    if (err instanceof NotCanonical) throw err;
    throw new NotCanonical((err as Error).message);
  }
}

/** An entry's path as treeEntryOf reads it (PAX path first, no trailing slash). */
function entryPath(h: UstarHeader, pax: Map<string, Buffer> | null): string {
  return (pax?.get('path')?.toString('utf8') ?? h.name).replace(/\/+$/, '');
}

/**
 * `cache`: content hashes of the packed directory's files by stat fingerprint
 * (store/content-cache.ts); a file it knows, whose object the store has, is not hashed again.
 */
export async function ingestTar(layout: StoreLayout, source: AsyncIterable<Uint8Array>, cache?: ContentCache): Promise<IngestResult> {
  const tar = new StreamHasher();
  const reader = new Reader((async function* () {
    for await (const chunk of source) {
      tar.update(chunk);
      yield chunk;
    }
  })());
  const writer = new ContentWriter(layout);
  const entries: TreeEntry[] = [];
  let contentBytes = 0;
  try {
    for (;;) {
      const first = await readExactly(reader, BLOCK, 'a header');
      if (isZero(first)) {
        if (!isZero(await readExactly(reader, BLOCK, 'the end marker'))) throw new NotCanonical('a single zero block');
        if ((await reader.read(1)) !== null) throw new NotCanonical('bytes after the end of the archive');
        break;
      }
      const raw = [first];
      let h = header(first);
      let pax: Map<string, Buffer> | null = null;
      if (h.type === 'pax-header') {
        const body = await readExactly(reader, h.size, 'a PAX header');
        raw.push(body, await readExactly(reader, padding(h.size), 'PAX padding'));
        pax = decodePax(body);
        const real = await readExactly(reader, BLOCK, 'a header');
        raw.push(real);
        h = header(real);
      }
      let content: string | undefined;
      if (h.type === 'file' && h.size > 0) {
        const path = entryPath(h, pax);
        const known = cache?.lookup(path, h.size);
        if (known && writer.has(known)) {
          // The tar's hash still takes these bytes (its source hashes them); nothing else needs them.
          await reader.stream(h.size, () => undefined);
          content = known;
        } else content = h.size <= IN_MEMORY_MAX ? writer.putBytes(await readExactly(reader, h.size, 'a file')) : await writer.putStream(reader, h.size);
        cache?.record(path, content);
        contentBytes += h.size;
        if (!isZero(await readExactly(reader, padding(h.size), 'file padding'))) throw new NotCanonical('non-zero padding');
      } else if (h.size !== 0) throw new NotCanonical(`a ${h.type} entry with a body`);
      const entry = treeEntryOf(h, pax, content);
      if (!entry) throw new NotCanonical(`an entry the packer does not write (${h.type} ${h.name})`);
      const again = Buffer.concat(encodeEntry(tarPartsOf(entry)));
      if (!again.equals(Buffer.concat(raw))) throw new NotCanonical(`the header of ${entry.path} is not the packer's`);
      entries.push(entry);
    }
  } finally {
    await reader.close();
  }
  return { entries, tarHash: tar.digest(), tarSize: tar.size, contentBytes, added: writer.added, written: [...writer.written, ...writer.dirs] };
}
