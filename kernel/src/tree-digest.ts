/**
 * Content digest of a directory tree (DESIGN §8): blake3 over a canonical walk — path, type,
 * permission bits, owner, size, content hash, link target — in sorted path order. Independent
 * of timestamps and of the order the filesystem returns entries in.
 */
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { hashFileOfSize, StreamHasher } from './hash.js';

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
      const perm = (st.mode & 0o7777).toString(8);
      let line: string;
      if (st.isDirectory()) line = `d ${childRel} ${perm} ${st.uid}:${st.gid}`;
      else if (st.isSymbolicLink()) line = `l ${childRel} ${perm} ${st.uid}:${st.gid} -> ${readlinkSync(abs)}`;
      else if (st.isFile()) {
        const { hash, size } = await hashFileOfSize(abs, st.size);
        bytes += size;
        line = `f ${childRel} ${perm} ${st.uid}:${st.gid} ${size} ${hash}`;
      } else {
        const kind = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : 's';
        line = `${kind} ${childRel} ${perm} ${st.uid}:${st.gid} ${st.rdev}`;
      }
      out.update(line + '\n');
      entries++;
      if (st.isDirectory()) await walk(childRel);
    }
  }
  await walk('');
  return { digest: out.digest(), entries, bytes };
}
