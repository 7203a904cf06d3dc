/**
 * Pull side: a bundle → an environment in the local store. Every blob is downloaded into
 * staging and checked against its blake3 before anything moves; only then, under the store
 * lock, are the pieces renamed into place, metadata last (the commit point). A failure at
 * any step removes the staging directory and leaves the store as it was.
 */
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  computeEnvId, envDir, fsyncDir, hasObject, hashBytes, objectPath, readMetadata, StreamHasher, writeFileAtomic, writeMetadata,
  withLock, ensureNameFree, type Engine, type EnvMetadata,
} from '@karapace/kernel';
import { integrityError } from '../errors.js';
import { MAX_MANIFEST_BYTES, parseBundleManifest, type BundleBlobRef, type BundleManifest } from './format.js';
import { unpackTar } from './tar.js';

export type BlobFetcher = (ref: BundleBlobRef, role: string) => Promise<Readable>;

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

/**
 * Streams a blob through a blake3 check. The check runs when the source ends; on a
 * mismatch the returned stream errors (so its consumer stops) and `done` rejects.
 */
function verified(source: Readable, ref: BundleBlobRef, role: string, onBytes?: (n: number) => void): { stream: Readable; done: Promise<void> } {
  const hasher = new StreamHasher();
  const check = new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _enc, cb) {
      hasher.update(chunk);
      onBytes?.(chunk.length);
      cb(null, chunk);
    },
    flush(cb) {
      const actual = hasher.digest();
      if (actual !== ref.blob) return cb(integrityError(`${role} (blob ${ref.blob.slice(0, 12)}…)`, ref.blob, actual));
      if (hasher.size !== ref.size) return cb(integrityError(`${role} size`, `${ref.size} bytes`, `${hasher.size} bytes`));
      cb();
    },
  });
  const done = new Promise<void>((resolve, reject) => {
    check.on('error', reject);
    check.on('end', resolve);
    source.on('error', (err) => check.destroy(err));
    source.on('aborted', () => check.destroy(new Error(`the connection closed while receiving ${role}`)));
  });
  done.catch(() => undefined);
  source.pipe(check);
  return { stream: check, done };
}

/** Waits for a consumer and its verification; a failed verification is the error reported. */
async function settle(consumer: Promise<unknown>, verification: Promise<void>): Promise<void> {
  const [c, v] = await Promise.allSettled([consumer, verification]);
  if (v.status === 'rejected') throw v.reason;
  if (c.status === 'rejected') throw c.reason;
}

export async function installBundle(engine: Engine, manifest: BundleManifest, digest: string, fetch: BlobFetcher, options: InstallOptions): Promise<PullResult> {
  const layout = engine.layout;
  const env = manifest.env;
  // The identity must follow from the lock: a bundle cannot claim someone else's env_id.
  const identity = computeEnvId(env.lock);
  if (identity.env_id !== env.env_id) {
    throw integrityError('environment identity', env.env_id, `${identity.env_id} (computed from its lock)`);
  }
  const existing = await readMetadata(layout, env.env_id).catch(() => undefined);
  if (existing && existsSync(envDir(layout, env.env_id))) {
    return { env_id: existing.env_id, short_id: existing.short_id, name: existing.name, digest, cached: true, bytes: 0, blobs: 0 };
  }
  if (options.name) await ensureNameFree(layout, options.name, env.env_id);

  await mkdir(layout.staging, { recursive: true });
  const staging = join(layout.staging, `pull-${Date.now()}-${randomBytes(4).toString('hex')}`);
  let bytes = 0;
  let blobs = 0;
  const count = (n: number) => { bytes += n; options.onBytes?.(n); };
  try {
    await mkdir(staging, { recursive: true });
    // The base: reuse the local image cache when it already holds exactly this rootfs.
    let imageKey = manifest.base.image_key;
    let haveBase = false;
    const localDigest = await readFile(join(layout.images, imageKey, 'digest'), 'utf8').then((s) => s.trim(), () => undefined);
    if (localDigest === manifest.base.digest && existsSync(join(layout.images, imageKey, 'rootfs'))) haveBase = true;
    else if (localDigest !== undefined || existsSync(join(layout.images, imageKey))) imageKey = `${imageKey}-${manifest.base.digest.slice(0, 12)}`;
    if (!haveBase && existsSync(join(layout.images, imageKey, 'rootfs'))) haveBase = true;
    if (!haveBase) {
      const { stream, done } = verified(await fetch(manifest.base, 'base image'), manifest.base, 'base image', count);
      await settle(unpackTar(stream, join(staging, 'image', 'rootfs'), { whiteouts: 'keep' }), done);
      await writeFile(join(staging, 'image', 'digest'), manifest.base.digest + '\n');
      blobs++;
    }
    {
      const { stream, done } = verified(await fetch(manifest.upper, 'upper layer'), manifest.upper, 'upper layer', count);
      await settle(unpackTar(stream, join(staging, 'env', 'upper'), { whiteouts: 'overlay' }), done);
      await Promise.all(['work', 'runtime'].map((d) => mkdir(join(staging, 'env', d), { recursive: true })));
      blobs++;
    }
    const records: { hash: string; bytes: Buffer }[] = [];
    const objects: { hash: string; file: string }[] = [];
    for (const layer of manifest.layers) {
      const recordStream = verified(await fetch(layer.record, `layer record ${layer.hash.slice(0, 12)}`), layer.record, `layer record ${layer.hash.slice(0, 12)}`, count);
      const chunks: Buffer[] = [];
      await settle((async () => { for await (const c of recordStream.stream) chunks.push(c as Buffer); })(), recordStream.done);
      const recordBytes = Buffer.concat(chunks);
      const record = JSON.parse(recordBytes.toString('utf8')) as { object?: string };
      if (record.object !== layer.object.blob) throw integrityError(`layer ${layer.hash.slice(0, 12)} record`, `object ${layer.object.blob}`, `object ${String(record.object)}`);
      records.push({ hash: layer.hash, bytes: recordBytes });
      blobs++;
      if (await hasObject(layout, layer.object.blob)) continue;
      const file = join(staging, 'objects', layer.object.blob);
      await mkdir(dirname(file), { recursive: true });
      const obj = verified(await fetch(layer.object, `layer ${layer.hash.slice(0, 12)}`), layer.object, `layer ${layer.hash.slice(0, 12)}`, count);
      await settle(pipeline(obj.stream, createWriteStream(file, { mode: 0o444 })), obj.done);
      objects.push({ hash: layer.object.blob, file });
      blobs++;
    }

    // Everything is here and verified: commit under the store lock, metadata last.
    return await withLock(engine, async () => {
      if (await readMetadata(layout, env.env_id).catch(() => undefined)) {
        return { env_id: env.env_id, short_id: env.short_id, name: env.name, digest, cached: true, bytes, blobs };
      }
      if (options.name) await ensureNameFree(layout, options.name, env.env_id);
      for (const o of objects) {
        const target = objectPath(layout, o.hash);
        if (await hasObject(layout, o.hash)) continue;
        await mkdir(dirname(target), { recursive: true });
        await rename(o.file, target);
        await fsyncDir(dirname(target));
      }
      for (const r of records) {
        const target = join(layout.layers, `${r.hash}.json`);
        if (!existsSync(target)) await writeFileAtomic(target, r.bytes);
      }
      if (!haveBase) {
        await rename(join(staging, 'image'), join(layout.images, imageKey));
        await fsyncDir(layout.images);
      }
      const target = envDir(layout, env.env_id);
      await rm(target, { recursive: true, force: true }); // leftovers of an env without metadata
      await rename(join(staging, 'env'), target);
      await fsyncDir(layout.envs);
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
      return { env_id: meta.env_id, short_id: meta.short_id, name, digest, cached: false, bytes, blobs };
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function nameTaken(engine: Engine, name: string, envId: string): Promise<boolean> {
  try {
    await ensureNameFree(engine.layout, name, envId);
    return false;
  } catch {
    return true;
  }
}
