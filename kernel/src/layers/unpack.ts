/**
 * Unpacking a tar into a directory, refusing anything that could write outside it:
 * absolute paths, `..`, entries whose parent is a symlink (planted by an earlier entry or
 * already there), hardlinks to paths outside or to directories, oversized headers.
 * Overlay markers are either applied (OCI image flattening) or recreated as overlayfs
 * whiteouts and opaque xattrs (restoring an upper dir). The per-entry work is
 * unpacker.ts's, the serial reference; native-unpack.ts is its accelerator for tar files.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { badTar, SOURCE_SHRANK, type UstarHeader } from './tar-format.js';
import { Reader } from './tar-reader.js';
import { emptyTarget, nativeUntar, unpackNative } from './native-unpack.js';
import type { DiskStat } from './disk-stat.js';
import { Unpacker } from './unpacker.js';
import { StreamHasher } from '../hash.js';

export interface UnpackOptions {
  /** `apply`: delete what `.wh.` markers name (flattening OCI layers). `overlay`: recreate overlayfs whiteouts. */
  whiteouts: 'apply' | 'overlay';
  /** Set owners from the archive. Default: only when running as root. */
  owners?: boolean;
  /**
   * Observes every entry as the archive gives it (PAX and long names resolved, path
   * normalised), before it is applied. For a regular file it may return a function, which
   * sees the content chunks as they are written (valid only during the call), or a
   * ContentHashTap, which gets the content's blake3 (computed as the file is written, by
   * the native unpacker's writer threads when it does the work) before the unpack resolves.
   */
  onEntry?(entry: UnpackEntry): ((chunk: Buffer) => void) | ContentHashTap | void;
  /**
   * Return `disk` in the stats: every path created, as lstat(2) sees it when the unpack
   * ends, collected by the unpack itself, so a caller that digests or fingerprints the tree needs no walk over it afterwards. Only
   * for an empty target that the archive only adds to; otherwise `disk` is absent.
   */
  recordDisk?: boolean;
  /** Called after each entry with the bytes of the source consumed so far (progress). */
  onProgress?(position: number): void;
  /**
   * `onEntry` may see the entries after they are applied (in archive order), and returns no
   * content function, only ContentHashTaps: unpackTarFile may then use the native unpacker
   * (native-unpack.ts).
   */
  entriesAfterUnpack?: boolean;
  /**
   * When the native unpacker does the work, it may also compute the tree digests an image
   * needs (`treeDigests` in the stats; `disk` is then in digestTree's order) — and then
   * `onEntry` is not called at all.
   */
  treeDigests?: boolean;
  /**
   * Content that may come from outside the store's trust (a pull, or a layer a pull
   * brought, restored later: docs/security-model.md): device nodes
   * are not created (only a 0/0 character device, overlayfs' whiteout), and of the
   * extended attributes only `user.*` and `security.capability` are set.
   */
  untrusted?: boolean;
}

/** The extended attributes an untrusted archive may set. */
export function untrustedXattrAllowed(name: string): boolean {
  return (name.startsWith('user.') && !name.startsWith('user.overlay.')) || name === 'security.capability';
}

/** Asks for a file's content hash (blake3, hex). */
export interface ContentHashTap {
  onHash(hash: string): void;
}

/** One archive entry as `onEntry` sees it. */
export interface UnpackEntry {
  /** Normalised relative path ('' is the root). */
  path: string;
  type: UstarHeader['type'];
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}

export interface UnpackStats {
  entries: number;
  bytes: number;
  /** Entries that could not be recreated here (device nodes, privileged xattrs), with why. */
  warnings: string[];
  /** With `recordDisk`: every created path (relative; not the root) and its lstat data. */
  disk?: Map<string, DiskStat>;
}

export async function unpackTarStream(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, targetDir: string, options: UnpackOptions): Promise<UnpackStats> {
  const reader = new Reader(source);
  try {
    return await new Unpacker(reader, targetDir, options).run();
  } finally {
    // A rejected archive stops mid-stream: end the source too, so it closes its file.
    await reader.close();
  }
}

export interface UnpackFileStats extends UnpackStats {
  /** With `hash`: the tar file's blake3 and size, as read. */
  archive?: { blake3: string; size: number };
  /** Set when the native unpacker did the work (native-unpack.ts). */
  native?: boolean;
  /**
   * With `treeDigests`, when computed natively (native/untar-digest.c): digestTree's digest
   * of the entries as a faithful extraction gives them (image-sources' canonical digest:
   * implied directories 755 0:0, hard links as their targets, devices whether or not made)
   * and of what is on disk (digestRootfs over `disk`).
   */
  treeDigests?: { tree: string; disk: string };
}

/**
 * Unpacks a plain tar file, hashing it too (blake3, when `hash`). With `entriesAfterUnpack`,
 * into an empty target, the native unpacker does it when it can (native-unpack.ts; its
 * writer threads read file contents from the file themselves). Otherwise the serial
 * reference unpacker reads it once, in order, and hashes it on the way. A file that
 * shrinks fails the unpack; one rewritten in place could mix versions, so a caller that cannot rule that
 * out compares the file's stat before and after (image-sources does).
 */
export async function unpackTarFile(file: string, targetDir: string, options: UnpackOptions, hash = true): Promise<UnpackFileStats> {
  const fd = openSync(file, 'r');
  try {
    const addon = options.entriesAfterUnpack ? nativeUntar() : null;
    const target = addon ? emptyTarget(targetDir) : undefined;
    const native = target && (await unpackNative(addon!, fd, targetDir, options, target.bornRoot, hash));
    if (native) return { ...native, native: true };
    return await unpackStreamed(fd, targetDir, options, hash);
  } finally {
    closeSync(fd);
  }
}

async function unpackStreamed(fd: number, targetDir: string, options: UnpackOptions, hash: boolean): Promise<UnpackFileStats> {
  const hasher = hash ? new StreamHasher() : undefined;
  const expected = fstatSync(fd).size;
  let size = 0;
  function* chunks(): Generator<Buffer> {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = readSync(fd, buf, 0, buf.length, size)) > 0; size += n) {
      const chunk = buf.subarray(0, n);
      hasher?.update(chunk);
      yield chunk;
    }
    if (size < expected) throw badTar(`archive is truncated: ${SOURCE_SHRANK}`);
  }
  const stats = await unpackTarStream(chunks(), targetDir, options);
  return hasher ? { ...stats, archive: { blake3: hasher.digest(), size } } : stats;
}
