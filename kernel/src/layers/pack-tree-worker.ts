/**
 * The worker of pack-tree-thread.ts: packs a directory (packTree) into buffers it hands to
 * the thread that ingests the tar, and gets back once they are consumed. With `contents`, it
 * hashes each file's content as it reads it (layers/tar-digests.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { chunkBuffers, errorFields } from '../worker-chunks.js';
import { packTree, type PackStats } from './pack.js';

interface Job {
  dir: string;
  chunk: number;
  /** Buffers in use at once: the consumer holds two, one is on its way, one being filled, one ready. */
  buffers: number;
  /** Whether file contents are hashed. */
  contents: boolean;
}

const job = workerData as Job;
const port = parentPort!;
const buffer = chunkBuffers(port, job.chunk, job.buffers);

try {
  const stats: PackStats = { entries: 0, contentBytes: 0 };
  /** [path, hash] pairs of the contents that end in the chunks not yet sent. */
  let contents: string[] = [];
  const onContent = job.contents ? (path: string, hash: string) => void contents.push(path, hash) : undefined;
  // The packer writes straight into the buffers sent (no copy): one is always ready for its
  // next chunk, since it takes it while handing out the last (two to begin: its first chunk too).
  const ready = [Buffer.from(await buffer()), Buffer.from(await buffer())];
  const chunkBuffer = () => {
    const b = ready.shift();
    if (!b) throw new Error('the pack thread has no buffer ready for its next chunk');
    return b;
  };
  for await (const chunk of packTree(job.dir, { chunkSize: job.chunk, stats, onContent, chunkBuffer })) {
    const b = chunk.buffer as ArrayBuffer;
    port.postMessage({ buffer: b, length: chunk.length, contents }, [b]);
    contents = [];
    ready.push(Buffer.from(await buffer()));
  }
  port.postMessage({ end: true, stats });
} catch (err) {
  port.postMessage({ error: errorFields(err) });
}
port.close();
