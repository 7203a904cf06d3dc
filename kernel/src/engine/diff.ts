/**
 * diff: what changed in an environment's upper dir — against its last snapshot, or against
 * the base image when it has none. Deletions (overlay whiteouts) are reported as removed.
 * Paths are compared as the environment sees them (base overlaid with the upper dir).
 */
import { lstatSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomHex } from '../random.js';
import { unpackLayer } from '../layers/layer.js';
import { envUnpacker, removeEnvTree, scanEnvTree } from '../mapped/run.js';
import { signature, type IdMap, type TreeSignatures } from './diff-scan.js';
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

async function viewOf(upper: TreeSignatures, base: string, path: string, maps?: { uid: IdMap; gid: IdMap }): Promise<string | undefined> {
  const e = upper.get(path);
  if (e !== undefined) return e ?? undefined;
  const abs = join(base, path);
  const st = lstatSync(abs, { throwIfNoEntry: false });
  // The base is read here; its owners are shown as the env sees them (like the upper dir's).
  return st ? signature(st, abs, maps) : undefined;
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
      await unpackLayer(engine.layout, last.layer, tmp, { whiteouts: 'overlay', owners: true }, envUnpacker(engine.kernel, env));
      before = (await scanEnvTree(engine.kernel, env, tmp)).entries;
    }
    const result: DiffResult = { env_id: meta.env_id, short_id: meta.short_id, against, added: [], modified: [], removed: [] };
    const all = [...new Set([...current.keys(), ...before.keys()])].sort();
    for (const p of all) {
      const [was, now] = await Promise.all([viewOf(before, meta.base.rootfs, p, maps), viewOf(current, meta.base.rootfs, p, maps)]);
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
