/**
 * rebuild: build the manifest's environment afresh, and only then retire the one it
 * replaces — never destroy first. All under one store lock: the new environment is built
 * (with its own `build` WAL entry), then a `rebuild` WAL entry moves the old env dir into
 * staging, removes its metadata and gives its name to the new one. Until that entry's point
 * of no return, recovery puts the old environment back and removes the new one if this
 * rebuild created it (the store is as before); after it, recovery finishes the deletion.
 * The old environment's snapshots move to the new one (they are layers of the user's own
 * changes; `restore` applies one over the fresh tree), and the result says how many.
 */
import { existsSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from '../store/atomic.js';
import { crashPoint } from '../store/crash.js';
import { envDir } from '../store/layout.js';
import { readMetadata, removeMetadata, writeMetadata, type EnvMetadata } from '../store/metadata.js';
import { readMetadataText } from '../store/metadata-text.js';
import { removeTree } from '../store/remove-tree.js';
import { WalTransaction } from '../store/wal.js';
import { announceBuilt, buildLocked, manifestPathFrom, prepareBuild, result, writeLockIfChanged, type BuildResult } from './build.js';
import type { Engine } from './engine.js';
import { ensureNameFree } from './find.js';
import { handleFor } from './handle.js';
import { assertNotRunning } from './state.js';
import { withLock } from './with-lock.js';

export interface RebuildOptions {
  /** Path of karapace.toml (or its directory). Default: ./karapace.toml */
  manifest?: string;
  /** Name for the new environment (default: the old one's). */
  name?: string;
  offline?: boolean;
}

export interface RebuildResult extends BuildResult {
  /** env_id of the environment the lock named before, if it existed. */
  previous: string | null;
  /** How many snapshots moved from the old environment to the new one. */
  snapshots_kept: number;
}

export async function rebuildEnv(engine: Engine, options: RebuildOptions = {}): Promise<RebuildResult> {
  const manifestPath = manifestPathFrom(engine.cwd, options.manifest);
  const buildOptions = { manifest: manifestPath, offline: options.offline, force: true };
  const prepared = await prepareBuild(engine, buildOptions);
  await engine.loadBuiltins();
  return withLock(engine, async () => {
    const layout = engine.layout;
    const old = prepared.existingLock ? await readMetadata(layout, prepared.existingLock.env_id) : undefined;
    const name = options.name ?? old?.name;
    // Refused before anything is built: the name belongs to a third environment, or the old one runs.
    if (name) await ensureNameFree(layout, name, old?.env_id);
    if (old) await assertNotRunning(engine, old, 'rebuilt');
    // Plugins remove what they put on the host for the old environment (app exports) while
    // its metadata is there to say what that is; the new one's are exported at the end.
    if (old) await engine.kernel.hooks.destroy.promise(handleFor(layout, old));

    const wal = await WalTransaction.begin(layout, 'rebuild');
    try {
      // An unchanged identity still gets a fresh tree (rebuild discards the upper dir's changes).
      const built = await buildLocked(engine, prepared, buildOptions, { replace: old !== undefined });
      const newId = built.meta.env_id;
      // Undo for the new environment: remove it if this rebuild created it, else put its metadata back.
      if (built.created) await wal.record({ kind: 'remove', path: wal.rel(envDir(layout, newId)) }, { kind: 'metadata', env_id: newId, content: null });
      else await wal.record({ kind: 'metadata', env_id: newId, content: await readMetadataText(layout, newId) });
      crashPoint('rebuild:built');

      let meta: EnvMetadata = built.meta;
      let trash: string | undefined;
      const replaced = old && old.env_id !== newId ? old : undefined;
      if (replaced) {
        const dir = envDir(layout, replaced.env_id);
        trash = join(layout.staging, `rebuild-${replaced.env_id}-${Date.now()}`);
        if (existsSync(dir)) {
          await wal.record({ kind: 'rename', from: wal.rel(trash), to: wal.rel(dir) });
          await rename(dir, trash);
          await fsyncDir(layout.envs);
          crashPoint('rebuild:old-moved');
        }
        await wal.record({ kind: 'metadata', env_id: replaced.env_id, content: await readMetadataText(layout, replaced.env_id) });
        await removeMetadata(layout, replaced.env_id);
        await fsyncDir(layout.metadata);
        crashPoint('rebuild:old-removed');
      }
      const kept = old?.snapshots ?? [];
      if ((name && name !== meta.name) || kept.length) {
        if (name && name !== meta.name) await ensureNameFree(layout, name, newId);
        meta = { ...meta, ...(name ? { name } : {}), snapshots: [...kept, ...meta.snapshots.filter((s) => !kept.some((k) => k.layer === s.layer))], updated_at: new Date().toISOString() };
        await writeMetadata(layout, meta);
      }
      await wal.commitPoint(trash ? [{ kind: 'remove', path: wal.rel(trash) }] : []);
      crashPoint('rebuild:committed');

      await writeLockIfChanged(prepared, built.lock);
      if (trash) await removeTree(trash);
      await wal.finish();
      const extensions = await announceBuilt(engine, prepared.manifest, newId);
      return { ...result(meta, prepared.lockPath, false), previous: old?.env_id ?? null, snapshots_kept: kept.length, ...(Object.keys(extensions).length ? { extensions } : {}) };
    } catch (err) {
      await wal.abort();
      // Rolled back: the old environment is in place again, and so is what plugins put on the host for it.
      if (old && (await readMetadata(layout, old.env_id).catch(() => undefined))) await announceBuilt(engine, old.manifest, old.env_id);
      throw err;
    }
  });
}
