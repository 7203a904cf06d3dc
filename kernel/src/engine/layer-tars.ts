/**
 * Layer tars for the exchange (issue 18): a remote bundle moves a layer as its tar object
 * (plugins/remote-http/src/bundle), while this store keeps a tree. Before a push the tars
 * of the environment's layers are produced from their trees into the object store, where
 * they stay as a cache that gc removes (no live layer references a tar beside its tree).
 */
import { StoreError } from '../errors.js';
import { hasTree, layerTar, readLayer } from '../layers/layer.js';
import { hasObject, putObjectStream } from '../store/objects.js';
import type { Engine } from './engine.js';
import { findEnv } from './find.js';
import { withLock } from './with-lock.js';

/** Produces the missing tar objects of `ref`'s layers; returns how many were written. */
export async function materializeLayerTars(engine: Engine, ref: string): Promise<number> {
  return withLock(engine, async () => {
    const layout = engine.layout;
    const meta = await findEnv(layout, ref);
    let written = 0;
    for (const hash of new Set([...meta.layers, ...meta.snapshots.map((s) => s.layer)])) {
      const record = await readLayer(layout, hash).catch(() => undefined);
      if (!record || (await hasObject(layout, record.object)) || !(await hasTree(layout, record))) continue;
      // layerTar fails at its end unless the tar hashes to record.object; putObjectStream then stores nothing.
      const { hash: object } = await putObjectStream(layout, await layerTar(layout, record));
      if (object !== record.object) {
        throw new StoreError('KP_STORE_TREE_MISMATCH', `layer ${hash}: the tar from its tree hashes to ${object}, not ${record.object}`, { hint: 'run `karapace verify-store`' });
      }
      written++;
    }
    return written;
  });
}
