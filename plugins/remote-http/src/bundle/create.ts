/**
 * Push side: an environment → its bundle. The base rootfs and the upper dir are packed
 * into staging (hashing as they are written) under the store lock, so what is uploaded is
 * one consistent picture even if another command runs meanwhile.
 */
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import {
  canonicalJson, envDir, findEnv, hashBytes, objectPath, RuntimeFailure, StreamHasher, withLock, type Engine, type LayerRecord,
} from '@karapace/kernel';
import { BUNDLE_FORMAT, type BundleBlobRef, type BundleLayer, type BundleManifest, type PortableMetadata } from './format.js';
import { packDir } from './tar.js';

export interface BundleSource {
  path: string;
  size: number;
  sha256?: string;
}

export interface PreparedBundle {
  manifest: BundleManifest;
  /** The manifest's canonical bytes and their blake3 (what a reference points at). */
  manifestBytes: Buffer;
  digest: string;
  /** Blob hash → where to read it from (and its SHA-256 when already computed, for OCI). */
  sources: Map<string, BundleSource>;
  /** Removes the staged tars. */
  cleanup(): Promise<void>;
}

/** Opens a staged blob. */
export function openSource(bundle: PreparedBundle, hash: string): Readable {
  const src = bundle.sources.get(hash);
  if (!src) throw new Error(`blob ${hash} is not part of this bundle`);
  return createReadStream(src.path, { highWaterMark: 1 << 20 });
}

async function packToFile(dir: string, file: string): Promise<BundleBlobRef & { sha256: string }> {
  const hasher = new StreamHasher();
  // SHA-256 alongside blake3: OCI registries name blobs by it, and it is nearly free here.
  const sha = createHash('sha256');
  await pipeline(
    packDir(dir),
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const c of chunks) {
        hasher.update(c);
        sha.update(c);
        yield c;
      }
    },
    createWriteStream(file),
  );
  return { blob: hasher.digest(), size: hasher.size, sha256: sha.digest('hex') };
}

/** The image cache key of an environment's base (the directory above its rootfs). */
export function imageKeyOf(meta: { base: { rootfs: string; image_key?: string } }): string {
  return meta.base.image_key ?? basename(dirname(meta.base.rootfs));
}

export async function prepareBundle(engine: Engine, envRef: string): Promise<PreparedBundle> {
  return withLock(engine, async () => {
    const meta = await findEnv(engine.layout, envRef);
    if (meta.state === 'defined') {
      throw new RuntimeFailure('KP_REMOTE_ENV_NOT_BUILT', `environment ${meta.short_id} is not built, so there is nothing to push`, { hint: 'run `karapace build` first' });
    }
    if (!existsSync(meta.base.rootfs)) {
      throw new RuntimeFailure('KP_REMOTE_BASE_MISSING', `the base image of ${meta.short_id} is not in the image cache (${meta.base.rootfs})`, {
        hint: 'rebuild the environment (`karapace rebuild`) so its base is fetched again, then push',
      });
    }
    const staging = join(engine.layout.staging, `push-${Date.now()}-${randomBytes(4).toString('hex')}`);
    await mkdir(staging, { recursive: true });
    const cleanup = () => rm(staging, { recursive: true, force: true });
    try {
      const sources = new Map<string, BundleSource>();
      const base = await packToFile(meta.base.rootfs, join(staging, 'base.tar'));
      sources.set(base.blob, { path: join(staging, 'base.tar'), size: base.size, sha256: base.sha256 });
      const upperDir = join(envDir(engine.layout, meta.env_id), 'upper');
      await mkdir(upperDir, { recursive: true });
      const upper = await packToFile(upperDir, join(staging, 'upper.tar'));
      sources.set(upper.blob, { path: join(staging, 'upper.tar'), size: upper.size, sha256: upper.sha256 });

      const layers: BundleLayer[] = [];
      for (const hash of new Set([...meta.layers, ...meta.snapshots.map((s) => s.layer)])) {
        const recordPath = join(engine.layout.layers, `${hash}.json`);
        const recordBytes = await readFile(recordPath).catch(() => {
          throw new RuntimeFailure('KP_REMOTE_LAYER_MISSING', `layer ${hash.slice(0, 12)} of ${meta.short_id} is missing from the store`, { hint: 'run `karapace verify-store`' });
        });
        const record = JSON.parse(recordBytes.toString('utf8')) as LayerRecord;
        const recordHash = hashBytes(recordBytes);
        const recordFile = join(staging, `record-${recordHash}`);
        await writeFile(recordFile, recordBytes);
        sources.set(recordHash, { path: recordFile, size: recordBytes.length });
        const objPath = objectPath(engine.layout, record.object);
        const objSize = (await stat(objPath)).size;
        // Store objects are already content-addressed by blake3: upload them as they are.
        sources.set(record.object, { path: objPath, size: objSize });
        layers.push({ hash, record: { blob: recordHash, size: recordBytes.length }, object: { blob: record.object, size: objSize } });
      }

      const { base: _base, manifest_path: _p, manifest_dir: _d, state: _s, ...rest } = meta;
      const env: PortableMetadata = { ...rest, base: { reference: meta.base.reference, digest: meta.base.digest } };
      const manifest: BundleManifest = {
        format: BUNDLE_FORMAT,
        env,
        base: { blob: base.blob, size: base.size, image_key: imageKeyOf(meta), digest: meta.base.digest },
        upper: { blob: upper.blob, size: upper.size },
        layers,
      };
      const manifestBytes = Buffer.from(canonicalJson(manifest));
      return { manifest, manifestBytes, digest: hashBytes(manifestBytes), sources, cleanup };
    } catch (err) {
      await cleanup();
      throw err;
    }
  });
}
