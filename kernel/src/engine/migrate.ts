/**
 * migrate: reports the store format version and converts version 1 (a layer is a tar
 * object) to version 2 (a layer is a tree of content objects; issue 18). Each layer is
 * converted on its own: its verified tar is ingested into a tree, the tree is made to give
 * back the tar and checked against the layer's hash, then the record names the tree and
 * the tar object goes. Every step is idempotent, so an interrupted migrate is run again;
 * the version file is written last. A tar the packer would not have written byte for byte
 * stays a tar object (version 2 allows both). The name/id index is rebuilt either way.
 * Unknown versions are refused with guidance.
 */
import { existsSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { StoreError } from '../errors.js';
import { hasTree, layerPath, layerTar, readLayer } from '../layers/layer.js';
import { writeFileAtomic } from '../store/atomic.js';
import { crashPoint } from '../store/crash.js';
import { objectPath, type StoreLayout } from '../store/layout.js';
import { readObjectVerified } from '../store/objects.js';
import { storeTarAsTree } from '../store/tree-layer.js';
import { readStoreVersion, STORE_FORMAT_VERSION, STORE_VERSION_BEFORE_PACKS, writeStoreVersion } from '../store/version.js';
import type { LayerRecord } from '../types.js';
import type { Engine } from './engine.js';
import { scanAndIndex } from './find.js';
import { withLock } from './with-lock.js';

export interface MigrateResult {
  store: string;
  /** The version found; null when there is no store yet. */
  version: number | null;
  supported: number;
  migrated: boolean;
  /** Layers converted to trees, layers kept as tars, and the bytes of tar objects removed. */
  layers?: { converted: number; kept_as_tar: number; tar_bytes_removed: number; bytes_added: number };
  message: string;
}

async function layerRecords(layout: StoreLayout): Promise<LayerRecord[]> {
  const names = await readdir(layout.layers).catch(() => [] as string[]);
  const out: LayerRecord[] = [];
  for (const name of names.sort()) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    out.push(await readLayer(layout, name.slice(0, -5)));
  }
  return out;
}

/** Version 1 → 2, for a store whose lock is held. */
async function treesFromTars(layout: StoreLayout): Promise<NonNullable<MigrateResult['layers']>> {
  const counts = { converted: 0, kept_as_tar: 0, tar_bytes_removed: 0, bytes_added: 0 };
  const records = await layerRecords(layout);
  const converted = new Set<string>();
  for (const record of records) {
    if (await hasTree(layout, record)) {
      converted.add(record.object);
      continue;
    }
    const stored = await storeTarAsTree(layout, async (consume) => {
      await consume(readObjectVerified(layout, record.object));
      return { entries: record.entries, contentBytes: 0 };
    });
    if (!stored || stored.object !== record.object || stored.size !== record.size) {
      counts.kept_as_tar++;
      continue;
    }
    const updated: LayerRecord = { ...record, tree: stored.tree };
    // The tree gives back the very tar (layerTar checks every object and the whole hash).
    for await (const _ of await layerTar(layout, updated));
    await writeFileAtomic(layerPath(layout, record.hash), JSON.stringify(updated, null, 2) + '\n');
    crashPoint('migrate:layer');
    counts.converted++;
    counts.bytes_added += stored.added.bytes;
    converted.add(record.object);
  }
  // Tar objects go once no layer without a tree needs them (two v1 layers may share one).
  const tarOnly = new Set<string>();
  for (const record of await layerRecords(layout)) if (!(await hasTree(layout, record))) tarOnly.add(record.object);
  for (const object of converted) {
    if (tarOnly.has(object)) continue;
    const path = objectPath(layout, object);
    const size = (await stat(path).catch(() => undefined))?.size;
    if (size === undefined) continue;
    await rm(path, { force: true });
    counts.tar_bytes_removed += size;
  }
  return counts;
}

export async function migrateStore(engine: Engine): Promise<MigrateResult> {
  const layout = engine.layout;
  const base = { store: layout.root, supported: STORE_FORMAT_VERSION, migrated: false };
  if (!existsSync(layout.store)) return { ...base, version: null, message: `no store at ${layout.root} yet; \`karapace build\` creates one at version ${STORE_FORMAT_VERSION}` };
  const version = readStoreVersion(layout) ?? null;
  if (version === null || version === STORE_FORMAT_VERSION) {
    // Stores from before the name/id index get one now (readers would build it on first use).
    if (existsSync(layout.metadata)) await withLock(engine, async () => void (await scanAndIndex(layout, { force: true })));
    return { ...base, version: version ?? STORE_FORMAT_VERSION, message: `store format version ${STORE_FORMAT_VERSION} is current; nothing to migrate` };
  }
  if (version === STORE_VERSION_BEFORE_PACKS) {
    // Version 3 only adds pack files: nothing to convert, the version file says older karapaces cannot read it.
    return withLock(engine, async () => {
      if (readStoreVersion(layout) === STORE_VERSION_BEFORE_PACKS) await writeStoreVersion(layout, STORE_FORMAT_VERSION);
      if (existsSync(layout.metadata)) await scanAndIndex(layout, { force: true });
      return {
        ...base, version, migrated: true,
        message: `migrated ${layout.root} from store format version ${version} to ${STORE_FORMAT_VERSION}: nothing to convert (version ${STORE_FORMAT_VERSION} lets commits write pack files; karapace releases that know only version ${version} will ask to be upgraded)`,
      };
    });
  }
  if (version === 1) {
    return withLock(engine, async () => {
      // Another migrate may have finished while this one waited for the lock.
      if (readStoreVersion(layout) === STORE_FORMAT_VERSION) return { ...base, version, migrated: false, message: `store format version ${STORE_FORMAT_VERSION} is current; nothing to migrate` };
      const layers = await treesFromTars(layout);
      if (existsSync(layout.metadata)) await scanAndIndex(layout, { force: true });
      await writeStoreVersion(layout, STORE_FORMAT_VERSION);
      const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
      return {
        ...base, version, migrated: true, layers,
        message: `migrated ${layout.root} from store format version 1 to ${STORE_FORMAT_VERSION}: ${layers.converted} layer(s) now stored as trees`
          + ` (${mib(layers.tar_bytes_removed)} of tar objects replaced by ${mib(layers.bytes_added)} of new objects)`
          + (layers.kept_as_tar ? `, ${layers.kept_as_tar} kept as tar objects (not written by karapace's packer)` : ''),
      };
    }, { anyVersion: true });
  }
  throw new StoreError('KP_STORE_VERSION_UNKNOWN', `store at ${layout.root} has format version ${version}, which this karapace cannot migrate (it knows versions 1 to ${STORE_FORMAT_VERSION})`, {
    hint: version > STORE_FORMAT_VERSION
      ? 'it was written by a newer karapace: upgrade karapace, or point --store at another store'
      : 'no migration exists for it: rebuild your environments from their manifests into a new store (--store)',
    data: { found: version, supported: STORE_FORMAT_VERSION },
  });
}
