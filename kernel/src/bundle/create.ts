/**
 * Push side: an environment → its bundle, without staging copies. The base rootfs and the
 * upper dir are packed by the kernel's layer module (`packTree`) twice: once to learn the
 * blob's hash and size (so the remote can be asked what it lacks), and once more, streamed
 * straight into the upload, only when the remote lacks it. The streamed pack is hashed
 * again on the way out (or, for an upper dir whose hash came from its stat fingerprint,
 * fingerprinted again after it): if the tree changed in between, the upload fails instead
 * of sending something else under the announced hash. The base's hash is cached per image
 * digest (`<root>/cache/bundles/`), so a second environment on the same base, or a second
 * push, does not pack it at all.
 */
import { closeSync, createReadStream, existsSync, lstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { canonicalJson } from '../canonical-json.js';
import { hashBytes, isHash, StreamHasher } from '../hash.js';
import { RuntimeFailure } from '../errors.js';
import { packTree } from '../layers/pack.js';
import { writeFileAtomic } from '../store/atomic.js';
import { envDir, objectPath } from '../store/layout.js';
import { readFully } from '../store/objects.js';
import type { LayerRecord } from '../types.js';
import type { Engine } from '../engine/engine.js';
import { findEnv } from '../engine/find.js';
import { handleFor } from '../engine/handle.js';
import { envTarChunks } from '../mapped/run.js';
import { withLock } from '../engine/with-lock.js';
import { BUNDLE_FORMAT, BUNDLE_FORMAT_OBJECTS, BUNDLE_FORMAT_PACKAGES, bundleBlobs, type BundleBlobRef, type BundleLayer, type BundleManifest, type BundleTarRef, type PortableMetadata } from './format.js';
import { packagesLayerRoot, readPackagesLayer } from '../store/packages-layer.js';
import { addDirTree, addTreeSources, ingestDir, scanDir, type DirPrint, type TreeContents } from './tree-sources.js';

/** Where a blob's bytes come from: a file (store objects), memory, or a tree packed on demand. */
export type BundleSource =
  /**
   * `changing`: a file of a live tree (not a store object): its bytes are checked against
   * the blob's hash as they are read — or, with `print`, by its dir's fingerprint after the
   * uploads (BundlePlan.unchanged).
   */
  | { kind: 'file'; path: string; size: number; sha256?: string; changing?: string; print?: DirPrint; /** Where the blob starts in `path` (a packed store object); default 0. */ offset?: number }
  | { kind: 'bytes'; bytes: Buffer; size: number; sha256?: string }
  | {
    kind: 'tree'; dir: string; what: string; size: number; sha256?: string; cache?: string;
    /** How the tree is packed (an env's own layers: inside its id mapping); default packTree of `dir` here. */
    pack?: (reuseBuffers: boolean) => AsyncIterable<Buffer>;
    /**
     * The tree's stat fingerprint when its hash came from the fingerprint cache without
     * packing: a re-pack is then checked by fingerprinting the tree again, not by hashing it.
     */
    fingerprint?: string;
  };

export interface PreparedBundle {
  manifest: BundleManifest;
  /** The manifest's canonical bytes and their blake3 (what a reference points at). */
  manifestBytes: Buffer;
  digest: string;
  /** Blob hash → where to read it from (and its SHA-256 when computed, for OCI). */
  sources: Map<string, BundleSource>;
  /** Nothing is staged any more; kept so callers need not care. */
  cleanup(): Promise<void>;
}

export interface PrepareOptions {
  /** Also compute every blob's SHA-256 (OCI registries name blobs by it). */
  sha256?: boolean;
  /**
   * Format v3: the packages layer, the upper dir and the snapshot layers go as trees and
   * content objects (tree-sources.ts) where the store has their trees; not with `sha256`.
   */
  objects?: boolean;
}

/** A bundle whose upper-dir hash may still be unknown (see planBundle). */
export interface BundlePlan {
  sources: Map<string, BundleSource>;
  /** The upper dir's blob, when known without packing it (or after packing it to hash it). */
  upper?: BundleBlobRef;
  /** The upper dir to stream into an upload session when `upper` is not known. */
  upperDir: string;
  upperWhat: string;
  /** Blobs known so far (everything but an unknown upper), with roles; with `objects`, the trees' content objects too. */
  known: (BundleBlobRef & { role: string })[];
  /** Builds the manifest once the upper dir's blob is known, and remembers that blob for next time. */
  complete(upper: BundleTarRef): Promise<PreparedBundle>;
  /** The upper dir's tar, packed as the env's backend sees it (chunks valid until the next-but-one). */
  packUpper(): AsyncIterable<Buffer>;
  /** Throws KP_REMOTE_CHANGED when a dir whose files were read unhashed (DirPrint) has changed since its fingerprint; complete() calls it too. */
  unchanged(): void;
}

/** Bumped whenever the bytes packTree produces for a tree could change. */
const BASE_CACHE_VERSION = 1;
const CHUNK = 4 << 20;

function changedWhilePushing(what: string): RuntimeFailure {
  return new RuntimeFailure('KP_REMOTE_CHANGED', `${what} changed while it was being pushed`, {
    hint: 'stop what writes to the environment (or rebuild its base) and push again',
  });
}

type TreePacker = (reuseBuffers: boolean) => AsyncIterable<Buffer>;
const hostPacker = (dir: string): TreePacker => (reuseBuffers) => packTree(dir, { reuseBuffers, chunkSize: CHUNK });

/** Packs a tree once to learn its blake3, size and (optionally) SHA-256. */
async function digestPack(pack: TreePacker, sha256: boolean): Promise<{ blob: string; size: number; sha256?: string }> {
  const hasher = new StreamHasher();
  const sha = sha256 ? createHash('sha256') : undefined;
  for await (const chunk of pack(true)) {
    hasher.update(chunk);
    sha?.update(chunk);
  }
  return { blob: hasher.digest(), size: hasher.size, ...(sha ? { sha256: sha.digest('hex') } : {}) };
}

interface BaseCacheEntry {
  version: number;
  digest: string;
  blob: string;
  size: number;
  sha256?: string;
}

function baseCachePath(engine: Engine, imageDigest: string): string {
  return join(engine.layout.root, 'cache', 'bundles', `base-${imageDigest}.json`);
}

/** The base image's tar hash: from the cache when this image was packed before. */
function baseBlob(engine: Engine, rootfs: string, imageDigest: string, sha256: boolean): Promise<{ blob: string; size: number; sha256?: string; cache: string }> {
  return cachedTreeBlob(baseCachePath(engine, imageDigest), imageDigest, hostPacker(rootfs), sha256);
}

/** A packages layer never changes once made: its tar hash is cached by its name. */
function packagesBlob(engine: Engine, name: string, pack: TreePacker, sha256: boolean): Promise<{ blob: string; size: number; sha256?: string; cache: string }> {
  return cachedTreeBlob(join(engine.layout.root, 'cache', 'bundles', `packages-${name}.json`), name, pack, sha256);
}

/** The tar hash of a tree that does not change under `key`: packed once, then from `cache`. */
async function cachedTreeBlob(cache: string, key: string, pack: TreePacker, sha256: boolean): Promise<{ blob: string; size: number; sha256?: string; cache: string }> {
  const cached = await readFile(cache, 'utf8').then((t) => JSON.parse(t) as BaseCacheEntry, () => undefined);
  if (cached && cached.version === BASE_CACHE_VERSION && cached.digest === key && isHash(cached.blob) && (cached.sha256 || !sha256)) {
    return { blob: cached.blob, size: cached.size, sha256: cached.sha256, cache };
  }
  const packed = await digestPack(pack, true);
  const entry: BaseCacheEntry = { version: BASE_CACHE_VERSION, digest: key, ...packed };
  await mkdir(dirname(cache), { recursive: true });
  await writeFileAtomic(cache, JSON.stringify(entry) + '\n');
  return { ...packed, cache };
}

/**
 * The tar of a tree, re-packed, checked against the hash announced for it: by hashing it
 * again, or — when that hash came from the tree's fingerprint — by fingerprinting the tree
 * again (unchanged stats before and after the pack mean the same tar, as for the cache).
 */
async function* packVerified(source: Extract<BundleSource, { kind: 'tree' }>, expected: string, what: string, reuseBuffers = false): AsyncGenerator<Buffer> {
  const hasher = source.fingerprint ? undefined : new StreamHasher();
  let size = 0;
  for await (const chunk of (source.pack ?? hostPacker(source.dir))(reuseBuffers)) {
    hasher?.update(chunk);
    size += chunk.length;
    if (size > source.size) break;
    yield chunk;
  }
  const same = hasher ? hasher.digest() === expected : fingerprintTree(source.dir)?.fingerprint === source.fingerprint;
  if (size !== source.size || !same) {
    // A stale cache entry must not fail the next push too.
    if (source.cache) await rm(source.cache, { force: true });
    throw changedWhilePushing(what);
  }
}

/** A file of a live tree checked by its dir's fingerprint (DirPrint): here only its size. */
async function* readSizedChunks(path: string, size: number, what: string): AsyncGenerator<Buffer> {
  let seen = 0;
  try {
    for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) {
      seen += (c as Buffer).length;
      if (seen > size) break;
      yield c as Buffer;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw changedWhilePushing(what);
    throw err;
  }
  if (seen !== size) throw changedWhilePushing(what);
}

/** A file of a live tree, checked to hash to `expected` with `size` bytes (else KP_REMOTE_CHANGED). */
async function* readVerified(path: string, expected: string, size: number, what: string): AsyncGenerator<Buffer> {
  const hasher = new StreamHasher();
  for await (const c of readSizedChunks(path, size, what)) {
    hasher.update(c);
    yield c;
  }
  if (hasher.digest() !== expected) throw changedWhilePushing(what);
}

async function* sliced(chunks: AsyncIterable<Buffer>, start: number, end: number): AsyncGenerator<Buffer> {
  let pos = 0;
  for await (const c of chunks) {
    const from = Math.max(start - pos, 0);
    const to = Math.min(end + 1 - pos, c.length);
    if (to > from) yield c.subarray(from, to);
    pos += c.length;
    if (pos > end) return;
  }
}

/** Opens a blob for upload; `start`/`end` (inclusive) select a byte range (chunked uploads). */
export function openSource(bundle: Pick<PreparedBundle, 'sources'>, hash: string, start?: number, end?: number): Readable {
  const src = bundle.sources.get(hash);
  if (!src) throw new Error(`blob ${hash} is not part of this bundle`);
  const ranged = start !== undefined;
  const last = end ?? src.size - 1;
  if (src.kind === 'file' && src.changing) {
    if (src.print) src.print.read = true;
    const chunks = src.print ? readSizedChunks(src.path, src.size, src.changing) : readVerified(src.path, hash, src.size, src.changing);
    return Readable.from(ranged ? sliced(chunks, start, last) : chunks, { objectMode: false, highWaterMark: 2 });
  }
  if (src.kind === 'file') {
    const at = src.offset ?? 0;
    if (src.size === 0) return Readable.from([], { objectMode: false });
    return createReadStream(src.path, { highWaterMark: 1 << 20, ...(ranged || at ? { start: at + (start ?? 0), end: at + last } : {}) });
  }
  if (src.kind === 'bytes') return Readable.from([ranged ? src.bytes.subarray(start, last + 1) : src.bytes], { objectMode: false });
  const chunks = packVerified(src, hash, src.what);
  // A ranged read packs everything before the range too: only PATCH-chunked OCI uploads ask for one.
  return Readable.from(ranged ? sliced(chunks, start, last) : chunks, { objectMode: false, highWaterMark: 2 });
}

/** `size` bytes of `path` from `offset` (a packed object; checked against its hash by whoever sent it: the remote). */
function readRange(path: string, offset: number, size: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const bytes = Buffer.allocUnsafe(size);
    if (readFully(fd, bytes, 0, size, offset) !== size) throw new Error(`${path} ends inside the object at ${offset}`);
    return bytes;
  } finally {
    closeSync(fd);
  }
}

/**
 * A whole blob for upload as chunks, each valid only until the next is asked for: a tree
 * is packed into two reused buffers (for a consumer that writes each chunk before asking
 * for the next, as HttpRemoteClient does with such a body).
 */
export function sourceChunks(bundle: Pick<PreparedBundle, 'sources'>, hash: string): AsyncIterable<Buffer> {
  const src = bundle.sources.get(hash);
  if (src?.kind === 'tree') return packVerified(src, hash, src.what, true);
  return openSource(bundle, hash) as AsyncIterable<Buffer>;
}

/**
 * A file whose size is known, read whole: open, one read of a byte more than expected (a
 * file that grew shows as longer), close; readFileSync's fstat and second read are saved
 * on thousands of small files.
 */
function readSized(path: string, size: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(size + 1);
    let got = 0;
    // A read that stops at `size` when size + 1 were asked for has met the end of the file.
    for (let n; got < size || got === 0; got += n) if ((n = readSync(fd, buf, got, size + 1 - got, null)) === 0) break;
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/**
 * A small blob's bytes at once (batched uploads): a file is read whole, without a stream
 * (thousands of small files); a live tree's file is checked against the blob's hash.
 */
export async function sourceBytes(bundle: Pick<PreparedBundle, 'sources'>, hash: string): Promise<Buffer> {
  const src = bundle.sources.get(hash);
  if (src?.kind === 'bytes') return src.bytes;
  if (src?.kind === 'file') {
    let bytes: Buffer;
    try {
      bytes = src.offset === undefined ? readSized(src.path, src.size) : readRange(src.path, src.offset, src.size);
    } catch (err) {
      if (src.changing && (err as NodeJS.ErrnoException).code === 'ENOENT') throw changedWhilePushing(src.changing);
      throw err;
    }
    if (src.print) src.print.read = true;
    if (src.changing && (bytes.length !== src.size || (!src.print && hashBytes(bytes) !== hash))) throw changedWhilePushing(src.changing);
    return bytes;
  }
  const parts: Buffer[] = [];
  for await (const c of sourceChunks(bundle, hash)) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** A blob's SHA-256 (hex), computed when the bundle was prepared without it. */
export async function sourceSha256(bundle: Pick<PreparedBundle, 'sources'>, hash: string): Promise<string> {
  const src = bundle.sources.get(hash);
  if (!src) throw new Error(`blob ${hash} is not part of this bundle`);
  if (src.sha256) return src.sha256;
  const h = createHash('sha256');
  for await (const c of openSource(bundle, hash)) h.update(c as Buffer);
  src.sha256 = h.digest('hex');
  return src.sha256;
}

/**
 * A stat fingerprint of a tree (path, type, mode, owner, size, inode, mtime, ctime of every
 * entry), like git's index: when it is unchanged, so is the tar the tree packs to. ctime
 * cannot be set by users, so any write, chmod or xattr change shows. `racy`: something
 * changed within the last two seconds (timestamps are coarse), so the pair is not cached.
 */
function fingerprintTree(dir: string): { fingerprint: string; racy: boolean } | undefined {
  const hasher = new StreamHasher();
  const started = BigInt(Date.now()) * 1_000_000n;
  let newest = 0n;
  const visit = (abs: string, rel: string) => {
    const st = lstatSync(abs, { bigint: true });
    if (st.ctimeNs > newest) newest = st.ctimeNs;
    hasher.update(`${rel}\0${st.mode}\0${st.uid}\0${st.gid}\0${st.size}\0${st.ino}\0${st.mtimeNs}\0${st.ctimeNs}\n`);
    if (st.isDirectory()) for (const name of readdirSync(abs).sort()) visit(join(abs, name), rel ? `${rel}/${name}` : name);
  };
  try {
    visit(dir, '');
  } catch (err) {
    // Directories of subordinate ids (full id mapping) the user cannot list: not known, so packed.
    if ((err as NodeJS.ErrnoException).code === 'EACCES') return undefined;
    throw err;
  }
  return { fingerprint: hasher.digest(), racy: newest > started - 2_000_000_000n };
}

interface UpperCacheEntry {
  version: number;
  fingerprint: string;
  /** Taken while the tree was still changing: only a hint to hash first (git's "racy" entries). */
  racy: boolean;
  blob: string;
  size: number;
  /** The blake3 of the dir's tree (bundle v3), kept beside this file as `.tree`. */
  tree?: string;
}

function upperCachePath(engine: Engine, envId: string): string {
  return join(engine.layout.root, 'cache', 'bundles', `upper-${envId}.json`);
}

/** The image cache key of an environment's base (the directory above its rootfs). */
export function imageKeyOf(meta: { base: { rootfs: string; image_key?: string } }): string {
  return meta.base.image_key ?? basename(dirname(meta.base.rootfs));
}

/**
 * Everything a push needs except, possibly, the upper dir's hash: with `defer`, an upper
 * dir that changed since it was last pushed is not packed here (the caller streams it into
 * an upload session and learns its hash there); without, it is packed once to hash it.
 */
export async function planBundle(engine: Engine, envRef: string, options: PrepareOptions & { defer?: boolean } = {}): Promise<BundlePlan> {
  const sha256 = options.sha256 === true;
  const objects = options.objects === true && !sha256;
  const contents: TreeContents = new Map();
  // Under the lock: the hashes and the records describe one consistent picture.
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
    const sources = new Map<string, BundleSource>();
    const base = await baseBlob(engine, meta.base.rootfs, meta.base.digest, sha256);
    sources.set(base.blob, { kind: 'tree', dir: meta.base.rootfs, what: `the base image (${meta.base.rootfs})`, size: base.size, sha256: base.sha256, cache: base.cache });
    // An image extracted without privileges lacks its owners and device nodes: its canonical
    // listing (blake3 = the image digest) lets the puller verify the rest (kernel pull.ts).
    const listing = await readFile(join(dirname(meta.base.rootfs), 'tree')).catch(() => undefined);
    const tree = listing && hashBytes(listing) === meta.base.digest ? { blob: meta.base.digest, size: listing.length } : undefined;
    if (tree && listing) sources.set(tree.blob, { kind: 'bytes', bytes: listing, size: listing.length });

    // The packages layer: what the build installed, below the upper dir.
    const packagesName = meta.packages_layer;
    const packagesRecord = packagesName === undefined ? undefined : await readPackagesLayer(engine.layout, packagesName);
    if (packagesName !== undefined && !packagesRecord) {
      throw new RuntimeFailure('KP_REMOTE_LAYER_MISSING', `the packages layer ${packagesName} of ${meta.short_id} is missing from the store`, { hint: 'run `karapace verify-store`, then `karapace rebuild` the environment' });
    }
    // The env's own layers are packed as its backend sees them: inside its id mapping, when it has one.
    const handle = handleFor(engine.layout, meta);
    const envPacker = (dir: string): TreePacker => (reuseBuffers) => envTarChunks(engine.kernel, handle, dir, { chunkSize: CHUNK, reuseBuffers });
    const packagesPack = packagesName === undefined ? undefined : envPacker(packagesLayerRoot(engine.layout, packagesName));
    const packages: (BundleTarRef & { sha256?: string; cache?: string }) | undefined = packagesName === undefined ? undefined : await packagesBlob(engine, packagesName, packagesPack!, sha256);
    // Its stored tree, when it gives the very tar the env's packer makes (not under full id mapping).
    if (objects && packages && packagesRecord?.tree && packagesRecord.tar?.hash === packages.blob) {
      const tree = await addTreeSources(engine.layout, packagesRecord.tree, sources, contents);
      if (tree) packages.tree = tree;
    }
    if (packages && !packages.tree && !sources.has(packages.blob)) {
      sources.set(packages.blob, {
        kind: 'tree', dir: packagesLayerRoot(engine.layout, packagesName!), what: `the packages layer of ${meta.short_id}`, size: packages.size, sha256: packages.sha256, cache: packages.cache, pack: packagesPack,
      });
    }

    const upperDir = join(envDir(engine.layout, meta.env_id), 'upper');
    const upperWhat = `the upper dir of ${meta.short_id}`;
    await mkdir(upperDir, { recursive: true });
    // Fingerprint before packing: a change during the pack then shows next time.
    const upperPack = envPacker(upperDir);
    const print = fingerprintTree(upperDir) ?? { fingerprint: `unreadable-${Date.now()}`, racy: true };
    const cachePath = upperCachePath(engine, meta.env_id);
    const cached = await readFile(cachePath, 'utf8').then((t) => JSON.parse(t) as UpperCacheEntry, () => undefined);
    let upper: (BundleTarRef & { sha256?: string }) | undefined;
    const same = cached?.version === BASE_CACHE_VERSION && cached.fingerprint === print.fingerprint && isHash(cached.blob);
    let fromPrint = false;
    // v3: the upper dir's tree; its files are read from the dir at upload time where this process
    // can read them all, else its contents are stored as objects first (as a commit does).
    const readable = process.getuid?.() === 0 || (await engine.kernel.backendOwnerMapping(meta.backend)) !== 'full';
    let scanned: BundleTarRef | undefined;
    const treeCache = `${cachePath.slice(0, -'.json'.length)}.tree`;
    // Taken before the tree is made (or found unchanged): the same stats after the uploads mean the same bytes.
    const dirPrint: DirPrint | undefined = print.racy ? undefined : { dir: upperDir, fingerprint: print.fingerprint, what: upperWhat };
    if (objects && readable && same && !cached!.racy && !print.racy && cached!.tree) {
      // Unchanged since the last push (stat fingerprint, as for the tar): its tree is not made again.
      const bytes = await readFile(treeCache).catch(() => undefined);
      if (bytes && hashBytes(bytes) === cached!.tree) scanned = addDirTree(upperDir, { blob: cached!.blob, size: cached!.size }, bytes, sources, contents, upperWhat, dirPrint);
    }
    if (objects && readable && !scanned) scanned = await scanDir(engine.layout, upperDir, () => upperPack(true), sources, contents, upperWhat, dirPrint);
    else if (objects && !scanned) {
      const ingested = await ingestDir(engine.layout, upperDir, () => upperPack(true));
      if (ingested?.tree) scanned = { blob: ingested.blob, size: ingested.size, tree: await addTreeSources(engine.layout, ingested.tree.blob, sources, contents) };
    }
    if (scanned?.tree) {
      upper = scanned;
    } else if (same && !cached!.racy && !print.racy && !sha256) {
      upper = { blob: cached!.blob, size: cached!.size };
      fromPrint = true;
    } else if (!options.defer || sha256 || print.racy || same) {
      // Racy (just changed), or pushed before while racy: hash first, so the remote is asked before anything is sent.
      upper = await digestPack(upperPack, sha256);
    }
    if (upper && !upper.tree && !sources.has(upper.blob)) {
      sources.set(upper.blob, { kind: 'tree', dir: upperDir, what: upperWhat, size: upper.size, sha256: upper.sha256, pack: upperPack, ...(fromPrint ? { fingerprint: print.fingerprint } : {}) });
    }

    const layers: BundleLayer[] = [];
    for (const hash of new Set([...meta.layers, ...meta.snapshots.map((s) => s.layer)])) {
      const recordPath = join(engine.layout.layers, `${hash}.json`);
      const recordBytes = await readFile(recordPath).catch(() => {
        throw new RuntimeFailure('KP_REMOTE_LAYER_MISSING', `layer ${hash.slice(0, 12)} of ${meta.short_id} is missing from the store`, { hint: 'run `karapace verify-store`' });
      });
      const record = JSON.parse(recordBytes.toString('utf8')) as LayerRecord;
      const recordHash = hashBytes(recordBytes);
      sources.set(recordHash, { kind: 'bytes', bytes: recordBytes, size: recordBytes.length });
      const tree = objects && record.tree && isHash(record.tree) ? await addTreeSources(engine.layout, record.tree, sources, contents) : undefined;
      if (tree) {
        layers.push({ hash, record: { blob: recordHash, size: recordBytes.length }, object: { blob: record.object, size: record.size, tree } });
        continue;
      }
      const objPath = objectPath(engine.layout, record.object);
      const objSize = (await stat(objPath).catch(() => {
        throw new RuntimeFailure('KP_REMOTE_LAYER_MISSING', `the tar object of layer ${hash.slice(0, 12)} is missing from the store`, { hint: 'run `karapace verify-store`' });
      })).size;
      // Store objects are already content-addressed by blake3: upload them as they are.
      if (!sources.has(record.object)) sources.set(record.object, { kind: 'file', path: objPath, size: objSize });
      layers.push({ hash, record: { blob: recordHash, size: recordBytes.length }, object: { blob: record.object, size: objSize } });
    }

    // Host paths (extensions: exported files) stay on this machine.
    const { base: _base, manifest_path: _p, manifest_dir: _d, state: _s, extensions: _x, packages_layer: _l, ...rest } = meta;
    const env: PortableMetadata = { ...rest, base: { reference: meta.base.reference, digest: meta.base.digest } };
    const trees = (u: BundleTarRef) => Boolean(u.tree || packages?.tree || layers.some((l) => l.object.tree));
    const build = (u: BundleTarRef): BundleManifest => ({
      format: trees(u) ? BUNDLE_FORMAT_OBJECTS : packages ? BUNDLE_FORMAT_PACKAGES : BUNDLE_FORMAT,
      env,
      base: { blob: base.blob, size: base.size, image_key: imageKeyOf(meta), digest: meta.base.digest, ...(tree ? { tree } : {}) },
      ...(packages ? { packages: { blob: packages.blob, size: packages.size, ...(packages.tree ? { tree: packages.tree } : {}) } } : {}),
      upper: { blob: u.blob, size: u.size, ...(u.tree ? { tree: u.tree } : {}) },
      layers,
    });
    const placeholder = { blob: '0'.repeat(64), size: 0 };
    const known = bundleBlobs(build(upper ?? placeholder)).filter((b) => upper || b.role !== 'upper');
    const listed = new Set(known.map((b) => b.blob));
    for (const [blob, size] of contents) if (!listed.has(blob)) known.push({ blob, size, role: 'content' });
    const unchanged = () => {
      if (dirPrint?.read && fingerprintTree(dirPrint.dir)?.fingerprint !== dirPrint.fingerprint) throw changedWhilePushing(dirPrint.what);
    };
    return {
      sources, upper, upperDir, upperWhat, known, unchanged,
      packUpper: () => upperPack(true),
      async complete(u) {
        unchanged();
        if (!u.tree && !sources.has(u.blob)) sources.set(u.blob, { kind: 'tree', dir: upperDir, what: upperWhat, size: u.size, pack: upperPack });
        const treeBytes = u.tree ? sources.get(u.tree.blob) : undefined;
        const keepTree = treeBytes?.kind === 'bytes' && cached?.tree !== u.tree!.blob;
        // A tar push (tar bundles, OCI) of the same tar keeps its tree: a tree is made from its
        // tar's bytes, so it stays true, and the next v3 push does not scan the dir again.
        const oldTree = !u.tree && cached?.blob === u.blob ? cached.tree : undefined;
        if (keepTree || (!u.tree && cached?.tree && !oldTree) || cached?.blob !== u.blob || cached.fingerprint !== print.fingerprint || cached.racy !== print.racy) {
          const entry: UpperCacheEntry = {
            version: BASE_CACHE_VERSION, fingerprint: print.fingerprint, racy: print.racy, blob: u.blob, size: u.size,
            ...(treeBytes?.kind === 'bytes' ? { tree: u.tree!.blob } : oldTree ? { tree: oldTree } : {}),
          };
          await mkdir(dirname(cachePath), { recursive: true });
          // The tree first: an entry never names a tree that is not there.
          if (keepTree) await writeFileAtomic(treeCache, (treeBytes as { bytes: Buffer }).bytes);
          await writeFileAtomic(cachePath, JSON.stringify(entry) + '\n');
        }
        const manifest = build(u);
        const manifestBytes = Buffer.from(canonicalJson(manifest));
        return { manifest, manifestBytes, digest: hashBytes(manifestBytes), sources, cleanup: async () => {} };
      },
    };
  });
}

/** Every blob hashed up front (what OCI registries need: they are asked by digest first). */
export async function prepareBundle(engine: Engine, envRef: string, options: PrepareOptions = {}): Promise<PreparedBundle> {
  const plan = await planBundle(engine, envRef, { ...options, defer: false });
  return plan.complete(plan.upper!);
}
