/**
 * The worker of pack-tree-thread.ts: packs a directory (packTree) into buffers it hands to
 * the thread that ingests the tar, and gets back once they are consumed.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { packTree, type PackStats } from './pack.js';

interface Job {
  dir: string;
  chunk: number;
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
      return new ArrayBuffer(job.chunk);
    }
    await new Promise<void>((resolve) => (returned = resolve));
  }
}

try {
  const stats: PackStats = { entries: 0, contentBytes: 0 };
  for await (const chunk of packTree(job.dir, { reuseBuffers: true, chunkSize: job.chunk, stats })) {
    const b = await buffer();
    new Uint8Array(b).set(chunk);
    port.postMessage({ buffer: b, length: chunk.length }, [b]);
  }
  port.postMessage({ end: true, stats });
} catch (err) {
  const e = err as Error & { code?: string; exitCode?: number; hint?: string; data?: unknown; errno?: number; syscall?: string; path?: string };
  port.postMessage({ error: { name: e.name, message: e.message, code: e.code, exitCode: e.exitCode, hint: e.hint, data: e.data, errno: e.errno, syscall: e.syscall, path: e.path } });
}
port.close();
