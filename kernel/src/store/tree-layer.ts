/**
 * Storing a layer as a tree (issue 18): the packer's tar is ingested as it streams —
 * new file contents become objects, the entries a tree object — and the tar itself is not
 * kept: its blake3 and size stay the layer's identity, and tree-tar.ts gives it back.
 */
import type { TarProducer } from '../layers/layer.js';
import { hashBytes } from '../hash.js';
import { fsyncPaths, syncFilesystem } from './atomic.js';
import { hasObject, putObject } from './objects.js';
import type { StoreLayout } from './layout.js';
import { serializeTree } from './tree.js';
import { ingestTar, NotCanonical, type IngestOptions } from './tree-ingest.js';
import type { ContentCache } from './content-cache.js';

/** More new objects (and their shard directories) than this: one syncfs instead of an fsync each. */
const MAX_SINGLE_SYNCS = 64;

export interface StoredTree {
  tree: string;
  /** blake3 and size of the layer's tar. */
  object: string;
  size: number;
  entries: number;
  /** What this pack added to the store: new content objects and the tree, with their bytes. */
  added: { objects: number; bytes: number };
}

/**
 * Ingests the producer's tar into trees and objects; undefined when the tar is not the
 * deterministic packer's byte for byte (the caller then stores the tar as it is).
 */
export async function storeTarAsTree(layout: StoreLayout, produce: TarProducer, cache?: ContentCache, options?: IngestOptions): Promise<StoredTree | undefined> {
  let refused: NotCanonical | undefined;
  let ingested: Awaited<ReturnType<typeof ingestTar>> | undefined;
  try {
    await produce(async (tar) => {
      try {
        ingested = await ingestTar(layout, tar, cache, options);
      } catch (err) {
        if (err instanceof NotCanonical) refused = err;
        throw err;
      }
    }, { hashContents: !cache || cache.known === 0 });
  } catch (err) {
    // A producer may wrap what its consumer threw (a mapped packer reports its worker's view).
    if (refused) return undefined;
    throw err;
  }
  if (!ingested) throw new Error('the tar producer resolved without handing over a tar');
  // The new contents are durable before the tree that names them: an fsync each when they are
  // few (our own data only), else one syncfs(2) of the store's filesystem instead of thousands.
  if (ingested.written.length > MAX_SINGLE_SYNCS) await syncFilesystem(layout.objects);
  else await fsyncPaths(ingested.written);
  const bytes = serializeTree(ingested.entries);
  const known = await hasObject(layout, hashBytes(bytes));
  const tree = await putObject(layout, bytes);
  const { objects, bytes: added } = ingested.added;
  return {
    tree, object: ingested.tarHash, size: ingested.tarSize, entries: ingested.entries.length,
    added: known ? { objects, bytes: added } : { objects: objects + 1, bytes: added + bytes.length },
  };
}
