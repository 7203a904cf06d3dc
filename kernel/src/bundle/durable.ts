/**
 * Making a pulled tree durable before it is committed, without an fsync per file on the
 * critical path: large files are flushed (fsync on the libuv pool) as soon as they are
 * complete, overlapping the rest of the download. At the end, what is not flushed yet —
 * small files, directories, large files still queued — is fsynced one by one when there are
 * few of them (a small tree: the cost is our own data only), or covered by one syncfs(2) of
 * the store's filesystem (a rootfs-sized tree: one call instead of thousands; it also
 * flushes whatever else is dirty on that filesystem, which on a busy machine can take
 * seconds).
 */
import { readdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { syncFilesystem } from '../store/atomic.js';

export { syncFilesystem };

/** Files at least this large are flushed while the download goes on. */
const EARLY_FLUSH_BYTES = 1 << 20;
/** Early flushes in flight at once (the libuv pool has 4 threads; leave room). */
const IN_FLIGHT = 2;
/** More entries than this left to flush at the end: one syncfs instead. */
const MAX_SINGLE_SYNCS = 64;
/** fsync calls in flight at the end (the download is over: the whole pool). */
const FINAL_IN_FLIGHT = 4;

export class TreeFlusher {
  private readonly queue: string[] = [];
  private readonly flushed = new Set<string>();
  private running = 0;
  private readonly waiters: (() => void)[] = [];
  private failure: Error | undefined;

  /** A file that is complete: flushed in the background when it is large enough to matter. */
  fileDone(path: string, size: number): void {
    if (size < EARLY_FLUSH_BYTES) return;
    this.queue.push(path);
    this.pump();
  }

  private pump(): void {
    while (this.running < IN_FLIGHT && this.queue.length) {
      const path = this.queue.shift()!;
      this.running++;
      void fsyncPath(path)
        .then(() => { this.flushed.add(path); })
        .catch((err: Error) => { this.failure ??= err; })
        .finally(() => {
          this.running--;
          this.pump();
          if (this.running === 0 && !this.queue.length) for (const w of this.waiters.splice(0)) w();
        });
    }
  }

  /**
   * Makes everything under `dir` durable (all of it is complete). Flushes still queued are
   * dropped and done with the rest; those already running are waited for alongside.
   */
  async finish(dir: string): Promise<void> {
    this.queue.length = 0;
    const running = this.running ? new Promise<void>((resolve) => this.waiters.push(resolve)) : undefined;
    const left = unflushed(dir, this.flushed, MAX_SINGLE_SYNCS);
    await Promise.all([left ? syncEach(left) : syncFilesystem(dir), running]);
    if (this.failure) throw this.failure;
  }

  /** Lets flushes still running end quietly (the tree is being thrown away). */
  abandon(): void {
    this.queue.length = 0;
  }
}

/**
 * The directories and regular files under `dir` (itself included) not flushed yet, or
 * undefined when there are more than `max`. Symlinks and special files live in their
 * directory's entries and inodes, which the directory's fsync commits.
 */
export function unflushed(dir: string, flushed: Set<string>, max: number): string[] | undefined {
  const out = [dir];
  for (let i = 0; i < out.length; i++) {
    const current = out[i]!;
    if (flushed.has(current)) continue;
    let entries;
    try {
      entries = readdirSync(current, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
      throw err;
    }
    for (const e of entries) {
      const path = join(current, e.name);
      if ((e.isFile() && !flushed.has(path)) || e.isDirectory()) out.push(path);
      if (out.length > max) return undefined;
    }
  }
  return out;
}

async function syncEach(paths: string[]): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(FINAL_IN_FLIGHT, paths.length) }, async () => {
    while (next < paths.length) await fsyncPath(paths[next++]!);
  }));
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
