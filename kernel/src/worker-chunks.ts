/**
 * A byte stream made on a worker thread in fixed buffers (a tree's tar for restore, a
 * directory's tar for commit): both sides of the hand-over. Buffers move without copying,
 * the consumer's go back once two newer ones are out (so a chunk stays valid until the
 * next-but-one is asked for), and an error on the worker comes back as the typed error it was.
 */
import type { MessagePort, Worker } from 'node:worker_threads';
import { KarapaceError, ManifestError, PluginError, RuntimeFailure, StoreError, UsageError } from './errors.js';

/** What of an error crosses the thread boundary. */
export interface ErrorFields {
  name?: string;
  message: string;
  code?: string;
  exitCode?: number;
  hint?: string;
  data?: Record<string, unknown>;
  errno?: number;
  syscall?: string;
  path?: string;
}

/** Messages from the worker: a chunk (plus whatever the stream adds), the end, or its error. */
export type ChunkMessage<Chunk, End> = ({ buffer: ArrayBuffer; length: number } & Chunk) | ({ end: true } & End) | { error: ErrorFields };

export function errorFields(err: unknown): ErrorFields {
  const e = err as Error & Omit<ErrorFields, 'name' | 'message'>;
  return { name: e.name, message: e.message, code: e.code, exitCode: e.exitCode, hint: e.hint, data: e.data, errno: e.errno, syscall: e.syscall, path: e.path };
}

const CLASSES: Record<string, new (code: string, message: string, details?: { hint?: string; data?: Record<string, unknown> }) => KarapaceError> = {
  StoreError, UsageError, RuntimeFailure, ManifestError, PluginError,
};

export function reviveError(e: ErrorFields): Error {
  const details = { ...(e.hint ? { hint: e.hint } : {}), ...(e.data ? { data: e.data } : {}) };
  const Class = e.name ? CLASSES[e.name] : undefined;
  if (Class && e.code) return new Class(e.code, e.message, details);
  if (e.code && e.exitCode !== undefined) return Object.assign(new KarapaceError(e.code, e.exitCode, e.message, details), { name: e.name ?? 'KarapaceError' });
  return Object.assign(new Error(e.message), e.code ? { code: e.code } : {}, e.errno !== undefined ? { errno: e.errno } : {}, e.syscall ? { syscall: e.syscall } : {}, e.path ? { path: e.path } : {});
}

/**
 * The consumer's side: yields each chunk the worker sends, calls `onChunk`/`onEnd` with its
 * message, and terminates the worker when done or abandoned. `what` names the thread in the
 * error of a worker that exits before its end.
 */
export async function* chunksFromWorker<Chunk, End>(
  worker: Worker,
  what: string,
  on: { chunk?: (m: Chunk) => void; end?: (m: End) => void } = {},
): AsyncGenerator<Buffer> {
  const inbox: ChunkMessage<Chunk, End>[] = [];
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  worker.on('message', (m: ChunkMessage<Chunk, End>) => {
    inbox.push(m);
    notify();
  });
  worker.on('error', (err) => {
    failure ??= err;
    notify();
  });
  worker.on('exit', (code) => {
    failure ??= new Error(`${what} ended (exit code ${code}) before its stream did`);
    notify();
  });
  const held: ArrayBuffer[] = [];
  try {
    for (;;) {
      while (inbox.length === 0 && !failure) await new Promise<void>((resolve) => (wake = resolve));
      const m = inbox.shift();
      if (!m) throw failure!;
      if ('end' in m) {
        on.end?.(m);
        return;
      }
      if ('error' in m) throw reviveError(m.error);
      on.chunk?.(m);
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

/** The worker's side: at most `count` buffers of `size` bytes, each reused once the consumer sends it back. */
export function chunkBuffers(port: MessagePort, size: number, count: number): () => Promise<ArrayBuffer> {
  const free: ArrayBuffer[] = [];
  let made = 0;
  let returned: (() => void) | undefined;
  port.on('message', (buffer: ArrayBuffer) => {
    free.push(buffer);
    const wake = returned;
    returned = undefined;
    wake?.();
  });
  return async () => {
    for (;;) {
      const b = free.pop();
      if (b) return b;
      if (made < count) {
        made++;
        return new ArrayBuffer(size);
      }
      await new Promise<void>((resolve) => (returned = resolve));
    }
  };
}
