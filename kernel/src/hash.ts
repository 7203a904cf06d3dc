/**
 * The one hashing module: blake3. Ours (native/blake3-addon.c, BLAKE3's reference C code) when
 * native/ is built, else @napi-rs/blake-hash, which is also the reference the addon is tested
 * against (test/kernel/hash.test.ts); KARAPACE_HASH_NATIVE=0 forces the package. The addon is a
 * tenth of that package's size, and a command that hashes loads one of them on its first hash
 * (figures: bench/RESULTS.md). The npm `blake3` package falls back to WebAssembly here, an
 * order of magnitude slower.
 */
import type * as BlakeHash from '@napi-rs/blake-hash';
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { nativeAddon } from './native-addon.js';

/** native/blake3-addon.c: the hasher's state is a Buffer of `hasherSize` bytes. */
export interface Blake3Addon {
  readonly hasherSize: number;
  hash(data: string | Uint8Array): string;
  init(state: Buffer): void;
  update(state: Buffer, data: string | Uint8Array): void;
  digest(state: Buffer): string;
  /** Absent from an addon built before it. */
  updateAsync?(state: Buffer, data: Uint8Array, done: (err?: Error) => void): void;
}

export type HashImplementation = 'karapace_blake3' | '@napi-rs/blake-hash';

let addon: Blake3Addon | null | undefined;
let pkg: typeof BlakeHash | undefined;

/** Our addon, unless it is missing or switched off; looked for once. */
function ours(): Blake3Addon | null {
  if (addon === undefined) {
    addon = process.env.KARAPACE_HASH_NATIVE === '0' ? null : nativeAddon<Blake3Addon>('karapace_blake3');
  }
  return addon;
}

// Required (not imported) on first use: a synchronous require of the native module skips
// the ESM loader's CommonJS export scan, which shows up in exec start-up time.
function blake(): typeof BlakeHash {
  if (!pkg) {
    const require = createRequire(import.meta.url);
    // The platform package directly (glibc Linux): the generic loader first probes for musl
    // and a local binary on every start.
    try {
      pkg = require(`@napi-rs/blake-hash-${process.platform}-${process.arch}-gnu`) as typeof BlakeHash;
    } catch {
      pkg = require('@napi-rs/blake-hash') as typeof BlakeHash;
    }
  }
  return pkg;
}

/** Which implementation this process hashes with. */
export function hashImplementation(): HashImplementation {
  return ours() ? 'karapace_blake3' : '@napi-rs/blake-hash';
}

export type Hash = string; // 64 lowercase hex chars

export function hashBytes(data: string | Uint8Array): Hash {
  const a = ours();
  return a ? a.hash(data) : blake().blake3(data).toString('hex');
}

/** Incremental hasher for streams (layers, downloads). */
export class StreamHasher {
  private readonly addon = ours();
  private readonly state: Buffer | undefined;
  private readonly hasher: BlakeHash.Blake3Hasher | undefined;
  private bytes = 0;
  constructor() {
    if (this.addon) {
      this.state = Buffer.allocUnsafe(this.addon.hasherSize);
      this.addon.init(this.state);
    } else {
      this.hasher = new (blake().Blake3Hasher)();
    }
  }
  private pending: Promise<void> | undefined;
  update(chunk: Uint8Array | string): this {
    if (this.pending) throw new Error('StreamHasher: an asynchronous update is still running');
    if (this.addon) this.addon.update(this.state!, chunk);
    else this.hasher!.update(chunk);
    this.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    return this;
  }
  /**
   * update() on libuv's thread pool (the addon; the package hashes here and now), for a
   * chunk the main thread has other work for meanwhile (a pull: the object's hash there, the
   * tar's here). Until it resolves, the chunk must not change and this hasher takes nothing else.
   */
  updateAsync(chunk: Uint8Array): Promise<void> {
    if (this.pending) throw new Error('StreamHasher: an asynchronous update is still running');
    const run = this.addon?.updateAsync;
    // The package, or an addon built before updateAsync: hashed here and now.
    if (!run) {
      this.update(chunk);
      return Promise.resolve();
    }
    this.bytes += chunk.byteLength;
    const state = this.state!;
    this.pending = new Promise<void>((resolve, reject) => {
      run.call(this.addon, state, chunk, (err) => {
        this.pending = undefined;
        if (err) reject(err);
        else resolve();
      });
    });
    return this.pending;
  }
  get size(): number {
    return this.bytes;
  }
  digest(): Hash {
    if (this.pending) throw new Error('StreamHasher: an asynchronous update is still running');
    return this.addon ? this.addon.digest(this.state!) : this.hasher!.digest('hex');
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
