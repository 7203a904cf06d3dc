/**
 * The worker of tree-tar-thread.ts: produces a tree's tar (treeTar: every content object
 * read and verified, the whole tar hashed) into buffers it hands to the thread that unpacks
 * them, and gets back once they are consumed.
 */
import { parentPort, workerData } from 'node:worker_threads';
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
const free: ArrayBuffer[] = [];
let made = 0;
let returned: (() => void) | undefined;
port.on('message', (buffer: ArrayBuffer) => {
  free.push(buffer);
  const wake = returned;
  returned = undefined;
  wake?.();
});

async function buffer(): Promise<ArrayBuffer> {
  for (;;) {
    const b = free.pop();
    if (b) return b;
    if (made < job.buffers) {
      made++;
      return new ArrayBuffer(CHUNK);
    }
    await new Promise<void>((resolve) => (returned = resolve));
  }
}

try {
  for await (const chunk of treeTar(storeLayout(job.root), job.tree, job.expect)) {
    const b = await buffer();
    new Uint8Array(b).set(chunk);
    port.postMessage({ buffer: b, length: chunk.length }, [b]);
  }
  port.postMessage({ end: true });
} catch (err) {
  const e = err as Error & { code?: string; hint?: string; data?: unknown; errno?: number; syscall?: string; path?: string };
  port.postMessage({ error: { name: e.name, message: e.message, code: e.code, hint: e.hint, data: e.data, errno: e.errno, syscall: e.syscall, path: e.path } });
}
port.close();
