/**
 * A packages layer's files are the store's content objects (issue 18: a file stored once is
 * on disk once). When a build keeps a layer, its tree is stored (packed as a layer tar,
 * ingested: store/tree-layer.ts) and each regular file becomes a hard link of its object:
 *
 * - the object already shares the file's mode, owner and mtime (another layer's file
 *   adopted it): the file is replaced by a link to the object;
 * - the object is the store's alone (one link, as the ingest just wrote it): the file's
 *   inode becomes the object, after its content is hashed again;
 * - the object lies only in a pack (a commit wrote it): the file's inode becomes its loose
 *   object, the same way;
 * - otherwise (other metadata, extended attributes, setuid/setgid bits, hard links inside
 *   the layer, a second file of the layer with the same content, another filesystem) the
 *   file stays a copy.
 *
 * Only read-only layers do this: overlayfs copies a lower file up before any write, so a
 * process in an environment never writes to the shared inode. Upper dirs and restored
 * snapshots never share an inode with an object. A layer file changed on the host in place
 * changes its object, and verify-store reports that object as corrupt.
 */
import { linkSync, lstatSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { hashFile } from '../hash.js';
import { packTree, type PackStats } from '../layers/pack.js';
import { randomHex } from '../random.js';
import { objectPath, type StoreLayout } from './layout.js';
import { locateObject } from './objects.js';
import { storeTarAsTree } from './tree-layer.js';
import { readTree } from './tree-tar.js';

export interface LayerObjects {
  /** The layer's tree object and the blake3 and size of the tar it gives. */
  tree: string;
  tar: { hash: string; size: number };
  /** Files now one inode with their object; files left as copies. */
  linked: number;
  copies: number;
}

/**
 * `path` becomes a hard link of `target`, atomically: a link made in `tempDir` (on the same
 * filesystem; the staging dir for an object, so a crash leaves nothing in objects/), renamed over it.
 */
function replaceWithLink(target: string, path: string, tempDir: string): void {
  const tmp = join(tempDir, `.kp-link-${process.pid}-${randomHex(6)}`);
  linkSync(target, tmp);
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Stores the tree of the layer at `root` and links its files to their objects. Undefined when
 * its tar is not the deterministic packer's (then nothing is linked). The caller owns `root`
 * and nothing mounts it yet.
 */
export async function linkLayerToObjects(layout: StoreLayout, root: string): Promise<LayerObjects | undefined> {
  const stored = await storeTarAsTree(layout, async (consume) => {
    const stats: PackStats = { entries: 0, contentBytes: 0 };
    await consume(packTree(root, { reuseBuffers: true, stats }));
    return stats;
  }, undefined, { pack: false }); // loose: the layer's files become hard links to them
  if (!stored) return undefined;
  const me = process.getuid?.() ?? 0;
  let linked = 0;
  let copies = 0;
  // Two files of one layer with the same content stay two inodes: the layer's own tar (a push
  // packs the directory) must not gain hard links it did not have.
  const taken = new Set<string>();
  for (const e of await readTree(layout, stored.tree)) {
    if (e.type !== 'file' || !e.content) continue;
    if (taken.has(e.content)) {
      copies++;
      continue;
    }
    taken.add(e.content);
    const path = join(root, e.path);
    const object = objectPath(layout, e.content);
    const st = lstatSync(path, { bigint: true, throwIfNoEntry: false });
    const ob = lstatSync(object, { bigint: true, throwIfNoEntry: false });
    if (!st) continue;
    if (!ob) {
      // Only in a pack (a commit's): the file becomes its loose object, as below, if it can.
      const linkable = st.isFile() && st.nlink === 1n && !e.xattrs && (st.mode & 0o6000n) === 0n && (me === 0 || Number(st.uid) === me);
      if (linkable && locateObject(layout, e.content) && (await hashFile(path)).hash === e.content) {
        mkdirSync(dirname(object), { recursive: true });
        replaceWithLink(path, object, layout.staging);
        linked++;
      } else copies++;
      continue;
    }
    if (st.ino === ob.ino && st.dev === ob.dev) {
      linked++;
      continue;
    }
    const linkable = st.isFile() && st.nlink === 1n && !e.xattrs && (st.mode & 0o6000n) === 0n && st.dev === ob.dev && (me === 0 || Number(st.uid) === me);
    if (linkable && ob.mode === st.mode && ob.uid === st.uid && ob.gid === st.gid && ob.mtimeNs === st.mtimeNs) {
      replaceWithLink(object, path, dirname(path));
      linked++;
    } else if (linkable && ob.nlink === 1n && (await hashFile(path)).hash === e.content) {
      // The object takes the file's inode (same bytes, checked just now); the ingest's copy goes.
      replaceWithLink(path, object, layout.staging);
      linked++;
    } else copies++;
  }
  return { tree: stored.tree, tar: { hash: stored.object, size: stored.size }, linked, copies };
}
