import { join } from 'node:path';
import type { EnvHandle, EnvPaths } from '../types.js';
import { envDir, type StoreLayout } from '../store/layout.js';
import type { EnvMetadata } from '../store/metadata.js';

export function envPaths(dir: string): EnvPaths {
  return { dir, upper: join(dir, 'upper'), work: join(dir, 'work'), runtime: join(dir, 'runtime') };
}

/** What a backend sees of a stored environment. */
export function handleFor(layout: StoreLayout, meta: EnvMetadata): EnvHandle {
  return {
    envId: meta.env_id,
    shortId: meta.short_id,
    name: meta.name,
    paths: envPaths(envDir(layout, meta.env_id)),
    lowerDirs: [meta.base.rootfs],
    manifest: meta.manifest,
    lock: meta.lock,
    backend: meta.backend,
    manifestDir: meta.manifest_dir,
  };
}
