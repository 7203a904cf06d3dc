/**
 * The image cache: `<root>/images/<key>/` with
 *   rootfs/        the extracted root filesystem (a read-only lower layer)
 *   digest         the image's identity: the canonical tree digest of the source content
 *                  (archive headers and contents, or digestTree of a source directory),
 *                  the same on every machine whoever extracted it
 *   disk-digest    digestTree of rootfs as it lies on this disk (owners, devices and xattrs
 *                  differ when extracted without root): what tamper detection compares
 *   fingerprint    stat fingerprint of rootfs when disk-digest was last confirmed
 *   source.json    what it was made from (reference, pinned source, archive digests)
 * An image is assembled in the staging dir and renamed into place whole, so a directory
 * under images/ is either complete or absent: an interrupted download or extraction never
 * leaves a half image that looks complete.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fsAsync, fsyncDir, hashBytes, StoreError, writeFileAtomic, type DiskStat, type Kernel, type PackageManagerName } from '@karapace/kernel';
import { digestRootfs, fingerprintRecorded, fingerprintRootfs, type KnownHashes } from './digest.js';
import { detectPackageManager } from './pm/detect.js';
import { log } from './progress.js';

// Not node:fs/promises: a build that reuses a cached image loads no more than it needs (fs-async.ts).
const { mkdir, readdir, readFile, rename, rm } = fsAsync;

export interface SourceRecord {
  key: string;
  kind: string;
  /** The reference as written. */
  reference: string;
  /** A pinned reference that names exactly this image (what `pin` writes). */
  source: string;
  package_manager: PackageManagerName;
  /** The archive's digests (sha256 when a pin or a published sum needed it). */
  archive?: { sha256?: string; blake3: string; size: number };
  created_at: string;
  /** Stat fingerprint of a local source directory when it was copied. */
  source_fingerprint?: string;
}

export interface CachedImage {
  key: string;
  dir: string;
  rootfs: string;
  /** The identity (images/<key>/digest). */
  digest: string;
  /** The local on-disk digest (images/<key>/disk-digest); older images only have `digest`. */
  diskDigest: string;
  record: SourceRecord;
  /** Its re-verification, still running (`cachedImage` for a request with deferVerification). */
  verifying?: Promise<boolean>;
}

/** Cache keys: `<kind>-<first 32 hex of blake3(identity)>`. */
export function cacheKey(kind: string, identity: string): string {
  return `${kind}-${hashBytes(`${kind}\0${identity}`).slice(0, 32)}`;
}

export async function readCached(imagesDir: string, key: string): Promise<CachedImage | undefined> {
  const dir = join(imagesDir, key);
  try {
    const [digest, disk, record] = await Promise.all([
      readFile(join(dir, 'digest'), 'utf8'),
      readFile(join(dir, 'disk-digest'), 'utf8').catch(() => undefined),
      readFile(join(dir, 'source.json'), 'utf8').then((t) => JSON.parse(t) as SourceRecord),
    ]);
    if (!existsSync(join(dir, 'rootfs'))) return undefined;
    return { key, dir, rootfs: join(dir, 'rootfs'), digest: digest.trim(), diskDigest: (disk ?? digest).trim(), record };
  } catch {
    return undefined;
  }
}

/** Every complete image in the cache. */
export async function listCached(imagesDir: string): Promise<CachedImage[]> {
  const names = await readdir(imagesDir).catch(() => [] as string[]);
  const out: CachedImage[] = [];
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue;
    const img = await readCached(imagesDir, name);
    if (img) out.push(img);
  }
  return out;
}

export type VerifyResult = { ok: true; redigested: boolean } | { ok: false; actual: string };

/**
 * Re-verifies a cached image against its local disk digest (never the identity, which may
 * legitimately differ from what this user could extract). Fast path: the stat fingerprint
 * is unchanged. Otherwise (or with `full`) the tree is digested again.
 */
export async function verifyCached(img: CachedImage, options: { full?: boolean } = {}): Promise<VerifyResult> {
  if (!options.full) {
    const recorded = await readFile(join(img.dir, 'fingerprint'), 'utf8').then((t) => t.trim(), () => '');
    if (recorded && recorded === (await fingerprintRootfs(img.rootfs))) return { ok: true, redigested: false };
  }
  // digestRootfs gives the kernel's digestTree value (tested) and the fingerprint in one walk.
  const { digest, fingerprint } = await digestRootfs(img.rootfs);
  if (digest !== img.diskDigest) return { ok: false, actual: digest };
  // Same content, new metadata (e.g. touched): remember the new fingerprint.
  await writeFileAtomic(join(img.dir, 'fingerprint'), fingerprint + '\n');
  return { ok: true, redigested: true };
}

/**
 * Verifies before use; a modified image is reported and removed (the caller fetches it
 * again), so a tampered cache never silently becomes an environment's base.
 */
export async function usableCached(kernel: Kernel | undefined, img: CachedImage | undefined): Promise<CachedImage | undefined> {
  if (!img) return undefined;
  const result = await verifyCached(img);
  if (result.ok) return img;
  log(kernel, 'warn', `cached image ${img.key} (${img.record.reference}) was modified on disk: disk digest ${result.actual}, recorded ${img.diskDigest}; fetching it again`);
  await rm(img.dir, { recursive: true, force: true });
  return undefined;
}

/**
 * The cached image under `key` if it is usable. For a request with `deferVerification` (a
 * build, which waits for it before using the rootfs and resolves again when it is false), an
 * image with a recorded fingerprint comes back at once with `verifying`: whether the stat
 * walk still gives that fingerprint. Anything else — no fingerprint recorded, a walk that
 * differs or fails — is left to `usableCached` on the second resolve: re-digested, kept if
 * only its metadata changed, else reported, removed and fetched again.
 */
export async function cachedImage(kernel: Kernel | undefined, request: { imagesDir: string; deferVerification?: boolean }, key: string): Promise<CachedImage | undefined> {
  const img = await readCached(request.imagesDir, key);
  if (!img || !request.deferVerification) return usableCached(kernel, img);
  const recorded = await readFile(join(img.dir, 'fingerprint'), 'utf8').then((t) => t.trim(), () => '');
  if (!recorded) return usableCached(kernel, img);
  const verifying = fingerprintRootfs(img.rootfs).then((fp) => fp === recorded, () => false);
  return { ...img, verifying };
}

/**
 * The newest intact cached image fetched for `reference` (and with `digest`, when given):
 * what offline builds and builds pinned by a lock reuse instead of fetching.
 */
export async function cachedForReference(kernel: Kernel | undefined, imagesDir: string, reference: string, digest?: string): Promise<CachedImage | undefined> {
  const mine = (await listCached(imagesDir))
    .filter((img) => img.record.reference === reference && (!digest || img.digest === digest))
    .sort((a, b) => (a.record.created_at < b.record.created_at ? 1 : -1));
  for (const img of mine) {
    const ok = await usableCached(kernel, img);
    if (ok) return ok;
  }
  return undefined;
}

export function tamperedError(img: CachedImage, actual: string): StoreError {
  return new StoreError('KP_IMAGE_TAMPERED', `cached image ${img.key} (${img.record.reference}) was modified: disk digest ${actual}, recorded ${img.diskDigest}`, {
    hint: `remove ${img.dir} and build again to fetch it afresh`,
    data: { key: img.key, expected: img.diskDigest, actual },
  });
}

/** A fresh staging directory for assembling an image (`<staging>/image-<key>-<rand>/rootfs`). */
export async function stageImage(stagingDir: string, key: string): Promise<{ dir: string; rootfs: string }> {
  const dir = join(stagingDir, `image-${key}-${randomBytes(4).toString('hex')}`);
  await mkdir(join(dir, 'rootfs'), { recursive: true, mode: 0o755 });
  return { dir, rootfs: join(dir, 'rootfs') };
}

/** What unpacking already knows of a staged rootfs, so digesting it as it lies on disk reads and walks less. */
export interface UnpackedTree {
  /** Content hashes seen while unpacking (the data is read once in all). */
  known?: KnownHashes;
  /** The unpacker's lstat data of every path (then no walk at all). */
  disk?: Map<string, DiskStat>;
  /** The paths in the walk's order, if sorted already (the canonical digest's). */
  order?: readonly string[];
  /** The disk digest itself, computed already (the native unpacker's); `disk` is then in the walk's order. */
  diskDigest?: string;
  /**
   * The canonical listing (its blake3 is the image digest): kept as `tree` when the disk
   * differs from it (extracted without privileges), so a push can prove the image to a puller.
   */
  listing?: string;
}

/**
 * Records a staged rootfs under its identity `digest`, digests it as it lies on disk (with
 * what `unpacked` knows of it) and renames it into `images/<key>`. `source` may be a
 * function of the digest (directory and bootstrap pins name the tree).
 */
export async function commitImage(
  imagesDir: string, staged: { dir: string; rootfs: string },
  record: Omit<SourceRecord, 'package_manager' | 'created_at' | 'source'> & { source: string | ((digest: string) => string) },
  digest: string,
  unpacked: UnpackedTree = {},
): Promise<CachedImage> {
  const { known, disk, order } = unpacked;
  const { digest: diskDigest, fingerprint } = unpacked.diskDigest && disk
    ? { digest: unpacked.diskDigest, fingerprint: fingerprintRecorded(staged.rootfs, disk) }
    : await digestRootfs(staged.rootfs, known, disk, order);
  const full: SourceRecord = {
    ...record,
    source: typeof record.source === 'function' ? record.source(digest) : record.source,
    package_manager: await detectPackageManager(staged.rootfs),
    created_at: new Date().toISOString(),
  };
  await writeFileAtomic(join(staged.dir, 'digest'), digest + '\n');
  await writeFileAtomic(join(staged.dir, 'disk-digest'), diskDigest + '\n');
  await writeFileAtomic(join(staged.dir, 'fingerprint'), fingerprint + '\n');
  await writeFileAtomic(join(staged.dir, 'source.json'), JSON.stringify(full, null, 2) + '\n');
  if (unpacked.listing !== undefined && diskDigest !== digest) await writeFileAtomic(join(staged.dir, 'tree'), unpacked.listing);
  await mkdir(imagesDir, { recursive: true });
  const target = join(imagesDir, record.key);
  await rm(target, { recursive: true, force: true });
  await rename(staged.dir, target);
  await fsyncDir(imagesDir);
  return { key: record.key, dir: target, rootfs: join(target, 'rootfs'), digest, diskDigest, record: full };
}

/** Removes a staging directory after a failure. */
export async function discardStaged(staged: { dir: string } | undefined): Promise<void> {
  if (staged) await rm(staged.dir, { recursive: true, force: true });
}
