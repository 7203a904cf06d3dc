/**
 * Content digest of a directory tree (DESIGN §8): blake3 over a canonical walk — path, type,
 * permission bits, owner, size, content hash, link target — in sorted path order. Independent
 * of timestamps and of the order the filesystem returns entries in.
 */
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { hashFileOfSize, StreamHasher } from './hash.js';

/** The kinds of a digest line: directory, regular file, symlink, char/block device, fifo, socket. */
export type TreeLineKind = 'd' | 'f' | 'l' | 'c' | 'b' | 'p' | 's';

/**
 * One line of a tree digest, newline included — the one definition of the format, which
 * digestTree, CanonicalTree (archive entries) and image-sources' digestRootfs all write
 * through (native/untar-digest.c writes the same bytes; golden vectors hold it to them):
 *   d <path> <perm> <uid>:<gid>
 *   f <path> <perm> <uid>:<gid> <size> <blake3>
 *   l <path> <perm> <uid>:<gid> -> <target>
 *   c|b|p|s <path> <perm> <uid>:<gid> <rdev>
 * `perm`: the permission bits (mode & 07777), written in octal. `detail`: a file's size and
 * `hash`, a symlink's target, a device's rdev.
 */
export function treeDigestLine(kind: TreeLineKind, path: string, perm: number, uid: number, gid: number, detail?: number | string, hash?: string): string {
  const head = `${kind} ${path} ${perm.toString(8)} ${uid}:${gid}`;
  if (kind === 'd') return `${head}\n`;
  if (kind === 'f') return `${head} ${detail} ${hash}\n`;
  if (kind === 'l') return `${head} -> ${detail}\n`;
  return `${head} ${detail}\n`;
}

export interface TreeDigest {
  digest: string;
  entries: number;
  bytes: number;
}

export async function digestTree(root: string): Promise<TreeDigest> {
  const out = new StreamHasher();
  let entries = 0;
  let bytes = 0;
  async function walk(rel: string): Promise<void> {
    // Synchronous calls: a thread-pool round trip per entry cost more than the work itself.
    const names = readdirSync(join(root, rel)).sort();
    for (const name of names) {
      const childRel = rel ? `${rel}/${name}` : name;
      const abs = join(root, childRel);
      const st = lstatSync(abs);
      const perm = st.mode & 0o7777;
      if (st.isDirectory()) out.update(treeDigestLine('d', childRel, perm, st.uid, st.gid));
      else if (st.isSymbolicLink()) out.update(treeDigestLine('l', childRel, perm, st.uid, st.gid, readlinkSync(abs)));
      else if (st.isFile()) {
        const { hash, size } = await hashFileOfSize(abs, st.size);
        bytes += size;
        out.update(treeDigestLine('f', childRel, perm, st.uid, st.gid, size, hash));
      } else {
        const kind = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : 's';
        out.update(treeDigestLine(kind, childRel, perm, st.uid, st.gid, st.rdev));
      }
      entries++;
      if (st.isDirectory()) await walk(childRel);
    }
  }
  await walk('');
  return { digest: out.digest(), entries, bytes };
}
