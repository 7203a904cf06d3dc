/**
 * migrate: reports the store format version. Version 1 is the only format so far, so
 * there is nothing to convert (the name/id index is rebuilt); unknown versions are refused
 * with guidance.
 */
import { existsSync } from 'node:fs';
import { StoreError } from '../errors.js';
import { readStoreVersion, STORE_FORMAT_VERSION } from '../store/version.js';
import type { Engine } from './engine.js';
import { scanAndIndex } from './find.js';
import { withLock } from './with-lock.js';

export interface MigrateResult {
  store: string;
  /** null when there is no store yet. */
  version: number | null;
  supported: number;
  migrated: boolean;
  message: string;
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
  throw new StoreError('KP_STORE_VERSION_UNKNOWN', `store at ${layout.root} has format version ${version}, which this karapace cannot migrate (it knows version ${STORE_FORMAT_VERSION})`, {
    hint: version > STORE_FORMAT_VERSION
      ? 'it was written by a newer karapace: upgrade karapace, or point --store at another store'
      : 'no migration exists for it: rebuild your environments from their manifests into a new store (--store)',
    data: { found: version, supported: STORE_FORMAT_VERSION },
  });
}
