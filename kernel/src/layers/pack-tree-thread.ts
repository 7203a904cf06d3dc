/**
 * A large directory's tar packed on a worker thread (pack-tree-worker.ts) while this thread
 * ingests it (issue 18: a full-tree commit): walking and reading the tree, and checking,
 * hashing and storing what it gives, each take about as long, and now run on two CPUs.
 * The bytes are packTree's (the worker runs it); chunks move without copying between the
 * threads and go back to the worker once the consumer is done with them.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { chunksFromWorker } from '../worker-chunks.js';
import { packTree, type PackStats } from './pack.js';
import { TarDigests, type DigestedTar } from './tar-digests.js';

/** Below this many entries the worker's start-up (~20-30 ms) costs more than it saves. */
export const THREADED_PACK_MIN_ENTRIES = 2000;
const CHUNK = 4 << 20;

/** Whether `dir` holds at least `min` entries (counted with readdir only, stopping at `min`). */
export function hasEntries(dir: string, min = THREADED_PACK_MIN_ENTRIES): boolean {
  let n = 0;
  const stack = [dir];
  while (stack.length > 0) {
    let entries;
    try {
      entries = readdirSync(stack.pop()!, { withFileTypes: true });
    } catch {
      continue; // the packer reports it
    }
    n += entries.length;
    if (n >= min) return true;
    for (const e of entries) if (e.isDirectory()) stack.push(join(e.parentPath ?? e.path, e.name));
  }
  return false;
}

/**
 * packTree of `dir`, run on a worker thread; `stats` filled at the end. Each chunk is valid
 * until the next-but-one is requested. `digests`: the files' content hashes, added as the chunks come.
 */
export async function* packTreeThreaded(dir: string, stats?: PackStats, digests?: TarDigests): AsyncGenerator<Buffer> {
  // Started on the first chunk asked for: a stream never read starts no thread.
  const worker = new Worker(new URL('./pack-tree-worker.js', import.meta.url), { workerData: { dir, chunk: CHUNK, buffers: 5, contents: digests !== undefined } });
  yield* chunksFromWorker<{ contents: string[] }, { stats: PackStats }>(worker, 'the pack thread', {
    chunk: (m) => digests?.add(m.contents),
    end: (m) => void (stats && Object.assign(stats, m.stats)),
  });
}

/**
 * The tar of `dir` packed in this process for an ingest (commit): on a worker thread when
 * the tree is large, else here with reused buffers. Chunks are valid until the next one is
 * asked for. On the thread, with `hashContents`, each file's content is hashed there too,
 * as it is read (layers/tar-digests.ts).
 */
export function packTreeForIngest(dir: string, stats: PackStats, hashContents = true): AsyncIterable<Uint8Array> | DigestedTar {
  if (!hasEntries(dir)) return packTree(dir, { reuseBuffers: true, stats });
  if (!hashContents) return packTreeThreaded(dir, stats);
  const digests = new TarDigests();
  const chunks = packTreeThreaded(dir, stats, digests);
  return { [Symbol.asyncIterator]: () => chunks, digests };
}
