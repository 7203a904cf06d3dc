/**
 * diff: what changed in an environment's upper dir — against its last snapshot, or against
 * the base image when it has none. Deletions (overlay whiteouts) are reported as removed.
 * Paths are compared as the environment sees them (base overlaid with the upper dir).
 */
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomHex } from '../random.js';
import { hashFile } from '../hash.js';
import { unpackLayer } from '../layers/layer.js';
import { readXattrs } from '../layers/xattrs.js';
import type { Engine } from './engine.js';
import { findEnv } from './find.js';
import { handleFor } from './handle.js';
import { removeTree } from '../store/remove-tree.js';

export interface DiffResult {
  env_id: string;
  short_id: string;
  /** `snapshot:<index>` or `base`. */
  against: string;
  added: string[];
  modified: string[];
  removed: string[];
}

/** What an upper dir says about a path: a whiteout, or an entry with a signature. */
type UpperEntry = { whiteout: true } | { whiteout: false; st: Stats; abs: string };

function scanUpper(root: string): Map<string, UpperEntry> {
  const out = new Map<string, UpperEntry>();
  const walk = (rel: string) => {
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
      out.set(r, whiteout ? { whiteout: true } : { whiteout: false, st, abs });
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

async function signature(st: Stats, abs: string): Promise<string> {
  const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
  if (st.isDirectory()) return `d ${meta}`;
  if (st.isSymbolicLink()) return `l ${meta} ${readlinkSync(abs)}`;
  if (st.isFile()) return `f ${meta} ${st.size} ${(await hashFile(abs)).hash}`;
  return `o ${meta} ${st.rdev}`;
}

async function viewOf(upper: Map<string, UpperEntry>, base: string, path: string): Promise<string | undefined> {
  const e = upper.get(path);
  if (e) return e.whiteout ? undefined : signature(e.st, e.abs);
  const abs = join(base, path);
  const st = lstatSync(abs, { throwIfNoEntry: false });
  return st ? signature(st, abs) : undefined;
}

export async function diffEnv(engine: Engine, ref: string): Promise<DiffResult> {
  const meta = await findEnv(engine.layout, ref);
  const { paths } = handleFor(engine.layout, meta);
  const current = scanUpper(paths.upper);
  let before = new Map<string, UpperEntry>();
  let against = 'base';
  let tmp: string | undefined;
  try {
    const last = meta.snapshots.at(-1);
    if (last) {
      against = `snapshot:${meta.snapshots.length}`;
      tmp = join(engine.layout.staging, `diff-${Date.now().toString(36)}-${randomHex(4)}`);
      await mkdir(tmp, { recursive: true });
      await unpackLayer(engine.layout, last.layer, tmp, { whiteouts: 'overlay', owners: true });
      before = scanUpper(tmp);
    }
    const result: DiffResult = { env_id: meta.env_id, short_id: meta.short_id, against, added: [], modified: [], removed: [] };
    const all = [...new Set([...current.keys(), ...before.keys()])].sort();
    for (const p of all) {
      const [was, now] = await Promise.all([viewOf(before, meta.base.rootfs, p), viewOf(current, meta.base.rootfs, p)]);
      if (was === now) continue;
      if (was === undefined) result.added.push(p);
      else if (now === undefined) result.removed.push(p);
      else if (!(was.startsWith('d ') && now.startsWith('d ') && was === now)) result.modified.push(p);
    }
    return result;
  } finally {
    if (tmp) await removeTree(tmp);
  }
}
