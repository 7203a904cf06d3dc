/**
 * The one hashing module. blake3 via @napi-rs/blake-hash (prebuilt native, several GB/s);
 * the npm `blake3` package falls back to WebAssembly here at ~180 MB/s.
 */
import { Blake3Hasher, blake3 } from '@napi-rs/blake-hash';
import { createReadStream } from 'node:fs';

export type Hash = string; // 64 lowercase hex chars

export function hashBytes(data: string | Uint8Array): Hash {
  return blake3(data).toString('hex');
}

/** Incremental hasher for streams (layers, downloads). */
export class StreamHasher {
  private readonly hasher = new Blake3Hasher();
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

export async function hashFile(path: string): Promise<{ hash: Hash; size: number }> {
  const h = new StreamHasher();
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return { hash: h.digest(), size: h.size };
}

export const HASH_PATTERN = /^[0-9a-f]{64}$/;

export function isHash(value: string): boolean {
  return HASH_PATTERN.test(value);
}
