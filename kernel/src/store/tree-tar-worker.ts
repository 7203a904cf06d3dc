/**
 * The worker of tree-tar-thread.ts: produces a tree's tar (treeTar: every content object
 * read and verified, the whole tar hashed) into buffers it hands to the thread that unpacks
 * them, and gets back once they are consumed.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { chunkBuffers, errorFields } from '../worker-chunks.js';
import { storeLayout } from './layout.js';
import { CHUNK, treeTar } from './tree-tar.js';

interface Job {
  root: string;
  tree: string;
  expect?: { hash: string; size: number };
  /** Buffers in use at once (the consumer holds two). */
  buffers: number;
}

const job = workerData as Job;
const port = parentPort!;
const buffer = chunkBuffers(port, CHUNK, job.buffers);

try {
  for await (const chunk of treeTar(storeLayout(job.root), job.tree, job.expect)) {
    const b = await buffer();
    new Uint8Array(b).set(chunk);
    port.postMessage({ buffer: b, length: chunk.length }, [b]);
  }
  port.postMessage({ end: true });
} catch (err) {
  port.postMessage({ error: errorFields(err) });
}
port.close();
