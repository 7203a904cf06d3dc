/**
 * diff: what changed in an environment's upper dir — against its last snapshot, or against
 * the base image when it has none. Deletions (overlay whiteouts) are reported as removed,
 * and so is everything below a deleted or opaque directory that the base had there.
 * Paths are compared as the environment sees them (base overlaid with the upper dir).
 */
import { lstatSync, readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomHex } from '../random.js';
import { unpackLayer } from '../layers/layer.js';
import { envUnpacker, removeEnvTree, scanEnvTree } from '../mapped/run.js';
import { OPAQUE_SUFFIX, signature, type IdMap, type TreeSignatures } from './diff-scan.js';
import type { Engine } from './engine.js';
import { findEnv } from './find.js';
import { handleFor } from './handle.js';

export interface DiffResult {
  env_id: string;
  short_id: string;
  /** `snapshot:<index>` or `base`. */
  against: string;
  added: string[];
  modified: string[];
  removed: string[];
}

/** Whether an upper-dir entry hides everything below it in the lower layers. */
function hidesBelow(sig: string | null): boolean {
  return sig === null || !sig.startsWith('d ') || sig.endsWith(OPAQUE_SUFFIX);
}

/**
 * How the environment sees `path`: the upper dir's entry if it has one; else the base's,
 * unless an ancestor in the upper dir is a whiteout, an opaque directory or not a directory.
 */
async function viewOf(upper: TreeSignatures, base: string, path: string, realDirs: Map<string, boolean>, maps?: { uid: IdMap; gid: IdMap }): Promise<string | undefined> {
  const e = upper.get(path);
  if (e !== undefined) return e === null ? undefined : e.endsWith(OPAQUE_SUFFIX) ? e.slice(0, -OPAQUE_SUFFIX.length) : e;
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
    const above = upper.get(path.slice(0, i));
    if (above !== undefined && hidesBelow(above)) return undefined;
  }
  if (!realDirsAbove(base, path, realDirs)) return undefined;
  const abs = join(base, path);
  const st = lstatSync(abs, { throwIfNoEntry: false });
  // The base is read here; its owners are shown as the env sees them (like the upper dir's).
  return st ? signature(st, abs, maps) : undefined;
}

/**
 * Whether every ancestor of `path` in the base is a real directory: a path below a
 * symlink (`lib -> /usr/lib`) is not in the base, and must not be looked up on the host.
 */
function realDirsAbove(base: string, path: string, realDirs: Map<string, boolean>): boolean {
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
    const dir = join(base, path.slice(0, i));
    let real = realDirs.get(dir);
    if (real === undefined) {
      real = lstatSync(dir, { throwIfNoEntry: false })?.isDirectory() === true;
      realDirs.set(dir, real);
    }
    if (!real) return false;
  }
  return true;
}

/** Paths in the base below `dir` (not following symlinks): candidates for removal when a view hides them. */
function baseBelow(base: string, dir: string, out: Set<string>, realDirs: Map<string, boolean>): void {
  if (!realDirsAbove(base, dir, realDirs)) return;
  const st = lstatSync(join(base, dir), { throwIfNoEntry: false });
  if (!st?.isDirectory()) return;
  let names: string[];
  try {
    names = readdirSync(join(base, dir));
  } catch {
    return;
  }
  for (const name of names) {
    const rel = `${dir}/${name}`;
    out.add(rel);
    baseBelow(base, rel, out, realDirs);
  }
}

export async function diffEnv(engine: Engine, ref: string): Promise<DiffResult> {
  const meta = await findEnv(engine.layout, ref);
  const env = handleFor(engine.layout, meta);
  // Upper dirs with files under subordinate ids are read inside the env's id mapping.
  const { entries: current, maps } = await scanEnvTree(engine.kernel, env, env.paths.upper);
  let before: TreeSignatures = new Map();
  let against = 'base';
  let tmp: string | undefined;
  try {
    const last = meta.snapshots.at(-1);
    if (last) {
      against = `snapshot:${meta.snapshots.length}`;
      tmp = join(engine.layout.staging, `diff-${Date.now().toString(36)}-${randomHex(4)}`);
      await mkdir(tmp, { recursive: true });
      await unpackLayer(engine.layout, last.layer, tmp, { whiteouts: 'overlay', owners: true, untrusted: true }, envUnpacker(engine.kernel, env));
      before = (await scanEnvTree(engine.kernel, env, tmp)).entries;
    }
    const result: DiffResult = { env_id: meta.env_id, short_id: meta.short_id, against, added: [], modified: [], removed: [] };
    // Below a deleted or opaque directory, each base file the other view still sees is a change too.
    const paths = new Set([...current.keys(), ...before.keys()]);
    const realDirs = new Map<string, boolean>();
    for (const view of [current, before]) {
      for (const [p, sig] of view) if (hidesBelow(sig)) baseBelow(meta.base.rootfs, p, paths, realDirs);
    }
    const all = [...paths].sort();
    for (const p of all) {
      const [was, now] = await Promise.all([viewOf(before, meta.base.rootfs, p, realDirs, maps), viewOf(current, meta.base.rootfs, p, realDirs, maps)]);
      if (was === now) continue;
      if (was === undefined) result.added.push(p);
      else if (now === undefined) result.removed.push(p);
      else if (!(was.startsWith('d ') && now.startsWith('d ') && was === now)) result.modified.push(p);
    }
    return result;
  } finally {
    if (tmp) await removeEnvTree(engine.kernel, env, tmp);
  }
}
