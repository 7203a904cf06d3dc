/**
 * Atomic, durable writes: temp file in the same directory → write → fsync → rename →
 * fsync the directory. A reader sees the old content or the new, never a torn file.
 */
import { execFile } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { close, fsync, mkdir, open, rename, rm, writeFile } from '../fs-async.js';
import { basename, dirname, join } from 'node:path';
import { randomHex } from '../random.js';

export function tempPathFor(file: string): string {
  return join(dirname(file), `.${basename(file)}.tmp-${process.pid}-${randomHex(4)}`);
}

/** fsync(2) of a file or directory by path. */
async function fsyncPath(path: string): Promise<void> {
  const fd = await open(path, 'r');
  try {
    await fsync(fd);
  } finally {
    await close(fd);
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  await fsyncPath(dir);
}

export function fsyncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = tempPathFor(file);
  try {
    const fd = await open(tmp, 'wx', mode);
    try {
      await writeFile(fd, data);
      await fsync(fd);
    } finally {
      await close(fd);
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dirname(file));
}

/**
 * Makes files (or directories) durable: one fsync each, several at a time (the journal
 * commits concurrent ones together). Not syncfs(2): that waits for everything dirty on
 * the filesystem, other programs' writes included.
 */
export async function fsyncPaths(paths: readonly string[], concurrency = 16): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < paths.length) await fsyncPath(paths[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, paths.length) }, worker));
}

/** Synchronous twin, for the few places that must not yield (signal handlers, exit paths). */
export function writeFileAtomicSync(file: string, data: string | Uint8Array, mode = 0o644): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = tempPathFor(file);
  try {
    const fd = openSync(tmp, 'wx', mode);
    try {
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      let off = 0;
      while (off < buf.byteLength) off += writeSync(fd, buf, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDirSync(dirname(file));
}

/** syncfs(2) through coreutils' `sync -f`: one call for the whole tree. */
export function syncFilesystem(dir: string): Promise<void> {
  // Without a PATH search when it is in the usual place.
  const sync = ['/usr/bin/sync', '/bin/sync'].find((p) => existsSync(p)) ?? 'sync';
  return new Promise((resolve, reject) => {
    execFile(sync, ['-f', dir], (err) => (err ? reject(new Error(`sync -f ${dir} failed: ${err.message}`)) : resolve()));
  });
}
