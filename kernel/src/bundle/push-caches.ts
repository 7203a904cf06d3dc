/**
 * The push caches of environments that are gone: `cache/bundles/upper-<env_id>.json` (the
 * upper dir's tar hash by stat fingerprint) and `.tree` (its tree, bundle v3). Only caches:
 * gc drops those whose environment no longer exists.
 */
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { envDir, type StoreLayout } from '../store/layout.js';

export async function dropStalePushCaches(layout: StoreLayout): Promise<string[]> {
  const dir = join(layout.root, 'cache', 'bundles');
  const dropped: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const m = /^upper-([0-9a-f]{64})\.(json|tree)$/.exec(name);
    if (!m || existsSync(envDir(layout, m[1]!))) continue;
    await rm(join(dir, name), { force: true });
    dropped.push(name);
  }
  return dropped;
}
