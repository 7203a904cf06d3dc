/**
 * diff: what changed in an environment's upper dir — against its last snapshot, or against
 * the layers it runs on when it has none. Deletions (overlay whiteouts) are reported as
 * removed, and so is everything below a deleted or opaque directory that a lower layer had
 * there. Paths are compared as the environment sees them (base, then packages layer, then
 * the upper dir, overlaid).
 */
import { lstatSync, readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomHex } from '../random.js';
import { unpackLayer } from '../layers/layer.js';
import { envUnpacker, removeEnvTree, scanEnvTree } from '../mapped/run.js';
import { readXattrs } from '../layers/xattrs.js';
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
 * What a read-only layer holds at a directory on the way down to a path: nothing, a
 * directory (opaque: it hides the layers below), or something that hides the path in this
 * layer and all below (a whiteout, a file, a symlink: `lib -> /usr/lib` in a layer does not
 * make `lib/x` a path of it, and must not be looked up on the host).
 */
type DirState = 'missing' | 'dir' | 'opaque' | 'hides';

/** The env's read-only layers, topmost first (packages layer, base); only layers above the base hold overlay markers. */
class LowerView {
  private readonly states = new Map<string, DirState>();
  constructor(readonly layers: string[], private readonly maps?: { uid: IdMap; gid: IdMap }) {}

  private marked(i: number): boolean {
    return i < this.layers.length - 1;
  }

  private dirState(i: number, dir: string): DirState {
    const abs = join(this.layers[i]!, dir);
    let state = this.states.get(abs);
    if (state === undefined) {
      const st = lstatSync(abs, { throwIfNoEntry: false });
      state = !st ? 'missing' : !st.isDirectory() ? 'hides' : this.marked(i) && readXattrs(abs).opaque ? 'opaque' : 'dir';
      this.states.set(abs, state);
    }
    return state;
  }

  /** Whether `path` lies in layer i (its ancestors are directories there), and whether the layers below still count. */
  private reach(i: number, path: string): { here: boolean; below: boolean } {
    let below = true;
    for (let at = path.indexOf('/'); at !== -1; at = path.indexOf('/', at + 1)) {
      const state = this.dirState(i, path.slice(0, at));
      if (state === 'missing') return { here: false, below };
      if (state === 'hides') return { here: false, below: false };
      if (state === 'opaque') below = false;
    }
    return { here: true, below };
  }

  /** How the read-only layers show `path` (undefined: not there). */
  async view(path: string): Promise<string | undefined> {
    for (let i = 0; i < this.layers.length; i++) {
      const { here, below } = this.reach(i, path);
      if (here) {
        const abs = join(this.layers[i]!, path);
        const st = lstatSync(abs, { throwIfNoEntry: false });
        if (st) {
          if (this.marked(i) && ((st.isCharacterDevice() && st.rdev === 0) || (st.isFile() && st.size === 0 && readXattrs(abs).whiteout))) return undefined;
          // Read on the host; owners are shown as the env sees them (like the upper dir's).
          return signature(st, abs, this.maps);
        }
      }
      if (!below) return undefined;
    }
    return undefined;
  }

  /** Paths below `dir` in any layer (not following symlinks): candidates for removal when a view hides them. */
  below(dir: string, out: Set<string>): void {
    for (let i = 0; i < this.layers.length; i++) this.collect(i, dir, out);
  }

  private collect(i: number, dir: string, out: Set<string>): void {
    if (!this.reach(i, dir).here) return;
    const abs = join(this.layers[i]!, dir);
    if (!lstatSync(abs, { throwIfNoEntry: false })?.isDirectory()) return;
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch {
      return;
    }
    for (const name of names) {
      const rel = `${dir}/${name}`;
      out.add(rel);
      this.collect(i, rel, out);
    }
  }
}

/**
 * How the environment sees `path`: the upper dir's entry if it has one; else the read-only
 * layers', unless an ancestor in the upper dir is a whiteout, an opaque directory or not a directory.
 */
async function viewOf(upper: TreeSignatures, lower: LowerView, path: string): Promise<string | undefined> {
  const e = upper.get(path);
  if (e !== undefined) return e === null ? undefined : e.endsWith(OPAQUE_SUFFIX) ? e.slice(0, -OPAQUE_SUFFIX.length) : e;
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
    const above = upper.get(path.slice(0, i));
    if (above !== undefined && hidesBelow(above)) return undefined;
  }
  return lower.view(path);
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
      await unpackLayer(engine.layout, last.layer, tmp, { whiteouts: 'overlay', owners: true, untrusted: true }, envUnpacker(engine.kernel, env, engine.layout));
      before = (await scanEnvTree(engine.kernel, env, tmp)).entries;
    }
    const result: DiffResult = { env_id: meta.env_id, short_id: meta.short_id, against, added: [], modified: [], removed: [] };
    // Below a deleted or opaque directory, each base file the other view still sees is a change too.
    const paths = new Set([...current.keys(), ...before.keys()]);
    const lower = new LowerView(env.lowerDirs, maps);
    for (const view of [current, before]) {
      for (const [p, sig] of view) if (hidesBelow(sig)) lower.below(p, paths);
    }
    const all = [...paths].sort();
    for (const p of all) {
      const [was, now] = await Promise.all([viewOf(before, lower, p), viewOf(current, lower, p)]);
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
