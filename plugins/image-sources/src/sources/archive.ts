/**
 * A tarball on disk → a committed image in the cache. One pass over the archive: it is
 * hashed (for the pin) as it is read, unpacked by the kernel's unpacker, and its entries
 * feed the canonical digest (the identity) on the way.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { StreamHasher } from '@karapace/kernel';
import { commitImage, discardStaged, stageImage, type CachedImage } from '../cache.js';
import { CanonicalTree } from '../canonical.js';
import { openTar } from '../decompress.js';
import { checkDigest, type Digests, type ExpectedDigest } from '../http.js';
import { log, startTask } from '../progress.js';
import { skippedSummary, unpackImage } from '../unpack.js';
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

export async function imageFromArchive(ctx: ResolveContext, file: string, rec: ArchiveRecord): Promise<CachedImage> {
  const size = (await stat(file)).size;
  const staged = await stageImage(ctx.request.stagingDir, rec.key);
  const needSha = !rec.digests && (rec.sha256 || rec.expected?.algorithm === 'sha256');
  const sha = needSha ? createHash('sha256') : undefined;
  const b3 = rec.digests ? undefined : new StreamHasher();
  const task = startTask(ctx.kernel, `extracting ${ctx.request.image}`, size, 'bytes');
  let read = 0;
  let source: Awaited<ReturnType<typeof openTar>> | undefined;
  try {
    source = await openTar(file, (chunk) => {
      sha?.update(chunk);
      b3?.update(chunk);
      read += chunk.length;
      task.advance(read, size);
    });
    const tree = new CanonicalTree();
    const stats = await unpackImage(source.chunks, staged.rootfs, tree);
    const archive: Digests = rec.digests ?? { sha256: sha?.digest('hex') ?? '', blake3: b3!.digest(), size: read };
    checkDigest(file, archive, rec.expected);
    const skipped = skippedSummary(stats.warnings);
    if (skipped) log(ctx.kernel, 'warn', skipped);
    const { digest } = tree.digest();
    const record = {
      key: rec.key, kind: rec.kind, reference: ctx.request.image, source: (d: string) => rec.source(archive, d),
      archive: { blake3: archive.blake3, size: archive.size, ...(archive.sha256 ? { sha256: archive.sha256 } : {}) },
    };
    const img = await commitImage(ctx.request.imagesDir, staged, record, digest, tree.contentHashes(), stats.disk);
    task.end(true);
    return img;
  } catch (err) {
    source?.destroy();
    task.end(false, (err as Error).message);
    await discardStaged(staged);
    throw err;
  }
}
