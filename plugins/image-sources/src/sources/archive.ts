/** A tarball on disk → a committed image in the cache (hashing the archive on the way). */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { StreamHasher } from '@karapace/kernel';
import { commitImage, discardStaged, stageImage, type CachedImage } from '../cache.js';
import { openTar } from '../decompress.js';
import { extractTar, type FileHash } from '../extract.js';
import { checkDigest, type Digests, type ExpectedDigest } from '../http.js';
import { log, startTask } from '../progress.js';
import type { ResolveContext } from './context.js';

export interface ArchiveRecord {
  key: string;
  kind: string;
  /** Pinned source, given the archive digests and the tree digest. */
  source(archive: Digests, treeDigest: string): string;
  expected?: ExpectedDigest;
}

export async function imageFromArchive(ctx: ResolveContext, file: string, rec: ArchiveRecord): Promise<CachedImage> {
  const size = (await stat(file)).size;
  const staged = await stageImage(ctx.request.stagingDir, rec.key);
  const sha = createHash('sha256');
  const b3 = new StreamHasher();
  const task = startTask(ctx.kernel, `extracting ${ctx.request.image}`, size, 'bytes');
  let read = 0;
  try {
    const known = new Map<string, FileHash>();
    const { stream } = await openTar(file, (chunk) => {
      sha.update(chunk);
      b3.update(chunk);
      read += chunk.length;
      task.advance(read, size);
    });
    const stats = await extractTar(stream, staged.rootfs, { hashes: known });
    const archive: Digests = { sha256: sha.digest('hex'), blake3: b3.digest(), size: read };
    checkDigest(file, archive, rec.expected);
    if (stats.skipped.length) log(ctx.kernel, 'debug', `skipped ${stats.skipped.length} device node(s)/fifo(s): ${stats.skipped.slice(0, 5).join(', ')}…`);
    const record = {
      key: rec.key, kind: rec.kind, reference: ctx.request.image, source: (digest: string) => rec.source(archive, digest), archive,
    };
    const img = await commitImage(ctx.request.imagesDir, staged, record, known);
    task.end(true);
    return img;
  } catch (err) {
    task.end(false, (err as Error).message);
    await discardStaged(staged);
    throw err;
  }
}
