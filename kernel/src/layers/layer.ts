/**
 * Layer records (`store/layers/<hash>.json`): a layer is a tar object plus its kind and
 * parent. Its hash is blake3 over those identity fields, so the same tree committed on
 * the same parent is the same layer everywhere.
 */
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { StoreError } from '../errors.js';
import { canonicalJson } from '../canonical-json.js';
import { hashBytes, hashFile, isHash, StreamHasher } from '../hash.js';
import { fsyncDir, tempPathFor, writeFileAtomic } from '../store/atomic.js';
import { objectPath, type StoreLayout } from '../store/layout.js';
import { corruptObject, hasObject } from '../store/objects.js';
import { storeTarAsTree } from '../store/tree-layer.js';
import { packTreeForIngest } from './pack-tree-thread.js';
import { openContentCache } from '../store/content-cache.js';
import { treeTar } from '../store/tree-tar.js';
import { THREADED_TAR_MIN, treeTarThreaded } from '../store/tree-tar-thread.js';
import { planLayerRestore, restorePlanned } from '../store/tree-restore.js';
import type { TreePlan } from '../store/tree-plan.js';
import type { LayerKind, LayerRecord } from '../types.js';
import type { PackStats } from './pack.js';
import { unpackTarStream, type UnpackOptions, type UnpackStats } from './unpack.js';

export function layerPath(layout: StoreLayout, hash: string): string {
  return join(layout.layers, `${hash}.json`);
}

export function layerHash(fields: { kind: LayerKind; object: string; parent?: string }): string {
  return hashBytes(canonicalJson({ kind: fields.kind, object: fields.object, ...(fields.parent ? { parent: fields.parent } : {}) }));
}

/**
 * Produces a layer's tar: hands the chunks to `consume` (which stores them) and resolves
 * with the pack stats once the tar is complete. Chunks must stay valid until `consume`
 * asks for the next one.
 */
export type TarProducer = (consume: (tar: AsyncIterable<Uint8Array>) => Promise<void>, options?: TarProducerOptions) => Promise<PackStats>;

export interface TarProducerOptions {
  /**
   * Whether a pack thread should hash the files' contents as it reads them (layers/tar-digests.ts;
   * default true): not when the consumer's content cache knows them (a later commit of the
   * same directory), since hashing them all would only lengthen that thread's walk.
   */
  hashContents?: boolean;
}

export interface PackLayerOptions {
  kind: LayerKind;
  parent?: string;
  message?: string;
  /** Where the tar comes from (default: packTree of `dir` in this process). */
  tar?: TarProducer;
}

async function writeRecord(layout: StoreLayout, record: LayerRecord): Promise<LayerRecord> {
  const existing = await readLayer(layout, record.hash).catch(() => undefined);
  if (existing) return existing;
  await writeFileAtomic(layerPath(layout, record.hash), JSON.stringify(record, null, 2) + '\n');
  return record;
}

/**
 * Packs `dir` into the object store as a tree (store/tree-layer.ts): only contents the
 * store lacks are written. A tar that is not the deterministic packer's byte for byte is
 * stored as a tar object instead, hashed as it streams to disk (never held in memory).
 * Writes the layer record; durable when it resolves.
 */
export async function packLayer(layout: StoreLayout, dir: string, options: PackLayerOptions): Promise<LayerRecord> {
  await mkdir(layout.staging, { recursive: true });
  const tmp = tempPathFor(join(layout.staging, 'layer.tar'));
  const hasher = new StreamHasher();
  const produce: TarProducer = options.tar ?? (async (consume, o) => {
    const stats: PackStats = { entries: 0, contentBytes: 0 };
    // A large tree is packed on another thread while this one ingests it (layers/pack-tree-thread.ts).
    await consume(packTreeForIngest(dir, stats, o?.hashContents));
    return stats;
  });
  // Files unchanged since the last pack of `dir` are not hashed again (their tar bytes still are).
  const cache = await openContentCache(layout, dir);
  const viaTree = await storeTarAsTree(layout, produce, cache);
  if (viaTree) {
    await cache.save();
    const hash = layerHash({ kind: options.kind, object: viaTree.object, parent: options.parent });
    const record: LayerRecord = {
      hash, kind: options.kind, ...(options.parent ? { parent: options.parent } : {}), object: viaTree.object, tree: viaTree.tree,
      size: viaTree.size, entries: viaTree.entries, created_at: new Date().toISOString(), ...(options.message ? { message: options.message } : {}),
    };
    return { ...(await writeRecord(layout, record)), added: { ...viaTree.added, cached: cache.hits } };
  }
  let stats: PackStats;
  let object: string;
  try {
    const handle = await open(tmp, 'wx', 0o444);
    try {
      // Stored only once the producer says the tar is complete (a mapped packer may fail late).
      stats = await produce(async (tar) => {
        for await (const chunk of tar) {
          hasher.update(chunk);
          let off = 0;
          while (off < chunk.length) off += (await handle.write(chunk, off, chunk.length - off)).bytesWritten;
        }
      });
      await handle.sync();
    } finally {
      await handle.close();
    }
    object = hasher.digest();
    const path = objectPath(layout, object);
    if (await hasObject(layout, object)) await rm(tmp, { force: true });
    else {
      await mkdir(dirname(path), { recursive: true });
      await rename(tmp, path);
      await fsyncDir(dirname(path));
    }
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const hash = layerHash({ kind: options.kind, object, parent: options.parent });
  return writeRecord(layout, {
    hash, kind: options.kind, ...(options.parent ? { parent: options.parent } : {}), object,
    size: hasher.size, entries: stats.entries, created_at: new Date().toISOString(), ...(options.message ? { message: options.message } : {}),
  });
}

export function corruptLayer(path: string, why: string): StoreError {
  return new StoreError('KP_STORE_LAYER_CORRUPT', `layer record ${path} is corrupt: ${why}`, {
    hint: 'run `karapace verify-store` to list every damaged item; pull the environment again from a remote',
    data: { path },
  });
}

/** Reads and checks a layer record (its hash must match its identity fields). */
export async function readLayer(layout: StoreLayout, hash: string): Promise<LayerRecord> {
  if (!isHash(hash)) throw new StoreError('KP_LAYER_INVALID_ID', `"${hash}" is not a layer hash`, { hint: 'layer ids are 64 hex characters' });
  const path = layerPath(layout, hash);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new StoreError('KP_STORE_LAYER_MISSING', `layer ${hash} is missing (${path})`, {
        hint: 'run `karapace verify-store`; pull the environment again if it was pushed',
        data: { hash, path },
      });
    }
    throw err;
  }
  let record: LayerRecord;
  try {
    record = JSON.parse(text) as LayerRecord;
  } catch {
    throw corruptLayer(path, 'not valid JSON');
  }
  if (!record || typeof record !== 'object' || !isHash(String(record.object))) throw corruptLayer(path, 'no object hash');
  if (record.hash !== hash || layerHash(record) !== hash) throw corruptLayer(path, 'its hash does not match its content');
  return record;
}

/**
 * Reads an object into two alternating buffers, verifying its hash at the end. Each chunk
 * is valid until the next-but-one is requested: fresh memory per chunk is what makes
 * createReadStream slow here (page faults at a few hundred MB/s).
 */
async function* readObjectReusing(path: string, hash: string): AsyncGenerator<Buffer> {
  const pool = [Buffer.allocUnsafe(1 << 22), Buffer.allocUnsafe(1 << 22)];
  const hasher = new StreamHasher();
  const handle = await open(path, 'r');
  try {
    for (let i = 0; ; i++) {
      const buf = pool[i % 2]!;
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      hasher.update(chunk);
      yield chunk;
    }
  } finally {
    await handle.close();
  }
  const actual = hasher.digest();
  if (actual !== hash) throw corruptObject(path, hash, actual);
}

/**
 * True when the layer's tar comes from its tree. A record may name a tree this store does
 * not hold (it came with a pull, which moves tars): then its tar object is the layer.
 */
export async function hasTree(layout: StoreLayout, record: LayerRecord): Promise<boolean> {
  return record.tree !== undefined && isHash(record.tree) && hasObject(layout, record.tree);
}

/**
 * A stored layer's tar, verified as it is read: from its tree, or its tar object. Chunks
 * are valid until the next-but-one is requested.
 */
export async function layerTar(layout: StoreLayout, record: LayerRecord): Promise<AsyncGenerator<Buffer>> {
  if (await hasTree(layout, record)) {
    const expect = { hash: record.object, size: record.size };
    // A large one on a worker thread, so that producing it and consuming it use two CPUs.
    return record.size >= THREADED_TAR_MIN ? treeTarThreaded(layout, record.tree!, expect) : treeTar(layout, record.tree!, expect);
  }
  if (!(await hasObject(layout, record.object))) {
    throw new StoreError('KP_STORE_OBJECT_MISSING', `the tar object ${record.object} of layer ${record.hash} is missing`, {
      hint: 'run `karapace verify-store`; pull the environment again if it was pushed',
      data: { hash: record.hash, object: record.object },
    });
  }
  return readObjectReusing(objectPath(layout, record.object), record.object);
}

/**
 * Unpacks tar chunks into a directory (unpackTarStream, or the same run elsewhere). `tree`,
 * when set, restores a planned tree natively where the unpacker writes (store/tree-restore.ts).
 */
export type Unpacker = ((source: AsyncIterable<Uint8Array>, targetDir: string, options: UnpackOptions) => Promise<UnpackStats>) & { tree?: TreeRestorer };

/** Restores a planned tree natively into `targetDir`; undefined when it handed over (the directory is empty again). */
export type TreeRestorer = (planned: TreePlan, targetDir: string, options: UnpackOptions) => Promise<UnpackStats | undefined>;

/**
 * Unpacks a stored layer, verifying the tar object's hash as it is read. `unpack` may
 * write elsewhere (inside an environment's id mapping); the verification stays here.
 */
export async function unpackLayer(layout: StoreLayout, hash: string, targetDir: string, options: UnpackOptions, unpack: Unpacker = unpackTarStream): Promise<UnpackStats> {
  const record = await readLayer(layout, hash);
  if (await hasTree(layout, record)) {
    // Natively from the tree: the tar it stands for is hashed over the bytes written and
    // checked, as below; the tar path takes whatever it hands over.
    const restore = unpack.tree ?? (unpack === unpackTarStream ? (p: TreePlan, dir: string, o: UnpackOptions) => restorePlanned(layout.store, dir, p, o) : undefined);
    const planned = restore && (await planLayerRestore(layout, record, options));
    const restored = planned && (await restore(planned, targetDir, options));
    if (process.env.KARAPACE_DEBUG_NATIVE) process.stderr.write(`layer ${hash.slice(0, 12)}: ${restored ? 'restored natively from its tree' : planned ? 'the native restore handed over' : 'no native restore'}\n`);
    if (restored) return restored;
    // A tree's tar is verified as it is produced (each content object, then the whole tar).
    return unpack(await layerTar(layout, record), targetDir, options);
  }
  if (!(await hasObject(layout, record.object))) {
    throw new StoreError('KP_STORE_OBJECT_MISSING', `the tar object ${record.object} of layer ${hash} is missing`, {
      hint: 'run `karapace verify-store`; pull the environment again if it was pushed',
      data: { hash, object: record.object },
    });
  }
  try {
    return await unpack(readObjectReusing(objectPath(layout, record.object), record.object), targetDir, options);
  } catch (err) {
    // A damaged object may fail as a malformed tar before its hash is checked: name the object.
    const path = objectPath(layout, record.object);
    const actual = await hashFile(path).catch(() => undefined);
    if (actual && actual.hash !== record.object) throw corruptObject(path, record.object, actual.hash);
    throw err;
  }
}
