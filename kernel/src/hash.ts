/**
 * The one hashing module. blake3 via @napi-rs/blake-hash (prebuilt native); the npm `blake3`
 * package falls back to WebAssembly here, an order of magnitude slower (figures: bench/RESULTS.md).
 */
import type * as BlakeHash from '@napi-rs/blake-hash';
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createRequire } from 'node:module';

// Required (not imported) on first use: a synchronous require of the native module skips
// the ESM loader's CommonJS export scan, which shows up in exec start-up time.
const require = createRequire(import.meta.url);
let native: typeof BlakeHash | undefined;
function blake(): typeof BlakeHash {
  if (!native) {
    // The platform package directly (glibc Linux): the generic loader first probes for musl
    // and a local binary on every start.
    try {
      native = require(`@napi-rs/blake-hash-${process.platform}-${process.arch}-gnu`) as typeof BlakeHash;
    } catch {
      native = require('@napi-rs/blake-hash') as typeof BlakeHash;
    }
  }
  return native;
}

export type Hash = string; // 64 lowercase hex chars

export function hashBytes(data: string | Uint8Array): Hash {
  return blake().blake3(data).toString('hex');
}

/** Incremental hasher for streams (layers, downloads). */
export class StreamHasher {
  private readonly hasher = new (blake().Blake3Hasher)();
  private bytes = 0;
  update(chunk: Uint8Array | string): this {
    this.hasher.update(chunk);
    this.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    return this;
  }
  get size(): number {
    return this.bytes;
  }
  digest(): Hash {
    return this.hasher.digest('hex');
  }
}

/**
 * Reads in pieces of at most 1 MiB into one buffer of the file's size (a stream would
 * allocate 1 MiB per file: digesting a rootfs of thousands of small files spent most of its
 * time allocating).
 */
export async function hashFile(path: string): Promise<{ hash: Hash; size: number }> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const buf = Buffer.allocUnsafe(Math.min(Math.max(size, 1), 1 << 20));
    const h = new StreamHasher();
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
    return { hash: h.digest(), size: h.size };
  } finally {
    await fh.close();
  }
}

/**
 * A file whose size is known: small ones (most of a rootfs) in one synchronous read — a
 * round trip through the thread pool per file cost more than the hashing — big ones streamed.
 */
export async function hashFileOfSize(path: string, size: number): Promise<{ hash: Hash; size: number }> {
  if (size < 8 << 20) {
    const data = readFileSync(path);
    return { hash: hashBytes(data), size: data.length };
  }
  return hashFile(path);
}

export const HASH_PATTERN = /^[0-9a-f]{64}$/;

export function isHash(value: string): boolean {
  return HASH_PATTERN.test(value);
}
