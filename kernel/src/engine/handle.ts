import { join } from 'node:path';
import type { EnvHandle, EnvPaths } from '../types.js';
import { envDir, type StoreLayout } from '../store/layout.js';
import { readMetadataSync, type EnvMetadata } from '../store/metadata.js';
import type { IndexRow } from '../store/env-index.js';
import { StoreError } from '../errors.js';
import { isPackagesLayerName, packagesLayerRoot } from '../store/packages-layer.js';

/** The read-only layers an environment runs on, topmost first: its packages layer, then its base. */
export function lowerDirsOf(layout: StoreLayout, meta: Pick<EnvMetadata, 'base' | 'packages_layer'>): string[] {
  if (meta.packages_layer === undefined) return [meta.base.rootfs];
  if (!isPackagesLayerName(meta.packages_layer)) {
    throw new StoreError('KP_STORE_METADATA_CORRUPT', `an environment's metadata names the packages layer "${meta.packages_layer}", which is not a layer name`, { hint: 'run `karapace verify-store`' });
  }
  return [packagesLayerRoot(layout, meta.packages_layer), meta.base.rootfs];
}

export function envPaths(dir: string): EnvPaths {
  return { dir, upper: join(dir, 'upper'), work: join(dir, 'work'), runtime: join(dir, 'runtime') };
}

/** envPaths computed on first use of each (`list` asks every env's status: runtime only). */
function lazyEnvPaths(dir: () => string): EnvPaths {
  const memo: Partial<EnvPaths> = {};
  const get = <K extends keyof EnvPaths>(key: K, make: () => string) => (memo[key] ??= make());
  return {
    get dir() { return get('dir', dir); },
    get upper() { return get('upper', () => join(this.dir, 'upper')); },
    get work() { return get('work', () => join(this.dir, 'work')); },
    get runtime() { return get('runtime', () => join(this.dir, 'runtime')); },
  };
}

/** What a backend sees of a stored environment. */
export function handleFor(layout: StoreLayout, meta: EnvMetadata): EnvHandle {
  return {
    envId: meta.env_id,
    shortId: meta.short_id,
    name: meta.name,
    paths: envPaths(envDir(layout, meta.env_id)),
    lowerDirs: lowerDirsOf(layout, meta),
    manifest: meta.manifest,
    lock: meta.lock,
    backend: meta.backend,
    manifestDir: meta.manifest_dir,
  };
}

/**
 * A handle from an index row: what status checks use (ids, paths, backend) without reading
 * the metadata; the rest is read on first use.
 */
export function handleForRow(layout: StoreLayout, row: IndexRow): EnvHandle {
  let meta: EnvMetadata | undefined;
  let paths: EnvHandle['paths'] | undefined;
  const full = (): EnvMetadata => {
    meta ??= readMetadataSync(layout, row.env_id);
    if (!meta) throw new StoreError('KP_ENV_NOT_FOUND', `environment ${row.short_id} is gone`, { hint: 'run `karapace list` again' });
    return meta;
  };
  return {
    envId: row.env_id,
    shortId: row.short_id,
    name: row.name ?? undefined,
    get paths() { return (paths ??= lazyEnvPaths(() => envDir(layout, row.env_id))); },
    backend: row.backend,
    get lowerDirs() { return lowerDirsOf(layout, full()); },
    get manifest() { return full().manifest; },
    get lock() { return full().lock; },
    get manifestDir() { return full().manifest_dir; },
  };
}
