/**
 * Push side of bundle format v3: a layer goes to the remote as its tree object and the
 * content objects the tree names (store objects, uploaded as they are), so the remote is
 * asked about each file's content and gets only what it lacks, across envs and snapshots.
 * The upper dir, which is a live directory, is ingested into the store as a tree first
 * (store/tree-layer.ts, like a commit: only contents the store lacks are written, and
 * files unchanged since the last pack of the dir are not hashed again); the objects it
 * adds are a cache gc removes unless a snapshot takes them.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { hashBytes } from '../hash.js';
import type { PackStats } from '../layers/pack.js';
import { openContentCache } from '../store/content-cache.js';
import { objectPath, type StoreLayout } from '../store/layout.js';
import { getObject, locateObject } from '../store/objects.js';
import { parseTree, serializeTree } from '../store/tree.js';
import { scanTar } from './tree-scan.js';
import { storeTarAsTree } from '../store/tree-layer.js';
import type { BundleBlobRef, BundleTarRef } from './format.js';

/**
 * A live directory's stat fingerprint taken before its tree was made (create.ts
 * fingerprintTree; not racy): its large files are read for upload without hashing them
 * again, and the push checks the fingerprint once more after reading them (`read`). Same
 * stats before and after mean the same bytes, as for the tar cache; the server checks every
 * blob's hash in any case.
 */
export interface DirPrint {
  dir: string;
  fingerprint: string;
  what: string;
  /** Set when a file was read this way: the check after the uploads is then due. */
  read?: boolean;
}

/** Files from this size up are checked by their dir's fingerprint (DirPrint), smaller ones by hashing them as they are read. */
export const PRINT_CHECKED_BYTES = 64 << 10;

/** Where blob bytes come from, as create.ts keeps them. */
type FileSources = Map<string, { kind: 'file'; path: string; size: number; changing?: string; print?: DirPrint; offset?: number } | { kind: 'bytes'; bytes: Buffer; size: number } | { kind: string; size: number }>;

/** Content objects of the bundle's trees, hash → size (the remote is asked about each). */
export type TreeContents = Map<string, number>;

/**
 * Registers tree `tree` and its content objects as upload sources; answers the tree's blob.
 * Undefined when the store lacks the tree (a layer kept as a tar).
 */
export async function addTreeSources(layout: StoreLayout, tree: string, sources: FileSources, contents: TreeContents): Promise<BundleBlobRef | undefined> {
  const bytes = await getObject(layout, tree).catch(() => undefined);
  if (!bytes) return undefined;
  for (const e of parseTree(tree, bytes)) {
    if (!e.content || contents.has(e.content)) continue;
    contents.set(e.content, e.size!);
    if (sources.has(e.content)) continue;
    // A packed object is its range of the pack; one the store lacks fails when it is read, as before.
    const where = locateObject(layout, e.content);
    sources.set(e.content, where?.pack ? { kind: 'file', path: where.path, size: e.size!, offset: where.offset } : { kind: 'file', path: objectPath(layout, e.content), size: e.size! });
  }
  if (!sources.has(tree)) sources.set(tree, { kind: 'bytes', bytes, size: bytes.length });
  return { blob: tree, size: bytes.length };
}

/**
 * Ingests a directory's deterministic tar (`pack`) into the store as a tree; answers the tar
 * reference with its tree, or undefined when the tar is not the packer's byte for byte.
 */
export async function ingestDir(layout: StoreLayout, dir: string, pack: () => AsyncIterable<Buffer>): Promise<BundleTarRef | undefined> {
  const cache = await openContentCache(layout, dir);
  const stored = await storeTarAsTree(layout, async (consume) => {
    await consume(pack());
    return { entries: 0, contentBytes: 0 } satisfies PackStats;
  }, cache);
  if (!stored) return undefined;
  await cache.save();
  const size = locateObject(layout, stored.tree)?.size ?? (await stat(objectPath(layout, stored.tree))).size;
  return { blob: stored.object, size: stored.size, tree: { blob: stored.tree, size } };
}

/**
 * A directory's tree without storing anything (tree-scan.ts), its contents uploaded from
 * the directory's own files — each checked against its hash as it is read, so a file that
 * changed since fails the push (`changing` names the directory) instead of sending other
 * bytes. Only where this process can read every file (not under full subordinate-id
 * mapping). Undefined when the tar is not the packer's byte for byte.
 */
export async function scanDir(
  layout: StoreLayout, dir: string, pack: () => AsyncIterable<Buffer>, sources: FileSources, contents: TreeContents, what: string, print?: DirPrint,
): Promise<BundleTarRef | undefined> {
  const cache = await openContentCache(layout, dir);
  const scanned = await scanTar(pack(), cache);
  if (!scanned) return undefined;
  await cache.save();
  const bytes = serializeTree(scanned.entries);
  return addDirTree(dir, { blob: scanned.tarHash, size: scanned.tarSize }, bytes, sources, contents, what, print);
}

/**
 * Registers a directory's tree (its bytes, e.g. kept from an earlier scan of the unchanged
 * dir) and its contents as the dir's files, each checked against its hash when read — or,
 * with `print`, the large ones by the dir's fingerprint after the uploads.
 */
export function addDirTree(dir: string, tar: BundleBlobRef, bytes: Buffer, sources: FileSources, contents: TreeContents, what: string, print?: DirPrint): BundleTarRef {
  const tree = hashBytes(bytes);
  for (const e of parseTree(tree, bytes)) {
    if (!e.content || contents.has(e.content)) continue;
    contents.set(e.content, e.size!);
    if (!sources.has(e.content)) {
      sources.set(e.content, { kind: 'file', path: join(dir, e.path), size: e.size!, changing: what, ...(print && e.size! >= PRINT_CHECKED_BYTES ? { print } : {}) });
    }
  }
  if (!sources.has(tree)) sources.set(tree, { kind: 'bytes', bytes, size: bytes.length });
  return { ...tar, tree: { blob: tree, size: bytes.length } };
}
