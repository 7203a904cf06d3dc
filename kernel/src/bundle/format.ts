/**
 * The environment bundle: one JSON blob that names everything an environment consists of
 * (docs/remote-protocol.md "Environment bundles"). A reference points at its blake3.
 *
 * Everything in it comes from a remote and is untrusted (docs/security-model.md). Parsing
 * checks the type and form of every field a pull uses and keeps nothing else: the local
 * metadata is rebuilt from these checked fields (pull.ts), never copied.
 */
import { RuntimeFailure } from '../errors.js';
import { isHash } from '../hash.js';
import { computeEnvId } from '../lock/identity.js';
import type { LockFile } from '../lock/types.js';
import type { MountSpec, NormalizedManifest, ResourceLimits } from '../manifest/types.js';
import type { EnvMetadata, SnapshotRef } from '../store/metadata.js';
import type { LayerKind } from '../types.js';

export const BUNDLE_FORMAT = 'karapace.env.v1';
/** A bundle with a packages layer: an older puller, which would drop the layer, refuses it. */
export const BUNDLE_FORMAT_PACKAGES = 'karapace.env.v2';
/**
 * A bundle whose layers may move as trees and content objects (a remote then holds each file
 * once, across envs and snapshots): an older puller, which would look for the tars, refuses it.
 */
export const BUNDLE_FORMAT_OBJECTS = 'karapace.env.v3';
/** Largest tree object a pull reads (a tree is held in memory). */
export const MAX_TREE_BYTES = 256 * 1024 * 1024;
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

export interface BundleBlobRef {
  blob: string;
  size: number;
}

/**
 * A layer as a tar (`blob`, `size`: its blake3 and length, the layer's identity). With `tree`
 * (v3) the tar itself is not sent: the tree object and the content objects it names are, and
 * the puller rebuilds the tar from them and checks it against `blob` and `size`.
 */
export interface BundleTarRef extends BundleBlobRef {
  tree?: BundleBlobRef;
}

export interface BundleLayer {
  /** Layer hash (`store/layers/<hash>.json`). */
  hash: string;
  /** The layer record's bytes, as a blob. */
  record: BundleBlobRef;
  /** The layer's tar object (its store object hash is its blob hash); `tree` as in BundleTarRef. */
  object: BundleTarRef;
}

/** Metadata without the machine-specific paths (rewritten on pull). */
export type PortableMetadata = Omit<EnvMetadata, 'base' | 'manifest_path' | 'manifest_dir' | 'state'> & {
  base: { reference: string; digest: string };
};

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT | typeof BUNDLE_FORMAT_PACKAGES | typeof BUNDLE_FORMAT_OBJECTS;
  env: PortableMetadata;
  /** The base image's rootfs as a tar, so a pull never needs the image source. */
  base: BundleBlobRef & {
    image_key: string;
    digest: string;
    /**
     * The image's canonical listing (its blake3 is `digest`), sent when the pusher's copy
     * was extracted without privileges (owners and device nodes lost): the puller checks
     * the tar against it in everything else.
     */
    tree?: BundleBlobRef;
  };
  /** The environment's packages layer (between base and upper dir) as a tar: what its build installed. */
  packages?: BundleTarRef;
  /** The environment's upper dir as a tar. */
  upper: BundleTarRef;
  layers: BundleLayer[];
}

/** What a pull may use of a bundle's environment: checked, and bound to env_id. */
export interface VerifiedBundleEnv {
  env_id: string;
  short_id: string;
  lock: LockFile;
  /** Re-derived from the lock: nothing of the remote's own manifest copy is used. */
  manifest: NormalizedManifest;
  /** A suggested local name (checked), used only when free. */
  name?: string;
  layers: string[];
  snapshots: SnapshotRef[];
}

export const IMAGE_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const ENV_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const LAYER_KINDS: readonly LayerKind[] = ['base', 'dependency', 'policy', 'snapshot'];
/** Printable text: no C0/C1 control characters (they would reach terminals and files). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function bad(why: string): RuntimeFailure {
  return new RuntimeFailure('KP_REMOTE_BAD_BUNDLE', `the remote's bundle manifest is invalid: ${why}`, {
    hint: 'the reference does not point at a karapace environment, it was tampered with, or it was written by an incompatible version; nothing was added to your store',
  });
}

function text(v: unknown, where: string, max = 4096): string {
  if (typeof v !== 'string' || v.length > max || CONTROL.test(v)) throw bad(`${where} is not printable text of at most ${max} characters`);
  return v;
}

function blobRef(v: unknown, where: string): BundleBlobRef {
  const r = v as BundleBlobRef;
  if (!r || typeof r.blob !== 'string' || !isHash(r.blob) || !Number.isSafeInteger(r.size) || r.size < 0) throw bad(`${where} is not a blob reference`);
  return { blob: r.blob, size: r.size };
}

/** A tar reference; a tree beside it only in format v3. */
function tarRef(v: unknown, where: string, format: string): BundleTarRef {
  const ref = blobRef(v, where);
  const tree = (v as BundleTarRef).tree;
  if (tree === undefined) return ref;
  if (format !== BUNDLE_FORMAT_OBJECTS) throw bad(`${where}.tree comes with format ${BUNDLE_FORMAT_OBJECTS} only`);
  const t = blobRef(tree, `${where}.tree`);
  if (t.size > MAX_TREE_BYTES) throw bad(`${where}.tree is larger than ${MAX_TREE_BYTES} bytes`);
  return { ...ref, tree: t };
}

function bool(v: unknown, where: string): boolean {
  if (typeof v !== 'boolean') throw bad(`${where} is not true or false`);
  return v;
}

function list<T>(v: unknown, where: string, item: (x: unknown, at: string) => T, max = 100_000): T[] {
  if (!Array.isArray(v) || v.length > max) throw bad(`${where} is not a list`);
  return v.map((x, i) => item(x, `${where}[${i}]`));
}

function limits(v: unknown): ResourceLimits {
  const o = (v ?? {}) as Record<string, unknown>;
  if (typeof o !== 'object') throw bad('lock.resource_limits is not a table');
  const out: ResourceLimits = {};
  for (const key of ['cpu_shares', 'memory_limit_mb'] as const) {
    if (o[key] === undefined) continue;
    const n = o[key];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) throw bad(`lock.resource_limits.${key} is not a positive integer`);
    out[key] = n;
  }
  return out;
}

function mount(v: unknown, where: string): MountSpec {
  const m = v as Record<string, unknown>;
  if (!m || typeof m !== 'object') throw bad(`${where} is not a mount`);
  return {
    label: text(m.label, `${where}.label`, 256), host: text(m.host, `${where}.host`), container: text(m.container, `${where}.container`),
    readOnly: bool(m.readOnly, `${where}.readOnly`),
  };
}

function home(v: unknown): { home?: 'env' } {
  if (v === undefined) return {};
  if (v !== 'env') throw bad('env.lock.home is not "env"');
  return { home: 'env' };
}

/** The lock, field by field with their types checked (a malformed one would crash identity). */
function lockOf(v: unknown): LockFile {
  const l = v as Record<string, any>;
  if (!l || typeof l !== 'object' || l.lock_version !== 1) throw bad('env.lock is not a version 1 lock');
  const base = l.base as Record<string, unknown> | undefined;
  if (!base || typeof base !== 'object' || typeof base.digest !== 'string' || !isHash(base.digest)) throw bad('env.lock.base.digest is not a hash');
  return {
    lock_version: 1,
    env_id: text(l.env_id, 'env.lock.env_id', 64),
    short_id: text(l.short_id, 'env.lock.short_id', 64),
    base: {
      image: text(base.image, 'env.lock.base.image'), source: text(base.source, 'env.lock.base.source'),
      digest: base.digest, package_manager: text(base.package_manager, 'env.lock.base.package_manager', 64),
    },
    backend: text(l.backend, 'env.lock.backend', 64),
    hardware: { gpu: bool(l.hardware?.gpu, 'env.lock.hardware.gpu'), audio: bool(l.hardware?.audio, 'env.lock.hardware.audio') },
    network_isolation: bool(l.network_isolation, 'env.lock.network_isolation'),
    mounts: list(l.mounts, 'env.lock.mounts', mount, 256),
    resource_limits: limits(l.resource_limits),
    ...home(l.home),
    apps: list(l.apps, 'env.lock.apps', (x, at) => text(x, at, 256), 1024),
    resolved_packages: list(l.resolved_packages, 'env.lock.resolved_packages', (x, at) => {
      const p = x as Record<string, unknown>;
      return { name: text(p?.name, `${at}.name`, 256), version: text(p?.version, `${at}.version`, 256) };
    }),
  };
}

/** The manifest a lock was built from, as far as it matters (what build would normalize to). */
export function manifestFromLock(lock: LockFile): NormalizedManifest {
  return {
    manifest_version: 1,
    base: { image: lock.base.image },
    system: { packages: [...new Set(lock.resolved_packages.map((p) => p.name))].sort() },
    gui: { apps: [...lock.apps] },
    hardware: { ...lock.hardware },
    mounts: lock.mounts.map((m) => ({ ...m })),
    runtime: { backend: lock.backend, network_isolation: lock.network_isolation, resource_limits: { ...lock.resource_limits }, ...(lock.home ? { home: lock.home } : {}) },
  };
}

function snapshot(v: unknown, where: string): SnapshotRef {
  const s = v as Record<string, unknown>;
  if (!s || typeof s !== 'object' || typeof s.layer !== 'string' || !isHash(s.layer)) throw bad(`${where}.layer is not a hash`);
  const created = text(s.created_at, `${where}.created_at`, 40);
  if (!ISO_TIME.test(created)) throw bad(`${where}.created_at is not an ISO time`);
  const message = s.message === undefined ? undefined : text(s.message, `${where}.message`);
  return { layer: s.layer, created_at: created, ...(message !== undefined ? { message } : {}) };
}

/**
 * Parses and checks every field a pull relies on; anything else is refused or dropped. The
 * environment's identity must follow from its lock (env_id = identity(lock)), and its
 * short_id and manifest are derived here, never taken from the bundle.
 */
export function parseBundleManifest(bytes: Buffer): BundleManifest & { verified: VerifiedBundleEnv } {
  let m: BundleManifest;
  try {
    m = JSON.parse(bytes.toString('utf8')) as BundleManifest;
  } catch {
    throw bad('not JSON');
  }
  const formats: string[] = [BUNDLE_FORMAT, BUNDLE_FORMAT_PACKAGES, BUNDLE_FORMAT_OBJECTS];
  if (!m || typeof m !== 'object' || !formats.includes(m.format)) throw bad(`format is not one of ${formats.join(', ')}`);
  const env = m.env as unknown as Record<string, unknown>;
  if (!env || typeof env !== 'object' || typeof env.env_id !== 'string' || !isHash(env.env_id)) throw bad('env.env_id is not a hash');
  const lock = lockOf(env.lock);
  const identity = computeEnvId(lock);
  if (identity.env_id !== env.env_id || lock.env_id !== env.env_id) {
    throw integrityError('environment identity', env.env_id, `${identity.env_id} (computed from its lock)`);
  }
  lock.env_id = identity.env_id;
  lock.short_id = identity.short_id;
  const base = blobRef(m.base, 'base');
  const envBase = env.base as Record<string, unknown> | undefined;
  if (!envBase || envBase.digest !== lock.base.digest || m.base.digest !== lock.base.digest) throw bad('the base digest differs between env.base, base and the lock');
  const imageKey = m.base.image_key;
  if (typeof imageKey !== 'string' || !IMAGE_KEY_PATTERN.test(imageKey) || imageKey.includes('..')) throw bad('base.image_key is not a safe directory name');
  const upper = tarRef(m.upper, 'upper', m.format);
  if (m.format !== BUNDLE_FORMAT_OBJECTS && (m.packages !== undefined) !== (m.format === BUNDLE_FORMAT_PACKAGES)) throw bad(`a packages layer comes with format ${BUNDLE_FORMAT_PACKAGES} (or ${BUNDLE_FORMAT_OBJECTS}), and only with it`);
  const packages = m.packages === undefined ? undefined : tarRef(m.packages, 'packages', m.format);
  if (packages && lock.resolved_packages.length === 0) throw bad('a packages layer for an environment whose lock installs no packages');
  const tree = m.base.tree === undefined ? undefined : blobRef(m.base.tree, 'base.tree');
  if (tree && tree.blob !== lock.base.digest) throw bad('base.tree is not the listing of the lock\'s base digest');
  const layers = list(m.layers, 'layers', (x, at) => {
    const l = x as BundleLayer;
    if (!l || typeof l.hash !== 'string' || !isHash(l.hash)) throw bad(`${at}.hash is not a hash`);
    return { hash: l.hash, record: blobRef(l.record, `${at}.record`), object: tarRef(l.object, `${at}.object`, m.format) };
  }, 10_000);
  const envLayers = list(env.layers, 'env.layers', (x, at) => {
    if (typeof x !== 'string' || !isHash(x)) throw bad(`${at} is not a hash`);
    return x;
  }, 10_000);
  const snapshots = list(env.snapshots, 'env.snapshots', snapshot, 10_000);
  const known = new Set(layers.map((l) => l.hash));
  for (const h of [...envLayers, ...snapshots.map((s) => s.layer)]) {
    if (!known.has(h)) throw bad(`layer ${h.slice(0, 12)} is used by the environment but not in the bundle`);
  }
  // A name is only a suggestion; one that is not a valid local name is dropped, not refused.
  const name = typeof env.name === 'string' && ENV_NAME.test(env.name) && !/^[0-9a-f]{6,64}$/.test(env.name) ? env.name : undefined;
  const reference = text(envBase.reference, 'env.base.reference');
  const portable = {
    env_id: identity.env_id, short_id: identity.short_id, ...(name ? { name } : {}), backend: lock.backend, manifest: manifestFromLock(lock), lock,
    base: { reference, digest: lock.base.digest }, layers: envLayers, snapshots, created_at: '', updated_at: '',
  } as PortableMetadata;
  return {
    format: m.format,
    env: portable,
    base: { ...base, image_key: imageKey, digest: lock.base.digest, ...(tree ? { tree } : {}) },
    ...(packages ? { packages } : {}),
    upper,
    layers,
    verified: { env_id: identity.env_id, short_id: identity.short_id, lock, manifest: portable.manifest, ...(name ? { name } : {}), layers: envLayers, snapshots },
  };
}

/** Every blob a bundle needs, once each, in upload order (the manifest itself comes last). */
export function bundleBlobs(m: Pick<BundleManifest, 'base' | 'packages' | 'upper' | 'layers'>): (BundleBlobRef & { role: string })[] {
  const seen = new Set<string>();
  const out: (BundleBlobRef & { role: string })[] = [];
  const add = (r: BundleBlobRef, role: string) => {
    if (seen.has(r.blob)) return;
    seen.add(r.blob);
    out.push({ blob: r.blob, size: r.size, role });
  };
  // A layer sent as a tree: the tree blob instead of the tar (its content objects are named in it).
  const tar = (r: BundleTarRef, role: string) => (r.tree ? add(r.tree, `${role} tree`) : add(r, role));
  add(m.base, 'base');
  if (m.base.tree) add(m.base.tree, 'base listing');
  if (m.packages) tar(m.packages, 'packages layer');
  tar(m.upper, 'upper');
  for (const l of m.layers) {
    tar(l.object, `layer ${l.hash.slice(0, 12)}`);
    add(l.record, `layer record ${l.hash.slice(0, 12)}`);
  }
  return out;
}

/** Received content does not hash to what it was asked by. */
export function integrityError(what: string, expected: string, actual: string): RuntimeFailure {
  return new RuntimeFailure('KP_REMOTE_INTEGRITY', `integrity check failed for ${what}: expected ${expected}, received content hashing to ${actual}`, {
    hint: 'the remote holds damaged or tampered data; nothing was added to your store. Ask its owner to push it again',
    data: { what, expected, actual },
  });
}

/** A layer record as the store writes it, rebuilt from checked fields only. */
export function verifiedLayerRecord(bytes: Buffer, layer: BundleLayer, layerHash: (f: { kind: LayerKind; object: string; parent?: string }) => string, tree?: string): Buffer {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw bad(`layer record ${layer.hash.slice(0, 12)} is not JSON`);
  }
  const what = `layer ${layer.hash.slice(0, 12)} record`;
  if (!r || typeof r !== 'object') throw bad(`${what} is not an object`);
  if (r.object !== layer.object.blob) throw integrityError(what, `object ${layer.object.blob}`, `object ${String(r.object)}`);
  if (typeof r.kind !== 'string' || !LAYER_KINDS.includes(r.kind as LayerKind)) throw bad(`${what} has an unknown kind`);
  if (r.parent !== undefined && (typeof r.parent !== 'string' || !isHash(r.parent))) throw bad(`${what} has a malformed parent`);
  const kind = r.kind as LayerKind;
  const parent = r.parent as string | undefined;
  const hash = layerHash({ kind, object: layer.object.blob, ...(parent ? { parent } : {}) });
  if (hash !== layer.hash) throw integrityError(`${what} (its identity fields)`, layer.hash, hash);
  const entries = Number.isSafeInteger(r.entries) && (r.entries as number) >= 0 ? (r.entries as number) : 0;
  const created = typeof r.created_at === 'string' && ISO_TIME.test(r.created_at) ? r.created_at : new Date(0).toISOString();
  const message = r.message === undefined ? undefined : text(r.message, `${what}.message`);
  // `tree`: the pull verified that it gives the tar `object` names, and stores it with its contents.
  const record = { hash, kind, ...(parent ? { parent } : {}), object: layer.object.blob, ...(tree ? { tree } : {}), size: layer.object.size, entries, created_at: created, ...(message !== undefined ? { message } : {}) };
  return Buffer.from(JSON.stringify(record, null, 2) + '\n');
}
