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
import { KarapaceError, ManifestError, PluginError, RuntimeFailure, StoreError, UsageError } from '../errors.js';
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

type ErrorFields = { name?: string; message: string; code?: string; exitCode?: number; hint?: string; data?: Record<string, unknown>; errno?: number; syscall?: string; path?: string };
type Message = { buffer: ArrayBuffer; length: number; contents: string[] } | { end: true; stats: PackStats } | { error: ErrorFields };

const CLASSES: Record<string, new (code: string, message: string, details?: { hint?: string; data?: Record<string, unknown> }) => KarapaceError> = {
  StoreError, UsageError, RuntimeFailure, ManifestError, PluginError,
};

function revive(e: ErrorFields): Error {
  const details = { ...(e.hint ? { hint: e.hint } : {}), ...(e.data ? { data: e.data } : {}) };
  const Class = e.name ? CLASSES[e.name] : undefined;
  if (Class && e.code) return new Class(e.code, e.message, details);
  if (e.code && e.exitCode !== undefined) return Object.assign(new KarapaceError(e.code, e.exitCode, e.message, details), { name: e.name ?? 'KarapaceError' });
  return Object.assign(new Error(e.message), e.code ? { code: e.code } : {}, e.errno !== undefined ? { errno: e.errno } : {}, e.syscall ? { syscall: e.syscall } : {}, e.path ? { path: e.path } : {});
}

/**
 * packTree of `dir`, run on a worker thread; `stats` filled at the end. Each chunk is valid
 * until the next-but-one is requested. `digests`: the files' content hashes, added as the chunks come.
 */
export async function* packTreeThreaded(dir: string, stats?: PackStats, digests?: TarDigests): AsyncGenerator<Buffer> {
  const worker = new Worker(new URL('./pack-tree-worker.js', import.meta.url), { workerData: { dir, chunk: CHUNK, buffers: 5, contents: digests !== undefined } });
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
    failure ??= new Error(`the pack thread ended (exit code ${code}) before its tar did`);
    notify();
  });
  /** Chunks handed out: the oldest goes back once two newer ones are out. */
  const held: ArrayBuffer[] = [];
  try {
    for (;;) {
      while (inbox.length === 0 && !failure) await new Promise<void>((resolve) => (wake = resolve));
      const m = inbox.shift();
      if (!m) throw failure!;
      if ('end' in m) {
        if (stats) Object.assign(stats, m.stats);
        return;
      }
      if ('error' in m) throw revive(m.error);
      digests?.add(m.contents);
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
