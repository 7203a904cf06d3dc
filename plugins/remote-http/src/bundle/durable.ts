/**
 * Making a pulled tree durable before it is committed, without an fsync per file on the
 * critical path: large files are flushed (fdatasync on the libuv pool) as soon as they are
 * complete, overlapping the rest of the download, and one syncfs(2) of the store's
 * filesystem at the end covers the small files, directories and anything not flushed yet.
 */
import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';

/** Files at least this large are flushed while the download goes on. */
const EARLY_FLUSH_BYTES = 1 << 20;
/** fdatasync calls in flight at once (the libuv pool has 4 threads; leave room). */
const IN_FLIGHT = 2;

export class TreeFlusher {
  private readonly queue: string[] = [];
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
      void datasync(path)
        .catch((err: Error) => { this.failure ??= err; })
        .finally(() => {
          this.running--;
          this.pump();
          if (this.running === 0 && !this.queue.length) for (const w of this.waiters.splice(0)) w();
        });
    }
  }

  /**
   * Syncs the filesystem holding `dir` (everything written so far is complete). Flushes
   * still queued are dropped — syncfs writes their data too, in one batch — and those
   * already running are waited for alongside it.
   */
  async finish(dir: string): Promise<void> {
    this.queue.length = 0;
    const running = this.running ? new Promise<void>((resolve) => this.waiters.push(resolve)) : undefined;
    await Promise.all([syncFilesystem(dir), running]);
    if (this.failure) throw this.failure;
  }

  /** Lets flushes still running end quietly (the tree is being thrown away). */
  abandon(): void {
    this.queue.length = 0;
  }
}

async function datasync(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/** syncfs(2) through coreutils' `sync -f`: one call for the whole tree. */
export function syncFilesystem(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('sync', ['-f', dir], (err) => (err ? reject(new Error(`sync -f ${dir} failed: ${err.message}`)) : resolve()));
  });
}
