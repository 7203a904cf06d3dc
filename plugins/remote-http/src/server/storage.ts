/**
 * The server's files: `blobs/ab/<hash>` (content-addressed, verified on the way in),
 * `refs/<name>/<tag>.json` (one file per tag, so tags never overwrite each other) and
 * `tmp/` for uploads in flight. Every write is temp → fsync → rename → fsync dir.
 */
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, type ReadStream, type WriteStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { StreamHasher, fsyncDir, syncFilesystem, writeFileAtomic } from '@karapace/kernel';
import type { RefRecord } from '../protocol.js';

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

export class BlobStorage {
  readonly blobs: string;
  readonly refs: string;
  readonly tmp: string;
  /**
   * Per-key queues: a reference's compare-and-swap, and a blob's check-and-rename (so that
   * of several uploads of one blob exactly one reports it created), run one at a time.
   */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(readonly root: string) {
    this.blobs = join(root, 'blobs');
    this.refs = join(root, 'refs');
    this.tmp = join(root, 'tmp');
  }

  async init(): Promise<void> {
    await Promise.all([this.blobs, this.refs, this.tmp].map((d) => mkdir(d, { recursive: true })));
    // Uploads interrupted by a previous crash are garbage.
    for (const name of await readdir(this.tmp)) await rm(join(this.tmp, name), { force: true, recursive: true });
  }

  blobPath(hash: string): string {
    return join(this.blobs, hash.slice(0, 2), hash.slice(2));
  }

  async blobSize(hash: string): Promise<number | undefined> {
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
      for (const h of hashes.slice(i, i + SLICE)) out.push(statSync(this.blobPath(h), { throwIfNoEntry: false })?.size);
      await yieldNow();
    }
    return out;
  }

  /** Many small blobs' bytes (a batch fetch), read synchronously a slice at a time like blobSizes. */
  async readBlobs(hashes: readonly string[]): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for (let i = 0; i < hashes.length; i += SLICE) {
      for (const h of hashes.slice(i, i + SLICE)) out.push(readFileSync(this.blobPath(h)));
      await yieldNow();
    }
    return out;
  }

  openBlob(hash: string): ReadStream {
    return createReadStream(this.blobPath(hash), { highWaterMark: 1 << 20 });
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
   * Stores verified blobs (a batch upload): each written to tmp, one syncfs(2) for all of
   * them instead of an fsync each, then each renamed in unless present and its directory
   * fsynced once. Answers how many were new.
   */
  async putMany(blobs: { hash: string; bytes: Buffer }[]): Promise<number> {
    const staged = new Map<string, string>();
    // Small files: synchronous calls, a slice at a time (as in blobSizes).
    try {
      for (let i = 0; i < blobs.length; i += SLICE) {
        for (const b of blobs.slice(i, i + SLICE)) {
          if (staged.has(b.hash) || existsSync(this.blobPath(b.hash))) continue;
          const tmp = join(this.tmp, `${b.hash}.${randomBytes(6).toString('hex')}`);
          staged.set(b.hash, tmp);
          writeFileSync(tmp, b.bytes, { flag: 'wx', mode: 0o444 });
        }
        await yieldNow();
      }
      if (staged.size) await syncFilesystem(this.tmp);
      let created = 0;
      const dirs = new Set<string>();
      let n = 0;
      for (const [hash, tmp] of staged) {
        const made = await this.serialized(`blob:${hash}`, async () => {
          const target = this.blobPath(hash);
          if (existsSync(target)) return false;
          mkdirSync(dirname(target), { recursive: true });
          renameSync(tmp, target);
          dirs.add(dirname(target));
          return true;
        });
        if (made) created++;
        if (++n % SLICE === 0) await yieldNow();
      }
      for (const d of dirs) await fsyncDir(d);
      return created;
    } finally {
      for (const tmp of staged.values()) rmSync(tmp, { force: true });
    }
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
