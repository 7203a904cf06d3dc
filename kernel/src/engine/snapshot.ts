/**
 * commit (upper dir → snapshot layer), snapshots, restore (atomic swap of the upper dir).
 * Each runs under the store lock and the WAL.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomHex } from '../random.js';
import { PluginError, UsageError } from '../errors.js';
import { layerPath, readLayer, unpackLayer } from '../layers/layer.js';
import { fsyncDir } from '../store/atomic.js';
import { crashPoint } from '../store/crash.js';
import { writeMetadata, type EnvMetadata, type SnapshotRef } from '../store/metadata.js';
import { readMetadataText } from '../store/metadata-text.js';
import { WalTransaction } from '../store/wal.js';
import type { LayerRecord } from '../types.js';
import type { Engine } from './engine.js';
import { findEnv } from './find.js';
import { handleFor } from './handle.js';
import { withLock } from './with-lock.js';
import { assertNotRunning, assertWritable } from './state.js';
import { envUnpacker, removeEnvTree } from '../mapped/run.js';

export interface CommitResult {
  env_id: string;
  short_id: string;
  /** The new snapshot; when `unchanged`, the last one (nothing was added). */
  snapshot: SnapshotRef & { index: number };
  layer: LayerRecord;
  /** True when the upper dir is exactly the last snapshot: no new snapshot. */
  unchanged: boolean;
  /** Objects and bytes the commit added to the store (null: the packer did not say). */
  added: { objects: number; bytes: number } | null;
}

export async function commitEnv(engine: Engine, ref: string, options: { message?: string } = {}): Promise<CommitResult> {
  return withLock(engine, async () => {
    const meta = await findEnv(engine.layout, ref);
    await assertNotRunning(engine, meta, 'committed');
    assertWritable(meta, 'committed');
    const handle = handleFor(engine.layout, meta);
    const parent = meta.snapshots.at(-1)?.layer;
    const previous = parent ? await readLayer(engine.layout, parent).catch(() => undefined) : undefined;
    const started = new Date().toISOString();
    const wal = await WalTransaction.begin(engine.layout, 'commit', [
      { kind: 'metadata', env_id: meta.env_id, content: await readMetadataText(engine.layout, meta.env_id) },
    ]);
    try {
      crashPoint('commit:begin');
      await mkdir(handle.paths.upper, { recursive: true });
      // The kernel's packer answers at stage 100 unless a plugin answered first.
      let layer = await engine.kernel.hooks.pack.promise({ dir: handle.paths.upper, kind: 'snapshot', parent, env: handle, ...(options.message ? { message: options.message } : {}) });
      if (!layer) {
        throw new PluginError('KP_PACK_UNANSWERED', 'no plugin packed the upper dir into a layer (the pack hook returned nothing)', {
          hint: 'the kernel\'s packer is a tap applied by createEngine (corePlugin); an embedder building its own Kernel must apply corePlugin too',
          data: { taps: engine.kernel.tapNames('pack') },
        });
      }
      const { added, ...record } = layer;
      layer = record;
      // The same tar as the last snapshot: its tree and contents are there already.
      if (previous && previous.object === layer.object) {
        if (layer.hash !== previous.hash && layer.created_at >= started) await rm(layerPath(engine.layout, layer.hash), { force: true });
        await wal.finish();
        const index = meta.snapshots.length;
        return { env_id: meta.env_id, short_id: meta.short_id, snapshot: { ...meta.snapshots[index - 1]!, index }, layer: previous, unchanged: true, added: { objects: 0, bytes: 0 } };
      }
      layer = await engine.kernel.hooks.commit.promise(layer, { env: handle });
      crashPoint('commit:packed');
      const snapshot: SnapshotRef = { layer: layer.hash, created_at: new Date().toISOString(), ...(options.message ? { message: options.message } : {}) };
      const updated: EnvMetadata = { ...meta, snapshots: [...meta.snapshots, snapshot], updated_at: snapshot.created_at };
      await writeMetadata(engine.layout, updated);
      crashPoint('commit:metadata');
      await wal.finish();
      return { env_id: meta.env_id, short_id: meta.short_id, snapshot: { ...snapshot, index: updated.snapshots.length }, layer, unchanged: false, added: added ?? null };
    } catch (err) {
      await wal.abort();
      throw err;
    }
  });
}

export interface SnapshotInfo extends SnapshotRef {
  index: number;
  size: number | null;
  entries: number | null;
}

export async function listSnapshots(engine: Engine, ref: string): Promise<{ env_id: string; short_id: string; snapshots: SnapshotInfo[] }> {
  const meta = await findEnv(engine.layout, ref);
  const snapshots = await Promise.all(meta.snapshots.map(async (s, i) => {
    const rec = await readLayer(engine.layout, s.layer).catch(() => undefined);
    return { index: i + 1, ...s, size: rec?.size ?? null, entries: rec?.entries ?? null };
  }));
  return { env_id: meta.env_id, short_id: meta.short_id, snapshots };
}

/** A snapshot by 1-based index (as `snapshots` lists them), layer hash or unique prefix. */
export function pickSnapshot(meta: EnvMetadata, selector?: string): SnapshotRef & { index: number } {
  if (meta.snapshots.length === 0) {
    throw new UsageError('KP_NO_SNAPSHOTS', `environment ${meta.short_id} has no snapshots`, { hint: `create one with \`karapace commit ${meta.name ?? meta.short_id}\`` });
  }
  if (!selector) return { ...meta.snapshots.at(-1)!, index: meta.snapshots.length };
  // A short number is an index, never a hash prefix: `9` must not pick a layer whose hash starts with 9.
  const index = /^\d{1,6}$/.test(selector) ? Number(selector) : undefined;
  if (index !== undefined && index >= 1 && index <= meta.snapshots.length) return { ...meta.snapshots[index - 1]!, index };
  const matches = index !== undefined ? [] : meta.snapshots.map((s, i) => ({ ...s, index: i + 1 })).filter((s) => s.layer.startsWith(selector.toLowerCase()));
  const unique = [...new Set(matches.map((m) => m.layer))];
  if (unique.length === 1) return matches.at(-1)!;
  throw new UsageError(unique.length ? 'KP_SNAPSHOT_AMBIGUOUS' : 'KP_SNAPSHOT_NOT_FOUND', `${unique.length ? 'ambiguous' : 'no'} snapshot "${selector}" in environment ${meta.short_id}`, {
    hint: `run \`karapace snapshots ${meta.name ?? meta.short_id}\` and pass an index or more of the layer hash`,
  });
}

export interface RestoreResult {
  env_id: string;
  short_id: string;
  restored: SnapshotRef & { index: number };
  warnings: string[];
}

export async function restoreEnv(engine: Engine, ref: string, selector?: string): Promise<RestoreResult> {
  return withLock(engine, async () => {
    const meta = await findEnv(engine.layout, ref);
    await assertNotRunning(engine, meta, 'restored');
    assertWritable(meta, 'restored');
    const snap = pickSnapshot(meta, selector);
    const env = handleFor(engine.layout, meta);
    const { paths } = env;
    // Files under subordinate ids (full id mapping) are written and removed inside the env's mapping.
    const removeTree = (path: string) => removeEnvTree(engine.kernel, env, path);
    const id = `${Date.now().toString(36)}-${randomHex(4)}`;
    const stage = join(engine.layout.staging, `restore-${id}`);
    const old = join(engine.layout.staging, `restore-${id}-old`);
    const wal = await WalTransaction.begin(engine.layout, 'restore');
    try {
      await wal.record({ kind: 'remove', path: wal.rel(stage) });
      crashPoint('restore:begin');
      const stats = await unpackLayer(engine.layout, snap.layer, join(stage, 'upper'), { whiteouts: 'overlay', untrusted: true }, envUnpacker(engine.kernel, env, engine.layout));
      // Durable before the swap: syncfs(2) of the store's filesystem, one call for the whole tree.
      spawnSync('sync', ['-f', stage], { stdio: 'ignore' });
      crashPoint('restore:unpacked');
      if (existsSync(paths.upper)) {
        await wal.record({ kind: 'rename', from: wal.rel(old), to: wal.rel(paths.upper) });
        await rename(paths.upper, old);
        crashPoint('restore:swapped-out');
      }
      await rename(join(stage, 'upper'), paths.upper);
      await fsyncDir(paths.dir);
      crashPoint('restore:swapped-in');
      // overlayfs's work dir must not carry state from the old upper dir.
      await removeTree(paths.work);
      await mkdir(paths.work, { recursive: true });
      await wal.commitPoint([{ kind: 'remove', path: wal.rel(old) }, { kind: 'remove', path: wal.rel(stage) }]);
      crashPoint('restore:committed');
      await writeMetadata(engine.layout, { ...meta, updated_at: new Date().toISOString() });
      await removeTree(old);
      await removeTree(stage);
      await wal.finish();
      return { env_id: meta.env_id, short_id: meta.short_id, restored: snap, warnings: stats.warnings };
    } catch (err) {
      await wal.abort();
      throw err;
    }
  });
}
