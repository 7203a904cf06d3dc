/**
 * Pull: a bundle from a remote → an environment in the local store. A kernel operation:
 * the remote plugin only opens blobs by their blake3 (PullSource); everything it sends is
 * untrusted (docs/security-model.md) until checked here:
 *
 * - the bundle manifest against the digest the reference resolved to, every blob against
 *   its blake3 and size, every layer record against its hash;
 * - the environment's identity against its lock (env_id = identity(lock)); short_id and the
 *   manifest are derived from the lock; extensions, exports, paths and timestamps of the
 *   environment are never taken from the remote;
 * - the base image's tree against the digest its lock names, before it is installed under
 *   its image key (where later pulls and builds reuse it);
 * - unpacked content never creates device nodes or privileged extended attributes.
 *
 * Blobs are downloaded and unpacked into a claimed staging directory without the store
 * lock (a slow remote blocks nobody); the lock is taken only to move the verified pieces
 * into place, under a write-ahead log entry (op `pull`), metadata last (the commit point).
 * A pull killed at any point is rolled back by the next command that takes the lock.
 */
import { chmodSync, existsSync, lchownSync, lstatSync, statfsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { syncFilesystem, TreeFlusher } from '../bundle/durable.js';
import {
  integrityError, MAX_MANIFEST_BYTES, parseBundleManifest, verifiedLayerRecord, type BundleBlobRef, type BundleManifest, type VerifiedBundleEnv,
} from '../bundle/format.js';
import { RuntimeFailure, StoreError } from '../errors.js';
import { hashBytes, StreamHasher } from '../hash.js';
import { CanonicalTree, listingWithoutOwners, parseListing } from '../layers/canonical-tree.js';
import { layerHash } from '../layers/layer.js';
import { unpackTarStream } from '../layers/unpack.js';
import { fsyncDir, writeFileAtomic } from '../store/atomic.js';
import { crashPoint } from '../store/crash.js';
import { envDir, metadataPath, objectPath } from '../store/layout.js';
import { readMetadata, writeMetadata, type EnvMetadata } from '../store/metadata.js';
import { hasObject } from '../store/objects.js';
import { claimStaging } from '../store/staging-claim.js';
import { WalTransaction } from '../store/wal.js';
import {
  installMapping, listPackagesLayers, newPackagesLayerName, packagesDir, packagesLayerDir, serializePackagesLayer,
  PACKAGES_LAYER_VERSION, type PackagesLayerRecord,
} from '../store/packages-layer.js';
import { randomHex } from '../random.js';
import type { Engine } from './engine.js';
import { ensureNameFree } from './find.js';
import { withLock } from './with-lock.js';
import { handleFor } from './handle.js';
import { unpackForEnv } from '../mapped/run.js';
import { removeTree } from '../store/remove-tree.js';
import { tarFromTree } from '../bundle/tree-objects.js';
import { linkLayerToObjects } from '../store/packages-objects.js';
import { checkedBatch, contentSource, downloadObjects, fetchTree, lackingObjects, type DisposableContentSource, type FetchedTree, type OpenEarly, type VerifiedFetch } from './pull-trees.js';

/** A blob's bytes as a remote sends them (a Readable will do): unverified. */
export interface BlobStream extends AsyncIterable<Buffer> {
  destroy(): void;
}

/**
 * What a remote plugin gives a pull: blobs by digest, nothing else. The kernel checks
 * every byte against the digests it names.
 */
export interface PullSource {
  /** blake3 of the bundle manifest the reference resolved to. */
  readonly digest: string;
  /** Where it comes from, for messages and the environment's `manifest_path` (no credentials). */
  readonly origin: string;
  /** Opens a blob by its blake3. `size` is what the bundle declares (undefined for the manifest). */
  openBlob(ref: { blob: string; size?: number }, role: string): Promise<BlobStream>;
  /** Many small blobs in one request, their bytes in the order asked (unverified: the kernel checks each). */
  openBatch?(refs: BundleBlobRef[]): Promise<Buffer[]>;
}

export interface PullOptions {
  /** Local name for the environment. */
  name?: string;
  /** Called with every chunk size received (progress). */
  onBytes?: (n: number) => void;
  /** Called once the manifest is known, with the bytes the pull may move. */
  onTotal?: (bytes: number) => void;
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
export async function fetchBundleManifest(stream: BlobStream, digest: string, what: string): Promise<BundleManifest & { verified: VerifiedBundleEnv }> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const c of stream) {
      size += (c as Buffer).length;
      if (size > MAX_MANIFEST_BYTES) throw integrityError(what, `a manifest of at most ${MAX_MANIFEST_BYTES} bytes`, 'a larger body');
      chunks.push(c as Buffer);
    }
  } finally {
    stream.destroy();
  }
  const bytes = Buffer.concat(chunks);
  const actual = hashBytes(bytes);
  if (actual !== digest) throw integrityError(what, digest, actual);
  return parseBundleManifest(bytes);
}

/** Chunks from this size up are hashed off the main thread (StreamHasher.updateAsync). */
const ASYNC_HASH_BYTES = 64 << 10;

/** Passes a blob's chunks through, checking its blake3 and size when it ends (or earlier, when it is too long). */
async function* verified(source: BlobStream, ref: BundleBlobRef, role: string, onBytes?: (n: number) => void): AsyncGenerator<Buffer> {
  const hasher = new StreamHasher();
  const what = `${role} (blob ${ref.blob.slice(0, 12)}…)`;
  try {
    for await (const chunk of source) {
      // A large chunk is hashed on the thread pool while the consumer takes it (a v3 pull
      // hashes it again in the rebuilt tar); awaited before the next is read, while it is valid.
      const hashed = (chunk as Buffer).length >= ASYNC_HASH_BYTES ? hasher.updateAsync(chunk as Buffer) : (hasher.update(chunk as Buffer), undefined);
      hashed?.catch(() => undefined);
      onBytes?.((chunk as Buffer).length);
      if (hasher.size > ref.size) {
        await hashed;
        throw integrityError(`${role} size`, `${ref.size} bytes`, `more than ${ref.size} bytes`);
      }
      try {
        yield chunk as Buffer;
      } finally {
        await hashed;
      }
    }
  } finally {
    source.destroy();
  }
  const actual = hasher.digest();
  if (actual !== ref.blob) throw integrityError(what, ref.blob, actual);
  if (hasher.size !== ref.size) throw integrityError(`${role} size`, `${ref.size} bytes`, `${hasher.size} bytes`);
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
    for (;;) if ((await chunks.next()).done) break;
    throw err;
  }
}

/** Blobs up to this size are fetched whole, several at once, while the large ones stream. */
const SMALL_BLOB_BYTES = 1 << 20;
const SMALL_PARALLEL = 4;

type BlobOpener = (ref: BundleBlobRef, role: string) => Promise<BlobStream>;

/**
 * Starts fetching the small blobs into memory (verified), a few at a time, so their round
 * trips overlap the large downloads instead of following them.
 */
function prefetchSmall(refs: { ref: BundleBlobRef; role: string }[], fetch: BlobOpener, onBytes: (n: number) => void): Map<string, Promise<Buffer[]>> {
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

function baseMismatch(expected: string, actual: string): RuntimeFailure {
  return new RuntimeFailure('KP_REMOTE_INTEGRITY', `integrity check failed for the base image: its lock names tree digest ${expected}, the bundle's base unpacks to ${actual}`, {
    hint: 'the remote sent a different root filesystem than the environment\'s identity names (tampered, or pushed from a store whose image was modified); nothing was added to your store',
    data: { what: 'base image tree', expected, actual },
  });
}

/**
 * Tells the flusher about each unpacked file once the next entry shows it is complete (the
 * unpacker writes each file before reading on).
 */
function flushing(flusher: TreeFlusher, root: string) {
  let last: { path: string; size: number } | undefined;
  const settle = () => { if (last) flusher.fileDone(last.path, last.size); last = undefined; };
  return {
    onEntry: (e: { path: string; type: string | null; size: number }) => {
      settle();
      if (e.type === 'file' || e.type === 'contiguous-file') last = { path: join(root, e.path), size: e.size };
    },
    settle,
  };
}

/** Sets every path's owner as the verified listing names it (the tar's owners were not verified). */
function applyListingOwners(root: string, listing: string): void {
  for (const e of parseListing(listing)) {
    if (e.kind === 'c' || e.kind === 'b') continue;
    const path = join(root, e.path);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st || (st.uid === e.uid && st.gid === e.gid)) continue;
    lchownSync(path, e.uid, e.gid);
    // chown(2) clears setuid/setgid bits, for root too: put the verified mode back.
    if (e.kind !== 'l' && (e.perm & 0o6000) !== 0) chmodSync(path, e.perm);
  }
}

/** The local metadata of a pulled environment: built from verified fields and local facts only. */
function localMetadata(env: VerifiedBundleEnv, name: string | undefined, base: EnvMetadata['base'], origin: string, manifestDir: string): EnvMetadata {
  const now = new Date().toISOString();
  return {
    env_id: env.env_id, short_id: env.short_id, ...(name ? { name } : {}), state: 'built', backend: env.lock.backend,
    manifest: env.manifest, lock: env.lock, manifest_path: origin, manifest_dir: manifestDir, base,
    layers: env.layers, snapshots: env.snapshots, created_at: now, updated_at: now,
  };
}

/** A pulled packages layer's record: every field from the verified lock, the tar's hash as its identity. */
function pulledRecord(env: VerifiedBundleEnv, baseDigest: string, blob: string, mapping: string): Omit<PackagesLayerRecord, 'name' | 'created_at'> {
  const packages = [...env.lock.resolved_packages].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    version: PACKAGES_LAYER_VERSION, origin: 'pull', base_digest: baseDigest, package_manager: env.lock.base.package_manager,
    backend: env.lock.backend, mapping, requested: packages.map((p) => p.name), packages, blob, owners: 'env',
  };
}

async function nameTaken(engine: Engine, name: string, envId: string): Promise<boolean> {
  try {
    await ensureNameFree(engine.layout, name, envId);
    return false;
  } catch {
    return true;
  }
}

/** Downloads, verifies and installs the environment `source` names. */
export async function pullBundle(engine: Engine, source: PullSource, options: PullOptions = {}): Promise<PullResult> {
  const layout = engine.layout;
  const digest = source.digest;
  const bundle = await fetchBundleManifest(await source.openBlob({ blob: digest }, 'bundle manifest'), digest, `bundle manifest of ${source.origin}`);
  const env = bundle.verified;
  const existing = await readMetadata(layout, env.env_id).catch(() => undefined);
  if (existing && existsSync(envDir(layout, env.env_id))) {
    return { env_id: existing.env_id, short_id: existing.short_id, name: existing.name, digest, cached: true, bytes: 0, blobs: 0 };
  }
  if (options.name) await ensureNameFree(layout, options.name, env.env_id);

  let bytes = 0;
  let blobs = 0;
  const count = (n: number) => { bytes += n; options.onBytes?.(n); };
  const fetch: BlobOpener = (ref, role) => source.openBlob(ref, role);
  const flusher = new TreeFlusher();
  await withLock(engine, async () => undefined); // initialises the store (private root, staging) and recovers
  const claim = claimStaging(layout, 'pull');
  const staging = claim.dir;
  let small = new Map<string, Promise<Buffer[]>>();
  // Content sources of the rebuilt tars: downloads they started early are dropped when the pull ends.
  const sources: DisposableContentSource[] = [];
  try {
    // The base: reuse the local image cache when it already holds exactly this verified tree.
    let imageKey = bundle.base.image_key;
    const imageDigest = async (key: string) => readFile(join(layout.images, key, 'digest'), 'utf8').then((s) => s.trim(), () => undefined);
    let haveBase = (await imageDigest(imageKey)) === bundle.base.digest && existsSync(join(layout.images, imageKey, 'rootfs'));
    if (!haveBase && existsSync(join(layout.images, imageKey))) {
      imageKey = `${imageKey}-${bundle.base.digest.slice(0, 12)}`;
      haveBase = (await imageDigest(imageKey)) === bundle.base.digest && existsSync(join(layout.images, imageKey, 'rootfs'));
    }
    // The packages layer: one this store unpacked before from the same verified tar is reused.
    const mapping = installMapping(await engine.kernel.backendOwnerMapping(env.lock.backend));
    const pulledLayer = async () => bundle.packages
      ? (await listPackagesLayers(layout)).find((r) => r.origin === 'pull' && r.owners === 'env' && r.blob === bundle.packages!.blob && r.backend === env.lock.backend && r.mapping === mapping)?.name
      : undefined;
    let packagesLayer = await pulledLayer();
    // Format v3: layers as trees, of whose content objects only those this store lacks are fetched.
    const fetchChecked: VerifiedFetch = async (ref, role) => verified(await fetch(ref, role), ref, role, count);
    const batchChecked = source.openBatch ? checkedBatch((refs) => source.openBatch!(refs), count) : undefined;
    const packagesTree = bundle.packages?.tree && !packagesLayer ? await fetchTree(fetchChecked, bundle.packages.tree, 'packages layer') : undefined;
    const upperTree = bundle.upper.tree ? await fetchTree(fetchChecked, bundle.upper.tree, 'upper layer') : undefined;
    const layerTrees = new Map<string, FetchedTree>();
    for (const layer of bundle.layers) {
      if (!layer.object.tree || layerTrees.has(layer.hash) || existsSync(join(layout.layers, `${layer.hash}.json`))) continue;
      layerTrees.set(layer.hash, await fetchTree(fetchChecked, layer.object.tree, `layer ${layer.hash.slice(0, 12)}`));
    }
    const lacking = await lackingObjects(layout, [packagesTree, upperTree, ...layerTrees.values()].filter((t): t is FetchedTree => t !== undefined));
    // Kept in the store: the snapshot layers' contents (they are the layers), and the packages
    // layer's where its files become links of their objects (as a build's do); the upper dir's are not.
    const linksPackages = packagesTree !== undefined && (process.getuid?.() === 0 || (await engine.kernel.backendOwnerMapping(env.lock.backend)) === 'single');
    const keep = new Set<string>();
    for (const t of [...layerTrees.values(), ...(linksPackages ? [packagesTree!] : [])]) for (const h of t.contents.keys()) keep.add(h);
    // Contents not kept and needed once (by one file of the upper dir or packages layer) go
    // straight from the download into the rebuilt tar; the rest is downloaded into staging first.
    const uses = new Map<string, number>();
    for (const t of [packagesTree, upperTree]) for (const e of t?.entries ?? []) if (e.content) uses.set(e.content, (uses.get(e.content) ?? 0) + 1);
    const streamed = new Set([...lacking.keys()].filter((h) => !keep.has(h) && uses.get(h) === 1));
    const toStage = new Map([...lacking].filter(([h]) => !streamed.has(h)));
    const wanted: { ref: BundleBlobRef; role: string }[] = [];
    if (!haveBase) wanted.push({ ref: bundle.base, role: 'base image' });
    if (!haveBase && bundle.base.tree) wanted.push({ ref: bundle.base.tree, role: 'base listing' });
    if (bundle.packages && !packagesLayer && !bundle.packages.tree) wanted.push({ ref: bundle.packages, role: 'packages layer' });
    if (!bundle.upper.tree) wanted.push({ ref: bundle.upper, role: 'upper layer' });
    for (const layer of bundle.layers) {
      wanted.push({ ref: layer.record, role: `layer record ${layer.hash.slice(0, 12)}` });
      if (!layer.object.tree && !(await hasObject(layout, layer.object.blob))) wanted.push({ ref: layer.object, role: `layer ${layer.hash.slice(0, 12)}` });
    }
    let total = wanted.reduce((n, w) => n + w.ref.size, 0);
    for (const n of lacking.values()) total += n;
    // Declared sizes are the remote's word: refuse at once what cannot fit (the bytes are checked as they come).
    const fs = statfsSync(staging);
    if (total > fs.bavail * fs.bsize) {
      throw new StoreError('KP_STORE_NO_SPACE', `the pull needs ${total} bytes but the store's filesystem has ${fs.bavail * fs.bsize} free`, {
        hint: 'free space (`karapace gc`) or pull into a store on a larger filesystem (--store)', data: { needed: total, free: fs.bavail * fs.bsize },
      });
    }
    options.onTotal?.(total);
    small = prefetchSmall(wanted, fetch, count);
    const chunksOf = async (ref: BundleBlobRef, role: string): Promise<AsyncGenerator<Buffer>> => {
      const pending = small.get(ref.blob);
      if (pending) {
        const parts = await pending;
        return (async function* () { yield* parts; })();
      }
      return verified(await fetch(ref, role), ref, role, count);
    };
    const objects: { hash: string; file: string }[] = [];
    await mkdir(join(staging, 'objects'), { recursive: true });
    const staged = await downloadObjects(fetchChecked, batchChecked, toStage, join(staging, 'objects'), (file, size) => flusher.fileDone(file, size));
    blobs += lacking.size;
    for (const [hash, file] of staged) if (keep.has(hash)) objects.push({ hash, file });
    const openEarly: OpenEarly = (ref) => {
      const what = `content object ${ref.blob.slice(0, 12)}`;
      const raw = fetch(ref, what);
      return { chunks: raw.then((s) => verified(s, ref, what, count)), destroy: () => void raw.then((s) => s.destroy(), () => undefined) };
    };
    const fromTree = (t: FetchedTree, ref: BundleBlobRef, role: string) => {
      const contents = contentSource(layout, staged, t.entries, streamed, fetchChecked, batchChecked, openEarly);
      sources.push(contents);
      return tarFromTree(t.entries, contents, ref, role);
    };
    const warnings: string[] = [];
    if (!haveBase) {
      const chunks = await chunksOf(bundle.base, 'base image');
      const root = join(staging, 'image', 'rootfs');
      const f = flushing(flusher, root);
      // The canonical tree of the archive as it streams past: the image's identity.
      const tree = new CanonicalTree();
      const stats = await consumeVerified(chunks, (c) => unpackTarStream(c, root, {
        whiteouts: 'apply', untrusted: true,
        onEntry: (e) => { f.onEntry(e); return tree.onEntry(e); },
      }));
      f.settle();
      warnings.push(...stats.warnings);
      const computed = tree.digest();
      if (computed.digest !== bundle.base.digest) {
        if (!bundle.base.tree) throw baseMismatch(bundle.base.digest, computed.digest);
        // Pushed from an unprivileged extraction: the listing names the identity, the tar
        // must match it in all but owners and devices, and owners come from the listing.
        const parts: Buffer[] = [];
        for await (const c of await chunksOf(bundle.base.tree, 'base listing')) parts.push(Buffer.from(c));
        const listing = Buffer.concat(parts).toString('utf8');
        if (listingWithoutOwners(listing) !== listingWithoutOwners(computed.listing)) throw baseMismatch(bundle.base.digest, computed.digest);
        if (process.geteuid?.() === 0) applyListingOwners(root, listing);
        await writeFile(join(staging, 'image', 'tree'), listing);
        blobs++;
      }
      await writeFile(join(staging, 'image', 'digest'), bundle.base.digest + '\n');
      blobs++;
    }
    crashPoint('pull:downloading');
    // The env's own layers are unpacked as a local build writes them: inside the env's id
    // mapping when its backend has one (full subordinate ids: root's files are root's inside).
    const envBase = { reference: bundle.env.base.reference, digest: bundle.base.digest, rootfs: join(layout.images, imageKey, 'rootfs'), image_key: imageKey };
    const envHandle = handleFor(layout, localMetadata(env, undefined, envBase, source.origin, engine.cwd));
    let mappedUnpack = false;
    const unpackEnvLayer = async (chunks: AsyncGenerator<Buffer>, root: string) => {
      const f = flushing(flusher, root);
      // Overlay whiteouts come back as 0/0 devices, or (unprivileged) overlayfs' user.overlay.whiteout xattr form.
      const { stats, mapped } = await consumeVerified(chunks, (c) => unpackForEnv(engine.kernel, envHandle, c, root, { whiteouts: 'overlay', onEntry: f.onEntry, untrusted: true }));
      if (mapped) mappedUnpack = true;
      f.settle();
      warnings.push(...stats.warnings);
      blobs++;
    };
    const packagesRecord = bundle.packages && !packagesLayer ? pulledRecord(env, bundle.base.digest, bundle.packages.blob, mapping) : undefined;
    // A layer below the upper dir keeps its overlay whiteouts and opaque markers too.
    if (packagesRecord) {
      const chunks = packagesTree ? fromTree(packagesTree, bundle.packages!, 'packages layer') : await chunksOf(bundle.packages!, 'packages layer');
      await unpackEnvLayer(chunks, join(staging, 'packages', 'root'));
    }
    await unpackEnvLayer(upperTree ? fromTree(upperTree, bundle.upper, 'upper layer') : await chunksOf(bundle.upper, 'upper layer'), join(staging, 'env', 'upper'));
    await Promise.all(['work', 'runtime'].map((d) => mkdir(join(staging, 'env', d), { recursive: true })));
    const records: { hash: string; bytes: Buffer }[] = [];
    for (const layer of bundle.layers) {
      const parts: Buffer[] = [];
      for await (const c of await chunksOf(layer.record, `layer record ${layer.hash.slice(0, 12)}`)) parts.push(Buffer.from(c));
      const tree = layerTrees.get(layer.hash);
      records.push({ hash: layer.hash, bytes: verifiedLayerRecord(Buffer.concat(parts), layer, layerHash, tree?.ref.blob) });
      blobs++;
      if (layer.object.tree) {
        if (!tree) continue; // this store has the layer
        // The layer is stored as its tree: verified by the tar it gives, which is its identity.
        for await (const _ of fromTree(tree, layer.object, `layer ${layer.hash.slice(0, 12)}`));
        if (objects.some((o) => o.hash === tree.ref.blob) || (await hasObject(layout, tree.ref.blob))) continue;
        const file = join(staging, 'objects', tree.ref.blob);
        await writeFile(file, tree.bytes, { flag: 'wx', mode: 0o444 });
        flusher.fileDone(file, tree.bytes.length);
        objects.push({ hash: tree.ref.blob, file });
        continue;
      }
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
    // A mapped unpack's files may be unreadable here: one syncfs(2) covers them.
    if (mappedUnpack) {
      flusher.abandon();
      await syncFilesystem(staging);
    } else await flusher.finish(staging);

    return await withLock(engine, async () => {
      crashPoint('pull:staged');
      // Someone else may have installed it while this pull downloaded.
      const now = await readMetadata(layout, env.env_id).catch(() => undefined);
      if (now && existsSync(envDir(layout, env.env_id))) {
        return { env_id: now.env_id, short_id: now.short_id, name: now.name, digest, cached: true, bytes, blobs };
      }
      if (options.name) await ensureNameFree(layout, options.name, env.env_id);
      const wal = await WalTransaction.begin(layout, 'pull', []);
      await wal.record({ kind: 'remove', path: wal.rel(staging) });
      try {
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
          // A verified image of this digest may have appeared meanwhile under the key; then it is reused.
          if ((await imageDigest(imageKey)) === bundle.base.digest && existsSync(join(layout.images, imageKey, 'rootfs'))) haveBase = true;
          else {
            if (existsSync(join(layout.images, imageKey))) imageKey = `${bundle.base.image_key}-${bundle.base.digest.slice(0, 12)}-${Date.now().toString(36)}`;
            await wal.record({ kind: 'remove', path: wal.rel(join(layout.images, imageKey)) });
            await rename(join(staging, 'image'), join(layout.images, imageKey));
            await fsyncDir(layout.images);
          }
        }
        if (packagesRecord) {
          // Pulled meanwhile by someone else: theirs is the same verified tar.
          packagesLayer = await pulledLayer();
          if (!packagesLayer) {
            const name = newPackagesLayerName(packagesRecord, randomHex(4));
            // Its files become links of the content objects just moved into the store, as a build's do.
            const linked = linksPackages ? await linkLayerToObjects(layout, join(staging, 'packages', 'root')) : undefined;
            if (linked) engine.logger.debug(`packages layer ${name}: ${linked.linked} files share their object's inode, ${linked.copies} are copies`);
            const fields = linked ? { tree: linked.tree, tar: linked.tar } : {};
            await writeFileAtomic(join(staging, 'packages', 'layer.json'), serializePackagesLayer({ ...packagesRecord, name, ...fields, created_at: new Date().toISOString() }));
            const target = packagesLayerDir(layout, name);
            await wal.record({ kind: 'remove', path: wal.rel(target) });
            await mkdir(packagesDir(layout), { recursive: true });
            await rename(join(staging, 'packages'), target);
            await fsyncDir(packagesDir(layout));
            packagesLayer = name;
          }
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
        const base = { reference: bundle.env.base.reference, digest: bundle.base.digest, rootfs: join(layout.images, imageKey, 'rootfs'), image_key: imageKey };
        const meta = { ...localMetadata(env, name, base, source.origin, engine.cwd), ...(packagesLayer ? { packages_layer: packagesLayer } : {}) };
        await writeMetadata(layout, meta);
        crashPoint('pull:metadata');
        // Past the point of no return: recovery only clears staging from here on.
        await wal.commitPoint([{ kind: 'remove', path: wal.rel(staging) }]);
        claim.release();
        await wal.finish();
        return { env_id: meta.env_id, short_id: meta.short_id, name, digest, cached: false, bytes, blobs };
      } catch (err) {
        await wal.abort();
        throw err;
      }
    });
  } catch (err) {
    flusher.abandon();
    // Files a mapped unpack wrote may belong to subordinate ids: removed through the mapping.
    await (layout.removeTree ?? removeTree)(staging).catch((e: Error) => engine.logger.warn(`pull: could not remove ${staging}: ${e.message}; the next command retries`));
    throw err;
  } finally {
    for (const s of sources) s.dispose();
    claim.release();
  }
}
