/**
 * Unpacking a tar into a directory, refusing anything that could write outside it:
 * absolute paths, `..`, entries whose parent is a symlink (planted by an earlier entry or
 * already there), hardlinks to paths outside or to directories, oversized headers.
 * Overlay markers are either applied (OCI image flattening) or recreated as overlayfs
 * whiteouts and opaque xattrs (restoring an upper dir). The per-entry work is
 * unpacker.ts's; the file-system calls are spread over unpack-pool.ts's threads.
 */
import { closeSync, openSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { UstarHeader } from './tar-format.js';
import { Reader } from './tar-reader.js';
import { LazyPool, UnpackPool } from './unpack-pool.js';
import type { DiskStat } from './unpack-protocol.js';
import { Unpacker } from './unpacker.js';

export interface UnpackOptions {
  /** `apply`: delete what `.wh.` markers name (flattening OCI layers). `overlay`: recreate overlayfs whiteouts. */
  whiteouts: 'apply' | 'overlay';
  /** Set owners from the archive. Default: only when running as root. */
  owners?: boolean;
  /**
   * Observes every entry as the archive gives it (PAX and long names resolved, path
   * normalised), before it is applied. For a regular file it may return a function, which
   * sees the content chunks as they are written (valid only during the call), or a
   * ContentHashTap, which gets the content's blake3 — computed by the thread that writes
   * the file, so hashing leaves the parsing thread — before unpackTarStream resolves.
   */
  onEntry?(entry: UnpackEntry): ((chunk: Buffer) => void) | ContentHashTap | void;
  /**
   * Worker threads that create files, symlinks and hard links (and directories, when
   * there is one thread) while this thread parses (unpack-pool.ts); only into an empty
   * target. 0: none. Default: one per CPU, at most 4.
   */
  threads?: number;
  /**
   * Return `disk` in the stats: every path created, as lstat(2) sees it when the unpack
   * ends, collected while unpacking (the pool's threads fstat what they create), so a
   * caller that digests or fingerprints the tree needs no walk over it afterwards. Only
   * for an empty target that the archive only adds to; otherwise `disk` is absent.
   */
  recordDisk?: boolean;
  /**
   * The source's bytes are this file's, from its start (a plain tar on disk): the pool's
   * threads read file contents from it themselves instead of getting copies of them from
   * this thread. Not used for entries whose `onEntry` wants the content chunks.
   */
  sourceFile?: string;
}

/** The default size of the unpacker's thread pool. */
export function defaultUnpackThreads(): number {
  return Math.min(availableParallelism(), 4);
}

/**
 * Starts the unpacker's threads now, for an unpack expected soon (a cold build): the next
 * unpackTarStream with this many threads (default: defaultUnpackThreads) uses them
 * instead of waiting for new ones to boot. Unused, they do not keep the process alive.
 */
export function prestartUnpackThreads(threads = defaultUnpackThreads()): void {
  UnpackPool.prestart(threads);
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
  const workers = new LazyPool(options.threads ?? defaultUnpackThreads());
  const sourceFd = options.sourceFile !== undefined && (options.threads ?? 1) > 0 ? openSync(options.sourceFile, 'r') : undefined;
  try {
    return await new Unpacker(reader, targetDir, options, workers, sourceFd).run();
  } finally {
    // Stopped before returning, so nothing queued can still write into the target (or read the source).
    await workers.close();
    if (sourceFd !== undefined) closeSync(sourceFd);
    // A rejected archive stops mid-stream: end the source too, so it closes its file.
    await reader.close();
  }
}
