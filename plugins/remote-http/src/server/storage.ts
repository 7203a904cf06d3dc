/**
 * The server's files: `blobs/ab/<hash>` (one blob a file: single uploads and upload
 * sessions), `packs/<id>.pack` (the blobs of one batch upload in one file, packs.ts), both
 * content-addressed and verified on the way in; `refs/<name>/<tag>.json` (one file per tag,
 * so tags never overwrite each other) and `tmp/` for uploads in flight. Every write is
 * temp → fsync → rename → fsync dir. Reads, `missing` and fetches see loose and packed
 * blobs alike.
 */
import { closeSync, createReadStream, createWriteStream, existsSync, openSync, readFileSync, readSync, readdirSync, statSync, type WriteStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { StreamHasher, fsyncDir, hashBytes, hashFile, writeFileAtomic } from '@karapace/kernel';
import type { RefRecord } from '../protocol.js';
import { BadPack, buildPack, readPackIndex } from './packs.js';

/**
 * Pipes a request body into `out`, hashing it on the way; rejects (and stops writing) when
 * it grows past `maxBytes`, the client aborts, or either stream fails.
 */
export function receiveBody(body: Readable, out: WriteStream, hasher: StreamHasher, maxBytes: number, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      body.unpipe(out);
      out.destroy();
      reject(err);
    };
    body.on('data', (chunk: Buffer) => {
      hasher.update(chunk);
      if (hasher.size > maxBytes) fail(new UploadError(413, `${what} exceeds the limit of ${maxBytes} bytes`));
    });
    body.on('error', fail);
    body.on('aborted', () => fail(new UploadError(400, 'client aborted the upload')));
    out.on('error', fail);
    out.on('finish', () => {
      if (!failed) resolve();
    });
    body.pipe(out);
  });
}

/** Blobs handled per synchronous slice of a batch request, between yields to the event loop. */
const SLICE = 256;
const yieldNow = () => new Promise((r) => setImmediate(r));

export class UploadError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Where a packed blob is. */
interface Packed {
  pack: string;
  offset: number;
  length: number;
}

export class BlobStorage {
  readonly blobs: string;
  readonly packs: string;
  readonly refs: string;
  readonly tmp: string;
  /** Every packed blob, read from the packs' indexes at start and added to as packs are written. */
  private readonly packed = new Map<string, Packed>();
  /** Packs refused at start (moved to packs/bad/), for the log. */
  readonly badPacks: string[] = [];
  /**
   * Per-key queues: a reference's compare-and-swap, and a blob's check-and-rename (so that
   * of several uploads of one blob exactly one reports it created), run one at a time.
   */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(readonly root: string) {
    this.blobs = join(root, 'blobs');
    this.packs = join(root, 'packs');
    this.refs = join(root, 'refs');
    this.tmp = join(root, 'tmp');
  }

  /** `readOnly`: for --verify beside a running server, which must keep its uploads in flight and decide on bad packs itself. */
  async init(readOnly = false): Promise<void> {
    await Promise.all([this.blobs, this.packs, this.refs, this.tmp].map((d) => mkdir(d, { recursive: true })));
    // Uploads interrupted by a previous crash are garbage.
    if (!readOnly) for (const name of await readdir(this.tmp)) await rm(join(this.tmp, name), { force: true, recursive: true });
    await this.loadPacks(readOnly);
  }

  packPath(id: string): string {
    return join(this.packs, `${id}.pack`);
  }

  /**
   * Reads every pack's index. A pack that fails its checks is moved to packs/bad/ (kept for
   * whoever looks into it, never served): its blobs are missing, so clients send them again.
   */
  private async loadPacks(readOnly: boolean): Promise<void> {
    for (const name of readdirSync(this.packs).sort()) {
      const m = /^([0-9a-f]{64})\.pack$/.exec(name);
      if (!m) continue;
      const id = m[1]!;
      try {
        for (const e of readPackIndex(this.packPath(id), id)) {
          if (!this.packed.has(e.hash)) this.packed.set(e.hash, { pack: id, offset: e.offset, length: e.length });
        }
      } catch (err) {
        if (!(err instanceof BadPack)) throw err;
        this.badPacks.push(err.message);
        if (readOnly) continue;
        await mkdir(join(this.packs, 'bad'), { recursive: true });
        await rename(this.packPath(id), join(this.packs, 'bad', name));
      }
      await yieldNow();
    }
  }

  blobPath(hash: string): string {
    return join(this.blobs, hash.slice(0, 2), hash.slice(2));
  }

  async blobSize(hash: string): Promise<number | undefined> {
    const p = this.packed.get(hash);
    if (p) return p.length;
    try {
      return (await stat(this.blobPath(hash))).size;
    } catch {
      return undefined;
    }
  }

  /**
   * Sizes of many blobs (undefined: not here), for `missing` and batch fetches: synchronous
   * stats a slice at a time (thousands of awaited ones cost more than the stats), yielding
   * between slices so other requests are served meanwhile.
   */
  async blobSizes(hashes: readonly string[]): Promise<(number | undefined)[]> {
    const out: (number | undefined)[] = [];
    for (let i = 0; i < hashes.length; i += SLICE) {
      for (const h of hashes.slice(i, i + SLICE)) out.push(this.packed.get(h)?.length ?? statSync(this.blobPath(h), { throwIfNoEntry: false })?.size);
      await yieldNow();
    }
    return out;
  }

  /** Many small blobs' bytes (a batch fetch), read synchronously a slice at a time like blobSizes. */
  async readBlobs(hashes: readonly string[]): Promise<Buffer[]> {
    const out: Buffer[] = [];
    // One descriptor per pack for the whole request, not one open per blob.
    const fds = new Map<string, number>();
    try {
      for (let i = 0; i < hashes.length; i += SLICE) {
        for (const h of hashes.slice(i, i + SLICE)) {
          const p = this.packed.get(h);
          if (!p) {
            out.push(readFileSync(this.blobPath(h)));
            continue;
          }
          let fd = fds.get(p.pack);
          if (fd === undefined) fds.set(p.pack, (fd = openSync(this.packPath(p.pack), 'r')));
          const buf = Buffer.allocUnsafe(p.length);
          if (p.length && readSync(fd, buf, 0, p.length, p.offset) !== p.length) throw new Error(`pack ${p.pack} is shorter than its index says`);
          out.push(buf);
        }
        await yieldNow();
      }
    } finally {
      for (const fd of fds.values()) closeSync(fd);
    }
    return out;
  }

  openBlob(hash: string): Readable {
    const p = this.packed.get(hash);
    if (!p) return createReadStream(this.blobPath(hash), { highWaterMark: 1 << 20 });
    if (p.length === 0) return Readable.from([]);
    return createReadStream(this.packPath(p.pack), { start: p.offset, end: p.offset + p.length - 1, highWaterMark: 1 << 20 });
  }

  /** Every blob's name, loose and packed. */
  hashes(): string[] {
    const out = new Set(this.packed.keys());
    for (const prefix of readdirSync(this.blobs)) {
      if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
      for (const rest of readdirSync(join(this.blobs, prefix))) out.add(prefix + rest);
    }
    return [...out].sort();
  }

  /**
   * Hashes every blob, loose and packed, against its name (karapace-server --verify);
   * answers the names whose bytes do not match, and the packs refused at start.
   */
  async verify(): Promise<{ blobs: number; bad: string[] }> {
    const bad: string[] = [...this.badPacks];
    let blobs = 0;
    for (const prefix of readdirSync(this.blobs).sort()) {
      if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
      for (const rest of readdirSync(join(this.blobs, prefix)).sort()) {
        const name = prefix + rest;
        blobs++;
        const { hash } = await hashFile(join(this.blobs, prefix, rest));
        if (hash !== name) bad.push(`blobs/${prefix}/${rest} hashes to ${hash}`);
      }
    }
    const hashes = [...this.packed.keys()].sort();
    for (let i = 0; i < hashes.length; i += SLICE) {
      const slice = hashes.slice(i, i + SLICE);
      for (const [j, bytes] of (await this.readBlobs(slice)).entries()) {
        blobs++;
        const actual = hashBytes(bytes);
        if (actual !== slice[j]) bad.push(`packed ${slice[j]} (pack ${this.packed.get(slice[j]!)!.pack}) hashes to ${actual}`);
      }
    }
    return { blobs, bad };
  }

  /**
   * Streams an upload to tmp, hashing it; it enters `blobs/` only when its blake3 equals
   * the name it was sent under. Returns false when the blob already existed.
   */
  async putBlob(hash: string, body: Readable, maxBytes: number): Promise<boolean> {
    const tmp = join(this.tmp, `${hash}.${randomBytes(6).toString('hex')}`);
    const hasher = new StreamHasher();
    try {
      // 1 MiB of buffering: with the default 16 KiB every socket chunk waited for its own disk write.
      await receiveBody(body, createWriteStream(tmp, { mode: 0o444, highWaterMark: 1 << 20 }), hasher, maxBytes, 'body');
      const actual = hasher.digest();
      if (actual !== hash) throw new UploadError(400, `content hash mismatch: the body hashes to ${actual}, not ${hash}`);
      return await this.adopt(tmp, hash);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** Runs `fn` after every earlier call with the same key has finished. */
  private async serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.queues.get(key) ?? Promise.resolve()).catch(() => undefined).then(fn);
    this.queues.set(key, run);
    try {
      return await run;
    } finally {
      if (this.queues.get(key) === run) this.queues.delete(key);
    }
  }

  /** Moves a verified file from tmp/ into blobs/ (fsync, rename, fsync dir); false when the blob was already here. */
  async adopt(tmp: string, hash: string): Promise<boolean> {
    const handle = await open(tmp, 'r');
    try { await handle.sync(); } finally { await handle.close(); }
    return this.serialized(`blob:${hash}`, async () => {
      const target = this.blobPath(hash);
      if ((await this.blobSize(hash)) !== undefined) {
        await rm(tmp, { force: true });
        return false;
      }
      await mkdir(dirname(target), { recursive: true });
      await rename(tmp, target);
      await fsyncDir(dirname(target));
      return true;
    });
  }

  /**
   * Stores verified blobs (a batch upload) as one pack: the ones not here yet, once each,
   * written whole to tmp/, fsynced, renamed into packs/ and the directory fsynced; then
   * served. Answers how many were new.
   */
  async putMany(blobs: { hash: string; bytes: Buffer }[]): Promise<number> {
    const fresh = new Map<string, Buffer>();
    const sizes = await this.blobSizes(blobs.map((b) => b.hash));
    blobs.forEach((b, i) => {
      if (sizes[i] === undefined && !fresh.has(b.hash)) fresh.set(b.hash, b.bytes);
    });
    if (!fresh.size) return 0;
    const pack = buildPack([...fresh].map(([hash, bytes]) => ({ hash, bytes })));
    const tmp = join(this.tmp, `pack-${pack.id}.${randomBytes(6).toString('hex')}`);
    try {
      const handle = await open(tmp, 'wx', 0o444);
      try {
        await handle.writev(pack.parts);
        await handle.sync();
      } finally {
        await handle.close();
      }
      // The same batch twice is the same pack: renaming over it changes no byte.
      await rename(tmp, this.packPath(pack.id));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    await this.syncPacksDir();
    let created = 0;
    // Synchronous: of two batches carrying one blob, exactly one counts it created.
    for (const e of pack.entries) {
      if (this.packed.has(e.hash) || existsSync(this.blobPath(e.hash))) continue;
      this.packed.set(e.hash, { pack: pack.id, offset: e.offset, length: e.length });
      created++;
    }
    return created;
  }

  private dirSync: Promise<void> | undefined;
  private dirSyncNext: Promise<void> | undefined;

  /**
   * fsyncs packs/ for a rename just made, shared by the batches stored at once (group
   * commit): a running fsync may have started before the caller's rename, so callers that
   * arrive meanwhile share the one that starts after it.
   */
  private syncPacksDir(): Promise<void> {
    if (!this.dirSync) {
      this.dirSync = fsyncDir(this.packs).finally(() => { this.dirSync = undefined; });
      return this.dirSync;
    }
    this.dirSyncNext ??= this.dirSync.catch(() => undefined).then(() => {
      this.dirSyncNext = undefined;
      return this.syncPacksDir();
    });
    return this.dirSyncNext;
  }

  async writeEmpty(path: string): Promise<void> {
    const handle = await open(path, 'a', 0o444);
    await handle.close();
  }

  refPath(name: string, tag: string): string {
    return join(this.refs, name, `${tag}.json`);
  }

  async getRef(name: string, tag: string): Promise<RefRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.refPath(name, tag), 'utf8')) as RefRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async listRefs(): Promise<RefRecord[]> {
    const out: RefRecord[] = [];
    for (const name of (await readdir(this.refs)).sort()) {
      let tags: string[];
      try { tags = await readdir(join(this.refs, name)); } catch { continue; }
      for (const file of tags.sort()) {
        if (!file.endsWith('.json') || file.startsWith('.')) continue;
        const ref = await this.getRef(name, file.slice(0, -'.json'.length));
        if (ref) out.push(ref);
      }
    }
    return out;
  }

  /**
   * Compare-and-swap: `expected` is the digest the client last saw (`*` = any existing,
   * `null` = must not exist). Returns the conflict's current record when it does not hold.
   */
  async swapRef(name: string, tag: string, digest: string, expected: string | null): Promise<{ ok: true; record: RefRecord; created: boolean } | { ok: false; current?: RefRecord }> {
    return this.serialized(`ref:${name}@${tag}`, async () => {
      const current = await this.getRef(name, tag);
      const holds = expected === null ? current === undefined : expected === '*' ? current !== undefined : current?.digest === expected;
      if (!holds) return { ok: false as const, current };
      const record: RefRecord = { name, tag, digest, updated_at: new Date().toISOString() };
      await writeFileAtomic(this.refPath(name, tag), JSON.stringify(record, null, 2) + '\n');
      return { ok: true as const, record, created: current === undefined };
    });
  }
}
