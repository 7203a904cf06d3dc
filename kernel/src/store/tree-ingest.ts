/**
 * A deterministic layer tar → content objects + a tree (issue 18). Each file's content is
 * stored as an object only when the store lacks it, so a commit costs what changed. Every
 * header is re-encoded from the tree entry it became and compared with the bytes read: a
 * tar the packer would not have written byte for byte is refused (NotCanonical) and the
 * caller stores it as a tar instead — so the tree always gives back the exact tar.
 *
 * Loose content objects are written without an fsync (a pack is fsynced before it gets
 * its name); the caller makes the new ones durable (`written`) before it writes the tree and the layer record that reference them. The
 * caller holds the store lock (nothing else adds or removes objects meanwhile).
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { hashBytes, StreamHasher } from '../hash.js';
import { encodeEntry } from '../layers/pack.js';
import { BLOCK, decodePax, padding, type UstarHeader } from '../layers/tar-format.js';
import { decodeHeader } from '../layers/tar-header.js';
import { isZero, Reader } from '../layers/tar-reader.js';
import { digestsOf } from '../layers/tar-digests.js';
import { randomHex } from '../random.js';
import type { ContentCache } from './content-cache.js';
import { ObjectWriteThread } from './object-write-thread.js';
import { objectPath, type StoreLayout } from './layout.js';
import { crashPoint } from './crash.js';
import { packedLookup } from './objects.js';
import { PackWriter } from './pack-writer.js';
import { tarPartsOf, treeEntryOf, type TreeEntry } from './tree.js';

/** A read-only object file: written under `tmp`, then renamed to `path` (the temp goes on failure). */
function writeByRename(tmp: string, path: string, bytes: Buffer): void {
  try {
    const fd = openSync(tmp, 'wx', 0o444);
    try {
      for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

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

/** New objects written here before the rest go to a thread (loose objects only). */
const THREAD_AFTER = 256;
/**
 * An ingest with more new objects than this, or more bytes of them (up to IN_MEMORY_MAX
 * each), writes them all into one pack instead of a file each (store/packs.ts): creating
 * thousands of files costs the kernel far more than writing their bytes into one. Fewer
 * stay loose (a small commit: its object is its own file, as before).
 */
export const PACK_AFTER = 256;
const PACK_BYTES = 32 << 20;

/**
 * Writes content objects, skipping those the store has. With `pack`, new objects wait in
 * memory until there are more than PACK_AFTER (or PACK_BYTES) of them, then all go into one
 * pack (its writes on a thread); fewer are written loose when the ingest settles. Without
 * (a packages layer: its files share inodes with loose objects), each is a loose file: after
 * the first THREAD_AFTER, created by an ObjectWriteThread while this one goes on reading and
 * hashing the tar. `settle()` waits for them all and reports the first failure.
 */
class ContentWriter {
  readonly added = { objects: 0, bytes: 0 };
  readonly written: string[] = [];
  readonly dirs = new Set<string>();
  /** Shard directories, and whether this ingest created them (then they held nothing else: the store lock is held). */
  private readonly shards = new Map<string, boolean>();
  /** Objects this ingest stored (or is storing). */
  private readonly stored = new Set<string>();
  private thread: ObjectWriteThread | undefined;
  /** New objects not written yet (pack mode, until there are enough for a pack). */
  private pending: { hash: string; bytes: Buffer }[] = [];
  private pendingBytes = 0;
  private pack: PackWriter | undefined;
  /** Temp names: this process and ingest, then a counter. */
  private readonly id = randomHex(4);
  private temps = 0;
  private stagingMade = false;
  /** The store's packs as this ingest began (the caller holds the store lock). */
  private readonly packed: (hash: string) => boolean;
  constructor(private readonly layout: StoreLayout, private readonly packs: boolean) {
    this.packed = packedLookup(layout);
  }

  private shard(hash: string): void {
    const s = hash.slice(0, 2);
    if (this.shards.has(s)) return;
    const dir = join(this.layout.objects, s);
    mkdirSync(this.layout.objects, { recursive: true });
    try {
      mkdirSync(dir);
      this.shards.set(s, true);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      this.shards.set(s, false);
    }
  }

  private temp(): string {
    if (!this.stagingMade) mkdirSync(this.layout.staging, { recursive: true });
    this.stagingMade = true;
    return join(this.layout.staging, `.content-${process.pid}-${this.id}-${this.temps++}`);
  }

  private wrote(hash: string, path: string, size: number): void {
    this.stored.add(hash);
    this.added.objects++;
    this.added.bytes += size;
    this.written.push(path);
    this.dirs.add(dirname(path));
  }

  /** Whether the store holds object `hash` (or this ingest is writing it). */
  has(hash: string): boolean {
    if (this.stored.has(hash) || this.packed(hash)) return true;
    // A shard this ingest created holds only what it stored.
    if (this.shards.get(hash.slice(0, 2)) === true) return false;
    return existsSync(objectPath(this.layout, hash));
  }

  /** Writes one loose object now (temp file, rename). */
  private writeLoose(hash: string, bytes: Buffer): void {
    this.shard(hash);
    const path = objectPath(this.layout, hash);
    const tmp = this.temp();
    writeByRename(tmp, path, bytes);
    this.written.push(path);
    this.dirs.add(dirname(path));
  }

  /** Stores `bytes` (valid only during the call: copied where kept) unless present; returns its hash (`known`: the producer's, layers/tar-digests.ts). */
  async putBytes(bytes: Buffer, known?: string): Promise<string> {
    const hash = known ?? hashBytes(bytes);
    if (this.has(hash)) return hash;
    if (this.packs) {
      this.stored.add(hash);
      this.added.objects++;
      this.added.bytes += bytes.length;
      if (this.pack) {
        await this.pack.add(hash, bytes);
        return hash;
      }
      this.pending.push({ hash, bytes: Buffer.from(bytes) });
      this.pendingBytes += bytes.length;
      if (this.pending.length > PACK_AFTER || this.pendingBytes > PACK_BYTES) {
        this.pack = new PackWriter(this.layout, true);
        const waiting = this.pending;
        this.pending = [];
        this.pendingBytes = 0;
        for (const o of waiting) await this.pack.add(o.hash, o.bytes);
      }
      return hash;
    }
    this.shard(hash);
    const path = objectPath(this.layout, hash);
    this.wrote(hash, path, bytes.length);
    const tmp = this.temp();
    if (this.thread || this.added.objects > THREAD_AFTER) {
      this.thread ??= new ObjectWriteThread();
      await this.thread.write(tmp, path, Buffer.from(bytes)); // held until its batch is sent
      return hash;
    }
    writeByRename(tmp, path, bytes);
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
    this.shard(hash);
    const path = objectPath(this.layout, hash);
    if (this.has(hash)) rmSync(tmp, { force: true });
    else {
      renameSync(tmp, path);
      this.wrote(hash, path, size);
    }
    return hash;
  }

  /**
   * Waits for every object write (writing what is pending: a pack, or loose objects);
   * throws the first failure. `ok`: false after a failure, when nothing more is written.
   */
  async settle(ok: boolean): Promise<void> {
    const thread = this.thread;
    this.thread = undefined;
    const pack = this.pack;
    this.pack = undefined;
    try {
      await thread?.close();
      if (!ok) {
        await pack?.abandon();
        return;
      }
      if (pack) {
        const { written } = await pack.finish();
        this.written.push(...written);
        crashPoint('ingest:pack-written');
      }
      const waiting = this.pending;
      this.pending = [];
      for (const o of waiting) this.writeLoose(o.hash, o.bytes);
    } catch (err) {
      await pack?.abandon();
      throw err;
    }
  }
}

/** n bytes, valid only until the next read (putBytes copies what it keeps). */
async function readView(reader: Reader, n: number, what: string): Promise<Buffer> {
  const b = await reader.read(n);
  if (!b || b.length !== n) throw new NotCanonical(`the tar ends inside ${what}`);
  return b;
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

export interface IngestOptions {
  /** Many new objects go into one pack (default); false: every object loose (a packages layer's files are hard links to them). */
  pack?: boolean;
}

/**
 * `cache`: content hashes of the packed directory's files by stat fingerprint
 * (store/content-cache.ts); a file it knows, whose object the store has, is not hashed again.
 */
export async function ingestTar(layout: StoreLayout, source: AsyncIterable<Uint8Array>, cache?: ContentCache, options: IngestOptions = {}): Promise<IngestResult> {
  // The producer's content hashes (a pack thread hashed the bytes it read), else hashed here.
  const contents = digestsOf(source);
  const tar = new StreamHasher();
  const reader = new Reader((async function* () {
    for await (const chunk of source) {
      tar.update(chunk);
      yield chunk;
    }
  })());
  const writer = new ContentWriter(layout, options.pack ?? true);
  const entries: TreeEntry[] = [];
  let contentBytes = 0;
  let ok = false;
  try {
    for (;;) {
      // Not copied: a plain header is checked before its content is read (the producer
      // may reuse a chunk only once the next-but-one is asked for).
      const first = await reader.read(BLOCK);
      if (!first || first.length !== BLOCK) throw new NotCanonical('the tar ends inside a header');
      if (isZero(first)) {
        if (!isZero(await readExactly(reader, BLOCK, 'the end marker'))) throw new NotCanonical('a single zero block');
        if ((await reader.read(1)) !== null) throw new NotCanonical('bytes after the end of the archive');
        break;
      }
      let raw = first;
      let h = header(first);
      let pax: Map<string, Buffer> | null = null;
      if (h.type === 'pax-header') {
        const head = Buffer.from(first);
        const body = await readExactly(reader, h.size, 'a PAX header');
        const pad = await readExactly(reader, padding(h.size), 'PAX padding');
        pax = decodePax(body);
        const real = await readExactly(reader, BLOCK, 'a header');
        raw = Buffer.concat([head, body, pad, real]);
        h = header(real);
      }
      // The header means the same without the content's hash: checked now, the hash added after.
      const entry = treeEntryOf(h, pax, undefined);
      if (!entry) throw new NotCanonical(`an entry the packer does not write (${h.type} ${h.name})`);
      const parts = encodeEntry(tarPartsOf(entry));
      if (!(parts.length === 1 ? parts[0]!.equals(raw) : Buffer.concat(parts).equals(raw))) throw new NotCanonical(`the header of ${entry.path} is not the packer's`);
      if (h.type === 'file' && h.size > 0) {
        const path = entryPath(h, pax);
        // The producer hashes contents only for a directory its cache knows nothing of.
        const known = contents ? undefined : cache?.lookup(path, h.size);
        let content: string;
        if (known && writer.has(known)) {
          // The tar's hash still takes these bytes (its source hashes them); nothing else needs them.
          await reader.stream(h.size, () => undefined);
          content = known;
        } else if (h.size <= IN_MEMORY_MAX) {
          const bytes = await readView(reader, h.size, 'a file');
          // The producer's hash arrives by the chunk holding the content's last byte: now.
          content = await writer.putBytes(bytes, contents?.content(path));
        } else {
          content = await writer.putStream(reader, h.size);
          if (contents && contents.content(path) !== content) throw new Error(`the pack thread's hash of ${path} is not its content's`);
        }
        // Recorded either way: the next commit of this directory takes its hashes from the cache.
        cache?.record(path, content);
        entry.content = content;
        contentBytes += h.size;
        if (!isZero(await readExactly(reader, padding(h.size), 'file padding'))) throw new NotCanonical('non-zero padding');
      } else if (h.size !== 0) throw new NotCanonical(`a ${h.type} entry with a body`);
      entries.push(entry);
    }
    ok = true;
  } finally {
    await reader.close();
    // No write left running once this returns or throws; a failure of its own is reported first.
    if (ok) await writer.settle(true);
    else await writer.settle(false).catch(() => undefined);
  }
  return { entries, tarHash: tar.digest(), tarSize: tar.size, contentBytes, added: writer.added, written: [...writer.written, ...writer.dirs] };
}
