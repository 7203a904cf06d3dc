/**
 * Pull side: a bundle → an environment in the local store. Runs under the store lock with
 * a write-ahead log entry (op `pull`): every blob is streamed through a blake3 check into
 * `store/staging/pull-…/` (tars unpacked there by the kernel's layer module, which refuses
 * hostile entries), and only when all of it is verified are the pieces renamed into place,
 * each rename recorded in the WAL first, metadata last (the commit point). A failure
 * removes everything the pull added; a pull killed at any point is rolled back by the next
 * command that takes the lock.
 */
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { BlobBody } from '../blob-download.js';
import {
  computeEnvId, crashPoint, envDir, fsyncDir, hasObject, hashBytes, metadataPath, objectPath, readMetadata, StreamHasher, unpackTarStream,
  WalTransaction, writeFileAtomic, writeMetadata, withLock, ensureNameFree, type Engine, type EnvMetadata,
} from '@karapace/kernel';
import { integrityError } from '../errors.js';
import { TreeFlusher } from './durable.js';
import { MAX_MANIFEST_BYTES, parseBundleManifest, type BundleBlobRef, type BundleManifest } from './format.js';

/** A blob's bytes, unverified (a Readable will do). */
export type BlobFetcher = (ref: BundleBlobRef, role: string) => Promise<BlobBody>;

export interface InstallOptions {
  /** Local name for the environment. */
  name?: string;
  /** Where it came from, recorded in metadata (no credentials). */
  origin: string;
  /** Called with every chunk size received (progress). */
  onBytes?: (n: number) => void;
}

export interface PullResult {
  env_id: string;
  short_id: string;
  name?: string;
  digest: string;
  /** True when the environment was already in the store. */
  cached: boolean;
  bytes: number;
  blobs: number;
}

/** Reads the whole manifest blob and checks it against the digest it was asked by. */
export async function fetchManifest(stream: Readable, digest: string, what: string): Promise<BundleManifest> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stream) {
    size += (c as Buffer).length;
    if (size > MAX_MANIFEST_BYTES) {
      stream.destroy();
      throw integrityError(what, `a manifest of at most ${MAX_MANIFEST_BYTES} bytes`, 'a larger body');
    }
    chunks.push(c as Buffer);
  }
  const bytes = Buffer.concat(chunks);
  const actual = hashBytes(bytes);
  if (actual !== digest) throw integrityError(what, digest, actual);
  return parseBundleManifest(bytes);
}

/** Passes a blob's chunks through, checking its blake3 and size when it ends (or earlier, when it is too long). */
async function* verified(source: BlobBody, ref: BundleBlobRef, role: string, onBytes?: (n: number) => void): AsyncGenerator<Buffer> {
  const hasher = new StreamHasher();
  const what = `${role} (blob ${ref.blob.slice(0, 12)}…)`;
  try {
    for await (const chunk of source) {
      hasher.update(chunk as Buffer);
      onBytes?.((chunk as Buffer).length);
      if (hasher.size > ref.size) throw integrityError(`${role} size`, `${ref.size} bytes`, `more than ${ref.size} bytes`);
      yield chunk as Buffer;
    }
  } finally {
    source.destroy();
  }
  const actual = hasher.digest();
  if (actual !== ref.blob) throw integrityError(what, ref.blob, actual);
  if (hasher.size !== ref.size) throw integrityError(`${role} size`, `${ref.size} bytes`, `${hasher.size} bytes`);
}

/**
 * The unpacker writes on this thread: a file is complete when the next entry starts, so it
 * can be flushed while the download goes on (durable.ts). Its thread pool would leave files
 * half-written at that point, and on a 2-CPU machine the threads' start-up cost more than
 * they saved here (bench/RESULTS.md).
 */
const UNPACK_THREADS = 0;

/** Blobs up to this size are fetched whole, several at once, while the large ones stream. */
const SMALL_BLOB_BYTES = 1 << 20;
const SMALL_PARALLEL = 4;

/**
 * Starts fetching the small blobs of a pull into memory (verified), a few at a time, so
 * their round trips overlap the large downloads instead of following them. Each is read to
 * its end at once, so no connection is held by an unread body.
 */
function prefetchSmall(refs: { ref: BundleBlobRef; role: string }[], fetch: BlobFetcher, onBytes: (n: number) => void): Map<string, Promise<Buffer[]>> {
  const out = new Map<string, Promise<Buffer[]>>();
  let slots = SMALL_PARALLEL;
  const wakeups: (() => void)[] = [];
  const slot = async () => {
    while (slots === 0) await new Promise<void>((r) => wakeups.push(r));
    slots--;
  };
  const release = () => {
    slots++;
    wakeups.shift()?.();
  };
  for (const { ref, role } of refs) {
    if (ref.size > SMALL_BLOB_BYTES || out.has(ref.blob)) continue;
    const p = (async () => {
      await slot();
      try {
        const parts: Buffer[] = [];
        for await (const c of verified(await fetch(ref, role), ref, role, onBytes)) parts.push(Buffer.from(c));
        return parts;
      } finally {
        release();
      }
    })();
    // Awaited where the blob is used; a failure no one waits for (the pull failed first) stays quiet.
    p.catch(() => undefined);
    out.set(ref.blob, p);
  }
  return out;
}

/**
 * Runs `consume` over a verified blob. When the consumer fails first (a tampered tar may
 * fail to parse before its hash is known), the rest is read so the integrity error, the
 * real cause, is what gets reported.
 */
async function consumeVerified<T>(chunks: AsyncGenerator<Buffer>, consume: (chunks: AsyncIterable<Buffer>) => Promise<T>): Promise<T> {
  try {
    return await consume(chunks);
  } catch (err) {
    // An integrity error thrown while reading the rest replaces the consumer's error.
    for (;;) if ((await chunks.next()).done) break;
    throw err;
  }
}

export async function installBundle(engine: Engine, manifest: BundleManifest, digest: string, fetch: BlobFetcher, options: InstallOptions): Promise<PullResult> {
  const layout = engine.layout;
  const env = manifest.env;
  // The identity must follow from the lock: a bundle cannot claim someone else's env_id.
  const identity = computeEnvId(env.lock);
  if (identity.env_id !== env.env_id) {
    throw integrityError('environment identity', env.env_id, `${identity.env_id} (computed from its lock)`);
  }
  return withLock(engine, async () => {
    const existing = await readMetadata(layout, env.env_id).catch(() => undefined);
    if (existing && existsSync(envDir(layout, env.env_id))) {
      return { env_id: existing.env_id, short_id: existing.short_id, name: existing.name, digest, cached: true, bytes: 0, blobs: 0 };
    }
    if (options.name) await ensureNameFree(layout, options.name, env.env_id);

    const staging = join(layout.staging, `pull-${Date.now()}-${randomBytes(4).toString('hex')}`);
    const wal = await WalTransaction.begin(layout, 'pull', []);
    await wal.record({ kind: 'remove', path: wal.rel(staging) });
    let bytes = 0;
    let blobs = 0;
    const count = (n: number) => { bytes += n; options.onBytes?.(n); };
    const flusher = new TreeFlusher();
    /**
     * Tells the flusher about each unpacked file once the next entry shows it is complete
     * (true of the unpacker without threads: it writes each file before reading on).
     */
    const flushing = (root: string) => {
      let last: { path: string; size: number } | undefined;
      const settle = () => { if (last) flusher.fileDone(last.path, last.size); last = undefined; };
      return {
        onEntry: (e: { path: string; type: string | null; size: number }) => {
          settle();
          if (e.type === 'file' || e.type === 'contiguous-file') last = { path: join(root, e.path), size: e.size };
        },
        settle,
      };
    };
    let small = new Map<string, Promise<Buffer[]>>();
    try {
      await mkdir(staging, { recursive: true });
      // The base: reuse the local image cache when it already holds exactly this rootfs.
      let imageKey = manifest.base.image_key;
      let haveBase = false;
      const localDigest = await readFile(join(layout.images, imageKey, 'digest'), 'utf8').then((s) => s.trim(), () => undefined);
      if (localDigest === manifest.base.digest && existsSync(join(layout.images, imageKey, 'rootfs'))) haveBase = true;
      else if (localDigest !== undefined || existsSync(join(layout.images, imageKey))) imageKey = `${imageKey}-${manifest.base.digest.slice(0, 12)}`;
      if (!haveBase && existsSync(join(layout.images, imageKey, 'rootfs'))) haveBase = true;
      const warnings: string[] = [];
      // Layer objects already here are not fetched; the rest of the small blobs come in the background.
      const wanted: { ref: BundleBlobRef; role: string }[] = [];
      if (!haveBase) wanted.push({ ref: manifest.base, role: 'base image' });
      wanted.push({ ref: manifest.upper, role: 'upper layer' });
      for (const layer of manifest.layers) {
        wanted.push({ ref: layer.record, role: `layer record ${layer.hash.slice(0, 12)}` });
        if (!(await hasObject(layout, layer.object.blob))) wanted.push({ ref: layer.object, role: `layer ${layer.hash.slice(0, 12)}` });
      }
      small = prefetchSmall(wanted, fetch, count);
      const chunksOf = async (ref: BundleBlobRef, role: string): Promise<AsyncGenerator<Buffer>> => {
        const pending = small.get(ref.blob);
        if (pending) {
          const parts = await pending;
          return (async function* () { yield* parts; })();
        }
        return verified(await fetch(ref, role), ref, role, count);
      };
      if (!haveBase) {
        const chunks = await chunksOf(manifest.base, 'base image');
        const root = join(staging, 'image', 'rootfs');
        const f = flushing(root);
        const stats = await consumeVerified(chunks, (c) => unpackTarStream(c, root, { whiteouts: 'apply', onEntry: f.onEntry, threads: UNPACK_THREADS }));
        f.settle();
        warnings.push(...stats.warnings);
        await writeFile(join(staging, 'image', 'digest'), manifest.base.digest + '\n');
        blobs++;
      }
      crashPoint('pull:downloading');
      {
        const chunks = await chunksOf(manifest.upper, 'upper layer');
        const root = join(staging, 'env', 'upper');
        const f = flushing(root);
        // Overlay whiteouts come back as 0/0 devices, or (unprivileged) overlayfs' user.overlay.whiteout xattr form.
        const stats = await consumeVerified(chunks, (c) => unpackTarStream(c, root, { whiteouts: 'overlay', onEntry: f.onEntry, threads: UNPACK_THREADS }));
        f.settle();
        warnings.push(...stats.warnings);
        await Promise.all(['work', 'runtime'].map((d) => mkdir(join(staging, 'env', d), { recursive: true })));
        blobs++;
      }
      const records: { hash: string; bytes: Buffer }[] = [];
      const objects: { hash: string; file: string }[] = [];
      for (const layer of manifest.layers) {
        const role = `layer record ${layer.hash.slice(0, 12)}`;
        const parts: Buffer[] = [];
        for await (const c of await chunksOf(layer.record, role)) parts.push(Buffer.from(c));
        const recordBytes = Buffer.concat(parts);
        const record = JSON.parse(recordBytes.toString('utf8')) as { object?: string };
        if (record.object !== layer.object.blob) throw integrityError(`layer ${layer.hash.slice(0, 12)} record`, `object ${layer.object.blob}`, `object ${String(record.object)}`);
        records.push({ hash: layer.hash, bytes: recordBytes });
        blobs++;
        if ((await hasObject(layout, layer.object.blob)) || objects.some((o) => o.hash === layer.object.blob)) continue;
        const file = join(staging, 'objects', layer.object.blob);
        await mkdir(dirname(file), { recursive: true });
        const handle = await open(file, 'wx', 0o444);
        try {
          for await (const c of await chunksOf(layer.object, `layer ${layer.hash.slice(0, 12)}`)) {
            let off = 0;
            while (off < c.length) off += (await handle.write(c, off)).bytesWritten;
          }
        } finally {
          await handle.close();
        }
        flusher.fileDone(file, layer.object.size);
        objects.push({ hash: layer.object.blob, file });
        blobs++;
      }
      for (const w of warnings.slice(0, 20)) engine.logger.warn(`pull: ${w}`);
      // Durable before anything is moved into the store: the commit must never name a torn file.
      await flusher.finish(staging);
      crashPoint('pull:staged');

      // Everything is here and verified: move it into place, each step logged first, metadata last.
      for (const o of objects) {
        const target = objectPath(layout, o.hash);
        if (await hasObject(layout, o.hash)) continue;
        await wal.record({ kind: 'remove', path: wal.rel(target) });
        await mkdir(dirname(target), { recursive: true });
        await rename(o.file, target);
        await fsyncDir(dirname(target));
      }
      for (const r of records) {
        const target = join(layout.layers, `${r.hash}.json`);
        if (existsSync(target)) continue;
        await wal.record({ kind: 'remove', path: wal.rel(target) });
        await writeFileAtomic(target, r.bytes);
      }
      if (!haveBase) {
        await wal.record({ kind: 'remove', path: wal.rel(join(layout.images, imageKey)) });
        await rename(join(staging, 'image'), join(layout.images, imageKey));
        await fsyncDir(layout.images);
      }
      crashPoint('pull:moved-image');
      const target = envDir(layout, env.env_id);
      const previous = await readFile(metadataPath(layout, env.env_id), 'utf8').catch(() => null);
      await wal.record({ kind: 'remove', path: wal.rel(target) }, { kind: 'metadata', env_id: env.env_id, content: previous });
      await rm(target, { recursive: true, force: true }); // leftovers of an env without metadata
      await rename(join(staging, 'env'), target);
      await fsyncDir(layout.envs);
      crashPoint('pull:moved-env');
      const name = options.name ?? (env.name && !(await nameTaken(engine, env.name, env.env_id)) ? env.name : undefined);
      const now = new Date().toISOString();
      const meta: EnvMetadata = {
        ...env,
        name,
        state: 'built',
        base: { reference: env.base.reference, digest: env.base.digest, rootfs: join(layout.images, imageKey, 'rootfs'), image_key: imageKey },
        manifest_path: options.origin,
        manifest_dir: engine.cwd,
        updated_at: now,
      };
      await writeMetadata(layout, meta);
      crashPoint('pull:metadata');
      // Past the point of no return: recovery only clears staging from here on.
      await wal.commitPoint([{ kind: 'remove', path: wal.rel(staging) }]);
      await rm(staging, { recursive: true, force: true });
      await wal.finish();
      return { env_id: meta.env_id, short_id: meta.short_id, name, digest, cached: false, bytes, blobs };
    } catch (err) {
      flusher.abandon();
      await wal.abort();
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
  });
}

async function nameTaken(engine: Engine, name: string, envId: string): Promise<boolean> {
  try {
    await ensureNameFree(engine.layout, name, envId);
    return false;
  } catch {
    return true;
  }
}
