/**
 * HTTP(S) downloads into the image cache: streamed to a `.partial` file, hashed (sha256 and
 * blake3) on the way, resumed with a Range request when a partial file is left over, and
 * renamed to the final name only when complete and verified.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { RuntimeFailure, StreamHasher, type Kernel } from '@karapace/kernel';
import { startTask } from './progress.js';

export interface Digests {
  sha256: string;
  blake3: string;
  size: number;
}

export interface ExpectedDigest {
  algorithm: 'sha256' | 'blake3';
  hex: string;
}

export function offlineError(what: string): RuntimeFailure {
  return new RuntimeFailure('KP_OFFLINE_DOWNLOAD', `--offline was given but ${what} must be downloaded`, {
    hint: 'run the build once without --offline to fill the image cache, or use a local image (a path or a cached reference)',
    data: { what },
  });
}

export function httpError(url: string, detail: string, cause?: unknown): RuntimeFailure {
  return new RuntimeFailure('KP_DOWNLOAD_FAILED', `downloading ${url} failed: ${detail}`, {
    hint: 'check the URL and your network (or the configured image server / mirror), then retry; a partial download is resumed',
    cause,
    data: { url },
  });
}

export async function fetchOk(url: string, init: RequestInit = {}): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow', ...init });
  } catch (err) {
    throw httpError(url, (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message, err);
  }
  return res;
}

export async function fetchJson<T>(url: string, init: RequestInit = {}): Promise<T> {
  const res = await fetchOk(url, init);
  if (!res.ok) throw httpError(url, `HTTP ${res.status} ${res.statusText}`);
  try {
    return (await res.json()) as T;
  } catch (err) {
    throw httpError(url, 'the response is not valid JSON', err);
  }
}

async function hashExisting(path: string, sha: ReturnType<typeof createHash>, b3: StreamHasher): Promise<void> {
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    sha.update(chunk as Buffer);
    b3.update(chunk as Buffer);
  }
}

export function checkDigest(what: string, got: Digests, expected: ExpectedDigest | undefined): void {
  if (!expected) return;
  const actual = got[expected.algorithm];
  if (actual !== expected.hex) {
    throw new RuntimeFailure('KP_IMAGE_DIGEST_MISMATCH', `${what} has ${expected.algorithm} ${actual}, expected ${expected.hex}`, {
      hint: 'the file changed or was tampered with; check the source, or update the pinned digest with `karapace pin` if the change is expected',
      data: { algorithm: expected.algorithm, expected: expected.hex, actual },
    });
  }
}

/**
 * Downloads `url` to `dest` (atomically) and returns its digests. A left-over
 * `dest.partial` is resumed when the server honours Range requests.
 */
export async function download(
  url: string, dest: string,
  options: { kernel?: Kernel; label?: string; headers?: Record<string, string>; expected?: ExpectedDigest } = {},
): Promise<Digests> {
  await mkdir(dirname(dest), { recursive: true });
  const partial = `${dest}.partial`;
  const have = await stat(partial).then((s) => s.size, () => 0);
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (have > 0) headers.Range = `bytes=${have}-`;
  const res = await fetchOk(url, { headers });
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    if (res.status === 416 && have > 0) {
      // The partial file is already complete (or bigger than the file): start over.
      await rm(partial, { force: true });
      return download(url, dest, options);
    }
    throw httpError(url, `HTTP ${res.status} ${res.statusText}`);
  }
  const resumed = res.status === 206 && have > 0;
  const sha = createHash('sha256');
  const b3 = new StreamHasher();
  if (resumed) await hashExisting(partial, sha, b3);
  const length = Number(res.headers.get('content-length') ?? NaN);
  const total = Number.isFinite(length) ? length + (resumed ? have : 0) : undefined;
  const task = startTask(options.kernel, options.label ?? `downloading ${url}`, total, 'bytes');
  const fh = await open(partial, resumed ? 'a' : 'w');
  let done = resumed ? have : 0;
  try {
    for await (const chunk of Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>)) {
      const buf = chunk as Buffer;
      sha.update(buf);
      b3.update(buf);
      await fh.write(buf);
      done += buf.length;
      task.advance(done, total);
    }
    await fh.sync();
  } catch (err) {
    task.end(false, (err as Error).message);
    throw err instanceof RuntimeFailure ? err : httpError(url, `the connection broke after ${done} bytes (run again to resume)`, err);
  } finally {
    await fh.close();
  }
  if (total !== undefined && done !== total) {
    task.end(false, 'incomplete');
    throw httpError(url, `received ${done} of ${total} bytes (run again to resume)`);
  }
  const digests: Digests = { sha256: sha.digest('hex'), blake3: b3.digest(), size: done };
  try {
    checkDigest(url, digests, options.expected);
  } catch (err) {
    await rm(partial, { force: true });
    task.end(false, (err as Error).message);
    throw err;
  }
  await rename(partial, dest);
  task.end(true);
  return digests;
}

/** sha256 + blake3 + size of a local file. */
export async function digestFile(path: string): Promise<Digests> {
  const sha = createHash('sha256');
  const b3 = new StreamHasher();
  await hashExisting(path, sha, b3);
  return { sha256: sha.digest('hex'), blake3: b3.digest(), size: b3.size };
}
