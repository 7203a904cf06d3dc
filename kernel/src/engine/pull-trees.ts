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
import { objectPath, type StoreLayout } from '../store/layout.js';
import { hasObject } from '../store/objects.js';
import type { TreeEntry } from '../store/tree.js';

/** A blob's chunks, checked against its blake3 and size (pull.ts `verified`). */
export type VerifiedFetch = (ref: BundleBlobRef, role: string) => Promise<AsyncIterable<Buffer>>;

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
  const out = new Map<string, number>();
  for (const [h, n] of all) if (!(await hasObject(layout, h))) out.set(h, n);
  return out;
}

/**
 * Downloads `objects` into `dir` (one file per hash), a few at a time, each checked as it
 * arrives; answers hash → staged file. `onFile` is told of each complete file (durability).
 */
export async function downloadObjects(
  fetch: VerifiedFetch, objects: Map<string, number>, dir: string, onFile: (path: string, size: number) => void,
): Promise<Map<string, string>> {
  const staged = new Map<string, string>();
  const queue = [...objects];
  let failed = false;
  const worker = async () => {
    while (queue.length && !failed) {
      const [hash, size] = queue.shift()!;
      const file = join(dir, hash);
      const handle = await open(file, 'wx', 0o444);
      try {
        for await (const c of await fetch({ blob: hash, size }, `content object ${hash.slice(0, 12)}`)) {
          let off = 0;
          while (off < c.length) off += (await handle.write(c, off)).bytesWritten;
        }
      } catch (err) {
        failed = true;
        throw err;
      } finally {
        await handle.close();
      }
      staged.set(hash, file);
      onFile(file, size);
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
 * Where a layer's content objects come from while its tar is rebuilt: staged by this pull,
 * already in the store, or — `streamed`, objects this pull does not keep, each needed once —
 * downloaded straight into the tar (no staging copy to write and read back). Small ones are
 * fetched a few ahead of the tar, in its order, so their round trips overlap.
 */
export function contentSource(
  layout: StoreLayout, staged: Map<string, string>, entries: readonly TreeEntry[], streamed: ReadonlySet<string>, fetch: VerifiedFetch,
): ContentSource {
  const order: { blob: string; size: number }[] = [];
  const seen = new Set<string>();
  for (const e of entries) {
    if (!e.content || !streamed.has(e.content) || seen.has(e.content)) continue;
    seen.add(e.content);
    order.push({ blob: e.content, size: e.size! });
  }
  const ahead = new Map<string, Promise<Buffer[]>>();
  let started = 0;
  let used = 0;
  const fill = () => {
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
  return (hash, size) => {
    const file = staged.get(hash);
    if (file) return file;
    if (!streamed.has(hash)) return objectPath(layout, hash);
    used++;
    fill();
    const pending = ahead.get(hash);
    ahead.delete(hash);
    if (pending) return pending.then((parts) => (async function* () { yield* parts; })());
    return fetch({ blob: hash, size }, `content object ${hash.slice(0, 12)}`);
  };
}
