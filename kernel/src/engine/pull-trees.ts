/**
 * Pull side of bundle format v3 (layers as trees and content objects): the trees are fetched
 * and checked (bundle/tree-objects.ts), the store is asked which content objects it lacks,
 * and only those are downloaded into staging, each checked against its blake3 and size as it
 * arrives. pull.ts then rebuilds each layer's tar from its tree and checks it against the
 * blake3 the bundle names before anything becomes visible.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { checkedTree, type ContentSource } from '../bundle/tree-objects.js';
import type { BundleBlobRef } from '../bundle/format.js';
import { integrityError } from '../bundle/format.js';
import { hashBytes } from '../hash.js';
import { objectPath, type StoreLayout } from '../store/layout.js';
import { lackedObjects, locateObject, readObjectVerified } from '../store/objects.js';
import type { TreeEntry } from '../store/tree.js';

/** A blob's chunks, checked against its blake3 and size (pull.ts `verified`). */
export type VerifiedFetch = (ref: BundleBlobRef, role: string) => Promise<AsyncIterable<Buffer>>;
/** Many small blobs in one request, each checked against its blake3 and size. */
export type VerifiedBatch = (refs: BundleBlobRef[]) => Promise<Buffer[]>;

/** Objects up to this size are fetched in batches (PullSource.openBatch) of at most BATCH_COUNT or about BATCH_BYTES. */
const BATCH_OBJECT_BYTES = 256 << 10;
const BATCH_COUNT = 2048;
const BATCH_BYTES = 4 << 20;

/** Checks every blob of a batch as it arrives: its size, then its blake3. */
export function checkedBatch(open: (refs: BundleBlobRef[]) => Promise<Buffer[]>, onBytes: (n: number) => void): VerifiedBatch {
  return async (refs) => {
    const got = await open(refs);
    if (got.length !== refs.length) throw integrityError(`a batch of ${refs.length} content objects`, `${refs.length} blobs`, `${got.length}`);
    for (const [i, ref] of refs.entries()) {
      const bytes = got[i]!;
      onBytes(bytes.length);
      const what = `content object ${ref.blob.slice(0, 12)}`;
      if (bytes.length !== ref.size) throw integrityError(`${what} size`, `${ref.size} bytes`, `${bytes.length} bytes`);
      const actual = hashBytes(bytes);
      if (actual !== ref.blob) throw integrityError(what, ref.blob, actual);
    }
    return got;
  };
}

/** Splits refs (in order) into batches of small objects and single large ones. */
function batches(refs: BundleBlobRef[], batch: boolean): BundleBlobRef[][] {
  const out: BundleBlobRef[][] = [];
  let group: BundleBlobRef[] = [];
  let bytes = 0;
  for (const r of refs) {
    if (!batch || r.size > BATCH_OBJECT_BYTES) {
      out.push([r]);
      continue;
    }
    group.push(r);
    bytes += r.size;
    if (group.length >= BATCH_COUNT || bytes >= BATCH_BYTES) {
      out.push(group);
      group = [];
      bytes = 0;
    }
  }
  if (group.length) out.push(group);
  return out;
}

export interface FetchedTree {
  ref: BundleBlobRef;
  bytes: Buffer;
  entries: TreeEntry[];
  contents: Map<string, number>;
}

const OBJECT_PARALLEL = 8;

async function whole(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** Fetches and checks a tree blob. */
export async function fetchTree(fetch: VerifiedFetch, ref: BundleBlobRef, what: string): Promise<FetchedTree> {
  const bytes = await whole(await fetch(ref, `${what} tree`));
  return { ref, bytes, ...checkedTree(ref, bytes, what) };
}

/** Of these content objects, the ones the store lacks. */
export async function lackingObjects(layout: StoreLayout, trees: readonly FetchedTree[]): Promise<Map<string, number>> {
  const all = new Map<string, number>();
  for (const t of trees) for (const [h, n] of t.contents) all.set(h, n);
  return new Map(lackedObjects(layout, [...all.keys()]).map((h) => [h, all.get(h)!]));
}

/**
 * Downloads `objects` into `dir` (one file per hash), a few at a time, each checked as it
 * arrives; answers hash → staged file. `onFile` is told of each complete file (durability).
 */
export async function downloadObjects(
  fetch: VerifiedFetch, batch: VerifiedBatch | undefined, objects: Map<string, number>, dir: string, onFile: (path: string, size: number) => void,
): Promise<Map<string, string>> {
  const staged = new Map<string, string>();
  const queue = batches([...objects].map(([blob, size]) => ({ blob, size })), batch !== undefined);
  let failed = false;
  const write = async (ref: BundleBlobRef, chunks: AsyncIterable<Buffer> | Buffer[]) => {
    const file = join(dir, ref.blob);
    const handle = await open(file, 'wx', 0o444);
    try {
      for await (const c of chunks) {
        let off = 0;
        while (off < c.length) off += (await handle.write(c, off)).bytesWritten;
      }
    } finally {
      await handle.close();
    }
    staged.set(ref.blob, file);
    onFile(file, ref.size);
  };
  const worker = async () => {
    while (queue.length && !failed) {
      const group = queue.shift()!;
      try {
        if (group.length === 1 && (!batch || group[0]!.size > BATCH_OBJECT_BYTES)) {
          await write(group[0]!, await fetch(group[0]!, `content object ${group[0]!.blob.slice(0, 12)}`));
        } else {
          const got = await batch!(group);
          for (const [i, ref] of group.entries()) await write(ref, [got[i]!]);
        }
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  // Every worker stops before the pull cleans up staging: none may write into it afterwards.
  const results = await Promise.allSettled(Array.from({ length: Math.min(OBJECT_PARALLEL, queue.length) }, worker));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
  return staged;
}

/** Objects fetched whole into memory ahead of the tar that needs them; larger ones stream when reached. */
const SMALL_OBJECT_BYTES = 1 << 20;
const AHEAD = 16;

/**
 * A large object's download started before the tar reaches it: its checked chunks, and how
 * to drop the connection when the pull ends without reading it.
 */
export interface EarlyFetch {
  chunks: Promise<AsyncIterable<Buffer>>;
  destroy(): void;
}
export type OpenEarly = (ref: BundleBlobRef) => EarlyFetch;

/** A ContentSource that may hold started downloads: `dispose` drops the ones not taken. */
export type DisposableContentSource = ContentSource & { dispose(): void };

/**
 * Where a layer's content objects come from while its tar is rebuilt: staged by this pull,
 * already in the store, or — `streamed`, objects this pull does not keep, each needed once —
 * downloaded straight into the tar (no staging copy to write and read back). Small ones are
 * fetched a few ahead of the tar, in its order, so their round trips overlap.
 */
export function contentSource(
  layout: StoreLayout, staged: Map<string, string>, entries: readonly TreeEntry[], streamed: ReadonlySet<string>, fetch: VerifiedFetch, batch?: VerifiedBatch, openEarly?: OpenEarly,
): DisposableContentSource {
  const order: { blob: string; size: number }[] = [];
  const seen = new Set<string>();
  for (const e of entries) {
    if (!e.content || !streamed.has(e.content) || seen.has(e.content)) continue;
    seen.add(e.content);
    order.push({ blob: e.content, size: e.size! });
  }
  // Objects neither batched nor fetched whole ahead: the next one's download starts while
  // the tar takes this one, so its request's round trip overlaps the transfer (one at a
  // time: its connection buffers what arrives until the tar gets there).
  const large = order.filter((r) => r.size > (batch ? BATCH_OBJECT_BYTES : SMALL_OBJECT_BYTES));
  const largeAt = new Map(large.map((r, i) => [r.blob, i]));
  const early = new Map<string, EarlyFetch>();
  const startAfter = (hash: string) => {
    const next = large[largeAt.get(hash)! + 1];
    if (!openEarly || !next || early.has(next.blob)) return;
    const started = openEarly(next);
    // Awaited when the tar reaches it; a failure no one waits for (the pull failed first) stays quiet.
    started.chunks.catch(() => undefined);
    early.set(next.blob, started);
  };
  const ahead = new Map<string, Promise<Buffer[]>>();
  let started = 0;
  let used = 0;
  const fill = () => {
    if (batch) {
      // Two batches of the small objects next in the tar's order in flight.
      while (started < order.length && ahead.size < 2 * BATCH_COUNT && started < used + 2 * BATCH_COUNT) {
        const group: BundleBlobRef[] = [];
        let bytes = 0;
        for (; started < order.length && group.length < BATCH_COUNT && bytes < BATCH_BYTES; started++) {
          const ref = order[started]!;
          if (ref.size > BATCH_OBJECT_BYTES) continue;
          group.push(ref);
          bytes += ref.size;
        }
        if (!group.length) continue;
        const p = batch(group);
        p.catch(() => undefined);
        for (const [i, ref] of group.entries()) {
          const one = p.then((got) => [got[i]!]);
          one.catch(() => undefined);
          ahead.set(ref.blob, one);
        }
      }
      return;
    }
    for (; started < order.length && started < used + AHEAD; started++) {
      const ref = order[started]!;
      if (ref.size > SMALL_OBJECT_BYTES) continue;
      const p = (async () => {
        const parts: Buffer[] = [];
        for await (const c of await fetch(ref, `content object ${ref.blob.slice(0, 12)}`)) parts.push(Buffer.from(c));
        return parts;
      })();
      // Awaited when the tar reaches it; a failure no one waits for (the pull failed first) stays quiet.
      p.catch(() => undefined);
      ahead.set(ref.blob, p);
    }
  };
  const source = (hash: string, size: number) => {
    const file = staged.get(hash);
    if (file) return file;
    if (!streamed.has(hash)) {
      // A packed object streams from its pack, checked against its hash as it is read.
      const where = locateObject(layout, hash);
      return where?.pack ? Promise.resolve(readObjectVerified(layout, hash)) : objectPath(layout, hash);
    }
    used++;
    fill();
    const pending = ahead.get(hash);
    ahead.delete(hash);
    if (pending) return pending.then((parts) => (async function* () { yield* parts; })());
    if (largeAt.has(hash)) {
      const started = early.get(hash);
      early.delete(hash);
      startAfter(hash);
      if (started) return started.chunks;
    }
    return fetch({ blob: hash, size }, `content object ${hash.slice(0, 12)}`);
  };
  return Object.assign(source, {
    dispose: () => {
      for (const e of early.values()) e.destroy();
      early.clear();
    },
  });
}
