/**
 * A large tree's tar produced on a worker thread (tree-tar-worker.ts) while this thread
 * unpacks it (issue 18: restore): reading and verifying every content object and hashing
 * the tar take as long as the unpack itself, and the two now run on two CPUs. The bytes
 * are treeTar's (the worker runs it); chunks move without copying and go back to the
 * worker once the consumer is done with them.
 */
import { Worker } from 'node:worker_threads';
import { chunksFromWorker } from '../worker-chunks.js';
import type { StoreLayout } from './layout.js';

/** Below this many tar bytes the worker's start-up costs more than it saves. */
export const THREADED_TAR_MIN = 32 << 20;

/** treeTar, run on a worker thread. Each chunk is valid until the next-but-one is requested. */
export async function* treeTarThreaded(layout: StoreLayout, treeHash: string, expect?: { hash: string; size: number }): AsyncGenerator<Buffer> {
  // Started on the first chunk asked for: a stream never read starts no thread.
  const worker = new Worker(new URL('./tree-tar-worker.js', import.meta.url), { workerData: { root: layout.root, tree: treeHash, expect, buffers: 4 } });
  yield* chunksFromWorker(worker, 'the tar thread');
}
