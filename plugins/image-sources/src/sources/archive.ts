/**
 * A tarball on disk → a committed image in the cache. One pass over the archive: it is
 * hashed (for the pin) as it is read, unpacked by the kernel's unpacker, and its entries
 * feed the canonical digest (the identity) on the way.
 */
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KarapaceError, nativeUnpackerAvailable, RuntimeFailure, SOURCE_SHRANK, StreamHasher } from '@karapace/kernel';
import { commitImage, discardStaged, stageImage, type CachedImage } from '../cache.js';
import { CanonicalTree } from '@karapace/kernel';
import { decompressToFile, openTar, sniffCompression, type Compression } from '../decompress.js';
import { checkDigest, type Digests, type ExpectedDigest } from '../http.js';
import { log, startTask } from '../progress.js';
import { skippedSummary, unpackImage, unpackImageFile, type UnpackFileStats, type UnpackStats } from '../unpack.js';
import type { ResolveContext } from './context.js';

export interface ArchiveRecord {
  key: string;
  kind: string;
  /** Pinned source, given the archive digests and the tree digest. */
  source(archive: Digests, treeDigest: string): string;
  expected?: ExpectedDigest;
  /** Digests already computed (a verified download): the archive is not hashed again. */
  digests?: Digests;
  /** Hash the archive with sha256 too (pins and published sums use it); blake3 is always taken. */
  sha256?: boolean;
}

/** The error for a tarball that changed while it was being unpacked (the cache must not mix two versions). */
function imageChanged(file: string, cause?: unknown): RuntimeFailure {
  return new RuntimeFailure('KP_IMAGE_CHANGED', `${file} changed while it was being unpacked`, {
    hint: 'wait until whatever writes it has finished, then build again',
    data: { path: file },
    cause,
  });
}

/**
 * The archive's stat identity is what a local file is cached by, and the native unpacker's
 * threads read file contents from it a second time: a file rewritten meanwhile is refused.
 */
async function unchangedSince(file: string, before: Stats): Promise<void> {
  const now = await stat(file);
  if (now.ino !== before.ino || now.size !== before.size || now.mtimeMs !== before.mtimeMs || now.ctimeMs !== before.ctimeMs) {
    throw imageChanged(file);
  }
}

/**
 * Compressions whose tool decompresses fast enough that writing the tar out first and
 * unpacking that file natively beats unpacking the stream as it comes (bench/images.mjs,
 * figures in bench/RESULTS.md): zstd wins; gzip loses (node:zlib's stream overlaps the
 * unpack, `gzip -dc` then the unpack do not); xz is mixed.
 */
const DECOMPRESS_FIRST = new Set<Compression>(['zstd']);

/** The archive's hashes (unless known already), taken from its bytes as they are read. */
function archiveHashes(rec: ArchiveRecord, needSha: boolean | undefined, progress: (read: number) => void) {
  const sha = needSha ? createHash('sha256') : undefined;
  const b3 = rec.digests ? undefined : new StreamHasher();
  let read = 0;
  return {
    update: (chunk: Buffer) => {
      sha?.update(chunk);
      b3?.update(chunk);
      read += chunk.length;
      progress(read);
    },
    digests: (): Digests => rec.digests ?? { sha256: sha?.digest('hex') ?? '', blake3: b3!.digest(), size: read },
  };
}

/**
 * A compressed tarball decompressed into the staging directory, then unpacked natively
 * from that file (and the file removed). Undefined when decompressing into a file failed
 * (no room for the tar, say; a corrupt archive): the caller streams it instead, which
 * needs no room for the tar and reports a corrupt archive its own way.
 */
async function unpackDecompressed(
  ctx: ResolveContext, file: string, compression: Exclude<Compression, 'none'>, staged: { dir: string; rootfs: string }, tree: CanonicalTree,
  rec: ArchiveRecord, needSha: boolean | undefined, progress: (read: number) => void,
): Promise<{ stats: UnpackFileStats; archive: Digests } | undefined> {
  const tar = join(staged.dir, 'archive.tar');
  const hashes = archiveHashes(rec, needSha, progress);
  try {
    try {
      await decompressToFile(file, compression, tar, hashes.update);
    } catch (err) {
      // A missing tool is missing for the stream too.
      if (err instanceof KarapaceError) throw err;
      log(ctx.kernel, 'debug', `${file}: decompressing into a file failed (${(err as Error).message}); unpacking the stream instead`);
      return undefined;
    }
    log(ctx.kernel, 'debug', `${file}: decompressed into the staging directory, unpacking that file`);
    return { stats: await unpackImageFile(tar, staged.rootfs, tree, false), archive: hashes.digests() };
  } finally {
    await rm(tar, { force: true });
  }
}

export async function imageFromArchive(ctx: ResolveContext, file: string, rec: ArchiveRecord): Promise<CachedImage> {
  const before = await stat(file);
  const size = before.size;
  const staged = await stageImage(ctx.request.stagingDir, rec.key);
  const needSha = !rec.digests && (rec.sha256 || rec.expected?.algorithm === 'sha256');
  const task = startTask(ctx.kernel, `extracting ${ctx.request.image}`, size, 'bytes');
  let source: Awaited<ReturnType<typeof openTar>> | undefined;
  try {
    const tree = new CanonicalTree();
    let stats: UnpackStats;
    let computed: UnpackFileStats['treeDigests'];
    let archive: Digests;
    const compression = await sniffCompression(file);
    const decompressed = compression !== 'none' && DECOMPRESS_FIRST.has(compression) && nativeUnpackerAvailable()
      ? await unpackDecompressed(ctx, file, compression, staged, tree, rec, needSha, (read) => task.advance(read, size))
      : undefined;
    if (decompressed) {
      ({ stats, archive } = decompressed);
      computed = decompressed.stats.treeDigests;
    } else if (!needSha && compression === 'none') {
      // A plain tar: the native unpacker's threads read its contents from the file, the
      // blake3 comes from its one pass over the headers (or the serial reference's one read).
      const unpacked = await unpackImageFile(file, staged.rootfs, tree, !rec.digests, (position) => task.advance(position, size)).catch((err: Error) => {
        throw err.message.includes(SOURCE_SHRANK) ? imageChanged(file, err) : err;
      });
      stats = unpacked;
      computed = unpacked.treeDigests;
      archive = rec.digests ?? { sha256: '', blake3: unpacked.archive!.blake3, size: unpacked.archive!.size };
    } else {
      const hashes = archiveHashes(rec, needSha, (read) => task.advance(read, size));
      source = await openTar(file, hashes.update);
      stats = await unpackImage(source.chunks, staged.rootfs, tree);
      archive = hashes.digests();
    }
    await unchangedSince(file, before);
    checkDigest(file, archive, rec.expected);
    const skipped = skippedSummary(stats.warnings);
    if (skipped) log(ctx.kernel, 'warn', skipped);
    // Computed natively with the unpack, or from the tree the entries fed.
    const { digest, order, listing } = computed ? { digest: computed.tree, order: undefined, listing: undefined } : tree.digest();
    const record = {
      key: rec.key, kind: rec.kind, reference: ctx.request.image, source: (d: string) => rec.source(archive, d),
      archive: { blake3: archive.blake3, size: archive.size, ...(archive.sha256 ? { sha256: archive.sha256 } : {}) },
    };
    const img = await commitImage(ctx.request.imagesDir, staged, record, digest, {
      known: tree.contentHashes(), disk: stats.disk, order, diskDigest: computed?.disk, listing,
    });
    task.end(true);
    return img;
  } catch (err) {
    source?.destroy();
    task.end(false, (err as Error).message);
    await discardStaged(staged);
    throw err;
  }
}
