/**
 * Unpacking image archives: the kernel's one tar unpacker (kernel/src/layers/unpack.ts:
 * hostile-entry rejection, hardlinks, xattrs, devices when privileged) with whiteouts
 * applied, and a tap that feeds the canonical digest as the entries stream past — the
 * content is hashed once, in flight, never read back for the identity.
 *
 * Device nodes, fifos and privileged xattrs (security.capability, trusted.*) are created
 * when running as root; otherwise they are skipped and counted in `warnings` (the runtime
 * provides /dev; capabilities only matter to setuid-style tools).
 */
import { KarapaceError, RuntimeFailure, unpackTarFile, unpackTarStream, type UnpackFileStats, type UnpackOptions, type UnpackStats } from '@karapace/kernel';
import type { CanonicalTree } from '@karapace/kernel';

export type { UnpackFileStats, UnpackStats };

export function unsafeArchive(message: string, cause?: unknown): RuntimeFailure {
  return new RuntimeFailure('KP_IMAGE_UNSAFE_ARCHIVE', `refusing the image archive: ${message}`, {
    hint: 'the image archive is malformed or hostile (nothing was written outside the image); use an image from a source you trust',
    cause,
  });
}

/**
 * Unpacks one tar (a rootfs, or one OCI layer over the earlier ones) into `root`, feeding
 * `tree`. Into an empty root the stats include `disk` (what was created, as lstat sees it),
 * so committing the image needs no walk over it.
 */
export function unpackImage(chunks: AsyncIterable<Uint8Array>, root: string, tree: CanonicalTree): Promise<UnpackStats> {
  tree.beginLayer();
  return explained(unpackTarStream(chunks, root, imageOptions(tree)));
}

/** unpackImage for a plain tar file, hashed (blake3) on the way when `hash` (unpackTarFile). */
export function unpackImageFile(file: string, root: string, tree: CanonicalTree, hash: boolean, onProgress?: (position: number) => void): Promise<UnpackFileStats> {
  tree.beginLayer();
  // The canonical tree only takes hash taps, and needs the entries only in order; the native
  // unpacker may compute its digest itself (treeDigests in the stats; the tree stays empty).
  // Without privileges the disk lacks owners and devices: the tree then keeps its listing
  // (cache.ts `tree`), which a push needs, so the digest is computed here, not natively.
  return explained(unpackTarFile(file, root, { ...imageOptions(tree), onProgress, entriesAfterUnpack: true, treeDigests: process.geteuid?.() === 0 }, hash));
}

function imageOptions(tree: CanonicalTree): UnpackOptions {
  return { whiteouts: 'apply', onEntry: tree.onEntry, recordDisk: true };
}

/** The unpacker's refusals and failures, as image errors. */
async function explained<T>(unpack: Promise<T>): Promise<T> {
  try {
    return await unpack;
  } catch (err) {
    if (err instanceof KarapaceError && err.code === 'KP_LAYER_REJECTED') {
      const why = err.message.replace(/^layer rejected: /, '');
      if (/truncated/.test(why)) {
        throw new RuntimeFailure('KP_IMAGE_EXTRACT_FAILED', `extracting the image failed: ${why}`, {
          hint: 'the archive is truncated or corrupt; delete it and download again', cause: err,
        });
      }
      throw unsafeArchive(why, err);
    }
    if (err instanceof KarapaceError) throw err;
    throw new RuntimeFailure('KP_IMAGE_EXTRACT_FAILED', `extracting the image failed: ${(err as Error).message}`, {
      hint: 'the archive is truncated or corrupt; delete it and download again', cause: err,
    });
  }
}

/** A one-line summary of what could not be recreated without privileges (logged as a warning). */
export function skippedSummary(warnings: string[]): string | undefined {
  if (!warnings.length) return undefined;
  const devices = warnings.filter((w) => /not created/.test(w)).length;
  const xattrs = warnings.filter((w) => /xattr/.test(w)).length;
  const other = warnings.length - devices - xattrs;
  const parts = [devices && `${devices} device node(s)/fifo(s)`, xattrs && `${xattrs} xattr(s)`, other && `${other} other entr(ies)`].filter(Boolean);
  return `not recreated without privileges: ${parts.join(', ')} (e.g. ${warnings.slice(0, 3).join('; ')})`;
}
