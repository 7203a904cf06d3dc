/**
 * `snapshots rm ENV SNAPSHOT` (issue 18): drops a snapshot from the environment and frees
 * what only it used — its layer record, its tree and the content objects no other live
 * layer references (store/references.ts, the rule gc uses). The metadata change is the
 * point of no return; each deletion after it is one unlink (or a pack rewritten without the
 * objects, store/pack-prune.ts), and anything a crash leaves behind is unreferenced, for the
 * next gc.
 */
import { rm, stat } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { layerPath, readLayer } from '../layers/layer.js';
import { crashPoint } from '../store/crash.js';
import { objectPath } from '../store/layout.js';
import { dropFromPack, packedObjects } from '../store/pack-prune.js';
import type { Pack } from '../store/packs.js';
import { listMetadata, writeMetadata, type SnapshotRef } from '../store/metadata.js';
import { readMetadataText } from '../store/metadata-text.js';
import { addPackagesLayerReferences, layerObjects, liveLayers, livePackagesLayers, objectReferences } from '../store/references.js';
import { WalTransaction } from '../store/wal.js';
import type { Engine } from './engine.js';
import { findEnv } from './find.js';
import { pickSnapshot } from './snapshot.js';
import { withLock } from './with-lock.js';

export interface RemoveSnapshotResult {
  env_id: string;
  short_id: string;
  removed: SnapshotRef & { index: number };
  /** What was deleted from the store; `pending` says why nothing was (left for gc). */
  freed: { layer: boolean; objects: number; bytes: number; pending?: string };
}

export async function removeSnapshot(engine: Engine, ref: string, selector: string): Promise<RemoveSnapshotResult> {
  if (!selector) {
    throw new UsageError('KP_SNAPSHOT_REQUIRED', 'name the snapshot to remove', { hint: 'pass its index or layer hash prefix, as `karapace snapshots ENV` lists them' });
  }
  return withLock(engine, async () => {
    const layout = engine.layout;
    const meta = await findEnv(layout, ref);
    const snap = pickSnapshot(meta, selector);
    const wal = await WalTransaction.begin(layout, 'snapshot-rm', [
      { kind: 'metadata', env_id: meta.env_id, content: await readMetadataText(layout, meta.env_id) },
    ]);
    try {
      const snapshots = meta.snapshots.filter((_, i) => i !== snap.index - 1);
      await writeMetadata(layout, { ...meta, snapshots, updated_at: new Date().toISOString() });
      await wal.commitPoint([]);
      crashPoint('snapshot-rm:metadata');
      const freed = await freeLayer(engine, snap.layer);
      await wal.finish();
      return { env_id: meta.env_id, short_id: meta.short_id, removed: snap, freed };
    } catch (err) {
      await wal.abort();
      throw err;
    }
  });
}

/** Deletes a layer no environment uses any more, with the objects only it referenced. */
async function freeLayer(engine: Engine, hash: string): Promise<RemoveSnapshotResult['freed']> {
  const layout = engine.layout;
  const none = { layer: false, objects: 0, bytes: 0 };
  const { envs, corrupt } = await listMetadata(layout);
  if (corrupt.length) return { ...none, pending: `${corrupt.length} metadata file(s) are corrupt, so what they reference is unknown; run \`karapace verify-store\`, then \`karapace gc\`` };
  const live = liveLayers(envs);
  if (live.has(hash)) return { ...none, pending: 'another environment or snapshot uses the same layer' };
  const record = await readLayer(layout, hash).catch(() => undefined);
  if (!record) return none;
  const references = await objectReferences(layout, live);
  await addPackagesLayerReferences(layout, livePackagesLayers(envs), references);
  const mine = await layerObjects(layout, record);
  // A tar object next to a tree is a cache of it: it goes with the layer unless another layer needs it.
  mine.add(record.object);
  const freed = { layer: false, objects: 0, bytes: 0 };
  // Packed ones: each pack holding any is rewritten without them (store/pack-prune.ts).
  const deadInPacks = new Map<Pack, Set<string>>();
  for (const o of packedObjects(layout)) {
    if (!mine.has(o.hash) || references.has(o.hash)) continue;
    if (engine.kernel.hooks.keep.call({ kind: 'object', id: o.hash, path: o.pack.path }) === true) continue;
    const dead = deadInPacks.get(o.pack) ?? new Set<string>();
    dead.add(o.hash);
    deadInPacks.set(o.pack, dead);
  }
  for (const [pack, dead] of deadInPacks) {
    freed.bytes += await dropFromPack(layout, pack, dead);
    freed.objects += dead.size;
    for (const hash of dead) mine.delete(hash);
  }
  for (const object of mine) {
    if (references.has(object)) continue;
    const path = objectPath(layout, object);
    const candidate = { kind: 'object' as const, id: object, path };
    if (engine.kernel.hooks.keep.call(candidate) === true) continue;
    const size = (await stat(path).catch(() => undefined))?.size;
    if (size === undefined) continue;
    await rm(path, { force: true });
    freed.objects++;
    freed.bytes += size;
  }
  if (engine.kernel.hooks.keep.call({ kind: 'layer', id: hash, path: layerPath(layout, hash) }) !== true) {
    await rm(layerPath(layout, hash), { force: true });
    freed.layer = true;
  }
  return freed;
}
