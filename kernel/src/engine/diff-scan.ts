/**
 * Signatures of the entries of an overlay upper dir, for diff: type, mode, owner, and the
 * content hash or link target. Runs in-process or, for environments whose files belong to
 * subordinate ids, inside their id mapping (the `mapped` hook's `scan`), which is also
 * where the owners are the ones the environment sees.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { hashFile } from '../hash.js';
import { readXattrs } from '../layers/xattrs.js';

/**
 * Relative path → signature; `null` marks a deletion (an overlay whiteout). An opaque
 * directory's signature ends in OPAQUE_SUFFIX.
 */
export type TreeSignatures = Map<string, string | null>;

export const OPAQUE_SUFFIX = ' opaque';

/** Lines of /proc/PID/uid_map: inside, outside, count. */
export type IdMap = [number, number, number][];

export function readIdMap(file: string): IdMap {
  return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => l.trim().split(/\s+/).map(Number) as [number, number, number]);
}

/** A host id as seen inside a mapping (65534, the overflow id, when unmapped). */
export function insideId(map: IdMap | undefined, host: number): number {
  if (!map) return host;
  for (const [inside, outside, count] of map) if (host >= outside && host < outside + count) return inside + host - outside;
  return 65534;
}

/** Signature of an entry; with maps, host ids are shown as the mapping's inside ids. */
export async function signature(st: Stats, abs: string, maps?: { uid: IdMap; gid: IdMap }): Promise<string> {
  const meta = `${(st.mode & 0o7777).toString(8)} ${insideId(maps?.uid, st.uid)}:${insideId(maps?.gid, st.gid)}`;
  if (st.isDirectory()) return `d ${meta}`;
  if (st.isSymbolicLink()) return `l ${meta} ${readlinkSync(abs)}`;
  if (st.isFile()) return `f ${meta} ${st.size} ${(await hashFile(abs)).hash}`;
  return `o ${meta} ${st.rdev}`;
}

export async function scanSignatures(root: string): Promise<TreeSignatures> {
  const out: TreeSignatures = new Map();
  const walk = async (rel: string) => {
    let names: string[];
    try {
      names = readdirSync(rel ? join(root, rel) : root);
    } catch {
      return;
    }
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = join(root, r);
      const st = lstatSync(abs);
      const whiteout = (st.isCharacterDevice() && st.rdev === 0) || (st.isFile() && st.size === 0 && readXattrs(abs).whiteout);
      // An opaque directory hides what lies below it in the lower layers: diff must know.
      const opaque = st.isDirectory() && readXattrs(abs).opaque;
      out.set(r, whiteout ? null : `${await signature(st, abs)}${opaque ? OPAQUE_SUFFIX : ''}`);
      if (st.isDirectory()) await walk(r);
    }
  };
  await walk('');
  return out;
}
