/**
 * A large tree's tar produced on a worker thread (tree-tar-worker.ts) while this thread
 * unpacks it (issue 18: restore): reading and verifying every content object and hashing
 * the tar take as long as the unpack itself, and the two now run on two CPUs. The bytes
 * are treeTar's (the worker runs it); chunks move without copying and go back to the
 * worker once the consumer is done with them.
 */
import { Worker } from 'node:worker_threads';
import { StoreError } from '../errors.js';
import type { StoreLayout } from './layout.js';

/** Below this many tar bytes the worker's start-up costs more than it saves. */
export const THREADED_TAR_MIN = 32 << 20;

type Message =
  | { buffer: ArrayBuffer; length: number }
  | { end: true }
  | { error: { name?: string; message: string; code?: string; hint?: string; data?: Record<string, unknown>; errno?: number; syscall?: string; path?: string } };

function revive(e: Extract<Message, { error: unknown }>['error']): Error {
  if (e.name === 'StoreError' && e.code) return new StoreError(e.code, e.message, { ...(e.hint ? { hint: e.hint } : {}), ...(e.data ? { data: e.data } : {}) });
  return Object.assign(new Error(e.message), e.code ? { code: e.code } : {}, e.errno !== undefined ? { errno: e.errno } : {}, e.syscall ? { syscall: e.syscall } : {}, e.path ? { path: e.path } : {});
}

/** treeTar, run on a worker thread. Each chunk is valid until the next-but-one is requested. */
export async function* treeTarThreaded(layout: StoreLayout, treeHash: string, expect?: { hash: string; size: number }): AsyncGenerator<Buffer> {
  const worker = new Worker(new URL('./tree-tar-worker.js', import.meta.url), { workerData: { root: layout.root, tree: treeHash, expect, buffers: 4 } });
  const inbox: Message[] = [];
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  worker.on('message', (m: Message) => {
    inbox.push(m);
    notify();
  });
  worker.on('error', (err) => {
    failure ??= err;
    notify();
  });
  worker.on('exit', (code) => {
    failure ??= new Error(`the tar thread ended (exit code ${code}) before its tar did`);
    notify();
  });
  /** Chunks handed out: the oldest goes back once two newer ones are out. */
  const held: ArrayBuffer[] = [];
  try {
    for (;;) {
      while (inbox.length === 0 && !failure) await new Promise<void>((resolve) => (wake = resolve));
      const m = inbox.shift();
      if (!m) throw failure!;
      if ('end' in m) return;
      if ('error' in m) throw revive(m.error);
      held.push(m.buffer);
      if (held.length > 2) {
        const back = held.shift()!;
        worker.postMessage(back, [back]);
      }
      yield Buffer.from(m.buffer, 0, m.length);
    }
  } finally {
    worker.removeAllListeners('exit');
    await worker.terminate();
  }
}
