/**
 * The bundle manifest: one JSON blob that names everything an environment consists of
 * (docs/remote-protocol.md "Environment bundles"). A reference points at its blake3.
 */
import { RuntimeFailure, isHash, type EnvMetadata } from '@karapace/kernel';

export const BUNDLE_FORMAT = 'karapace.env.v1';
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

export interface BundleBlobRef {
  blob: string;
  size: number;
}

export interface BundleLayer {
  /** Layer hash (`store/layers/<hash>.json`). */
  hash: string;
  /** The layer record's bytes, as a blob. */
  record: BundleBlobRef;
  /** The layer's tar object (its store object hash is its blob hash). */
  object: BundleBlobRef;
}

/** Metadata without the machine-specific paths (rewritten on pull). */
export type PortableMetadata = Omit<EnvMetadata, 'base' | 'manifest_path' | 'manifest_dir' | 'state'> & {
  base: { reference: string; digest: string };
};

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  env: PortableMetadata;
  /** The base image's rootfs as a tar, so a pull never needs the image source. */
  base: BundleBlobRef & { image_key: string; digest: string };
  /** The environment's upper dir as a tar. */
  upper: BundleBlobRef;
  layers: BundleLayer[];
}

export const IMAGE_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function bad(why: string): RuntimeFailure {
  return new RuntimeFailure('KP_REMOTE_BAD_BUNDLE', `the remote's bundle manifest is invalid: ${why}`, {
    hint: 'the reference does not point at a karapace environment, or it was written by an incompatible version',
  });
}

function blobRef(v: unknown, where: string): BundleBlobRef {
  const r = v as BundleBlobRef;
  if (!r || typeof r.blob !== 'string' || !isHash(r.blob) || !Number.isSafeInteger(r.size) || r.size < 0) throw bad(`${where} is not a blob reference`);
  return r;
}

/** Parses and checks every field a pull relies on; anything else is refused. */
export function parseBundleManifest(bytes: Buffer): BundleManifest {
  let m: BundleManifest;
  try {
    m = JSON.parse(bytes.toString('utf8')) as BundleManifest;
  } catch {
    throw bad('not JSON');
  }
  if (!m || m.format !== BUNDLE_FORMAT) throw bad(`format is not ${BUNDLE_FORMAT}`);
  const env = m.env;
  if (!env || typeof env.env_id !== 'string' || !isHash(env.env_id)) throw bad('env.env_id is not a hash');
  if (!env.lock || !env.manifest || typeof env.backend !== 'string') throw bad('env lacks its lock, manifest or backend');
  if (!env.base || env.base.digest !== m.base?.digest) throw bad('env.base.digest does not match base.digest');
  blobRef(m.base, 'base');
  if (typeof m.base.image_key !== 'string' || !IMAGE_KEY_PATTERN.test(m.base.image_key) || m.base.image_key.includes('..')) throw bad('base.image_key is not a safe directory name');
  blobRef(m.upper, 'upper');
  if (!Array.isArray(m.layers)) throw bad('layers is not a list');
  for (const [i, l] of m.layers.entries()) {
    if (!l || typeof l.hash !== 'string' || !isHash(l.hash)) throw bad(`layers[${i}].hash is not a hash`);
    blobRef(l.record, `layers[${i}].record`);
    blobRef(l.object, `layers[${i}].object`);
  }
  if (!Array.isArray(env.layers) || !Array.isArray(env.snapshots)) throw bad('env.layers / env.snapshots are not lists');
  const known = new Set(m.layers.map((l) => l.hash));
  for (const h of [...env.layers, ...env.snapshots.map((s) => s.layer)]) {
    if (!known.has(h)) throw bad(`layer ${String(h).slice(0, 12)} is used by the environment but not in the bundle`);
  }
  return m;
}

/** Every blob a bundle needs, once each, in upload order (the manifest itself comes last). */
export function bundleBlobs(m: BundleManifest): (BundleBlobRef & { role: string })[] {
  const seen = new Set<string>();
  const out: (BundleBlobRef & { role: string })[] = [];
  const add = (r: BundleBlobRef, role: string) => {
    if (seen.has(r.blob)) return;
    seen.add(r.blob);
    out.push({ blob: r.blob, size: r.size, role });
  };
  add(m.base, 'base');
  add(m.upper, 'upper');
  for (const l of m.layers) {
    add(l.object, `layer ${l.hash.slice(0, 12)}`);
    add(l.record, `layer record ${l.hash.slice(0, 12)}`);
  }
  return out;
}
