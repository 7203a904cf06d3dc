/**
 * Content-addressed objects: `objects/ab/cdef…` named by the blake3 of their bytes,
 * written atomically, verified on every read. A corrupt object is reported, never used.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { StoreError } from '../errors.js';
import { hashBytes, StreamHasher, type Hash } from '../hash.js';
import { fsyncDir, tempPathFor, writeFileAtomic } from './atomic.js';
import { objectPath, type StoreLayout } from './layout.js';

export function corruptObject(path: string, expected: string, actual: string): StoreError {
  return new StoreError('KP_STORE_OBJECT_CORRUPT', `store object ${path} is corrupt (expected blake3 ${expected}, got ${actual})`, {
    hint: 'run `karapace verify-store` to list every damaged item; restore them from a remote with `karapace pull`',
    data: { path, expected, actual },
  });
}

export async function hasObject(layout: StoreLayout, hash: Hash): Promise<boolean> {
  try {
    await stat(objectPath(layout, hash));
    return true;
  } catch {
    return false;
  }
}

export async function putObject(layout: StoreLayout, data: string | Uint8Array): Promise<Hash> {
  const hash = hashBytes(data);
  const path = objectPath(layout, hash);
  if (!(await hasObject(layout, hash))) await writeFileAtomic(path, data, 0o444);
  return hash;
}

/** Streams bytes into the store, hashing as they pass; returns the object's hash and size. */
export async function putObjectStream(layout: StoreLayout, source: Readable | AsyncIterable<Uint8Array>): Promise<{ hash: Hash; size: number }> {
  await mkdir(layout.staging, { recursive: true });
  const tmp = tempPathFor(`${layout.staging}/object`);
  const hasher = new StreamHasher();
  // Loaded here: node:stream/promises is not needed by most commands (start-up time).
  const { pipeline } = await import('node:stream/promises');
  try {
    await pipeline(
      source,
      async function* (chunks: AsyncIterable<Uint8Array>) {
        for await (const chunk of chunks) {
          hasher.update(chunk);
          yield chunk;
        }
      },
      createWriteStream(tmp, { mode: 0o444 }),
    );
    const handle = await open(tmp, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    const hash = hasher.digest();
    const path = objectPath(layout, hash);
    if (await hasObject(layout, hash)) {
      await rm(tmp, { force: true });
    } else {
      await mkdir(dirname(path), { recursive: true });
      await rename(tmp, path);
      await fsyncDir(dirname(path));
    }
    return { hash, size: hasher.size };
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function getObject(layout: StoreLayout, hash: Hash): Promise<Buffer> {
  const path = objectPath(layout, hash);
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new StoreError('KP_STORE_OBJECT_MISSING', `store object ${hash} is missing (${path})`, {
        hint: 'run `karapace verify-store`; pull the environment again from a remote if it was pushed',
        data: { hash, path },
      });
    }
    throw err;
  }
  const actual = hashBytes(data);
  if (actual !== hash) throw corruptObject(path, hash, actual);
  return data;
}

/**
 * Streams an object, verifying its hash as it is read. The stream errors at the end when
 * the content does not match, so consumers must treat their output as provisional until
 * the stream ends cleanly (unpack into staging, then rename).
 */
export async function* readObjectVerified(layout: StoreLayout, hash: Hash): AsyncGenerator<Buffer> {
  const path = objectPath(layout, hash);
  const hasher = new StreamHasher();
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hasher.update(chunk as Buffer);
    yield chunk as Buffer;
  }
  const actual = hasher.digest();
  if (actual !== hash) throw corruptObject(path, hash, actual);
}
