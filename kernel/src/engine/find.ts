/**
 * Finding an environment by env_id, short_id, unique prefix or name: through the name/id
 * index (store/env-index.ts), reading only the environment found, whatever the size of the
 * store; from every metadata file when the index is stale (which also rebuilds it).
 */
import { existsSync } from 'node:fs';
import { ManifestError, StoreError, UsageError } from '../errors.js';
import { refuseNewerStore } from '../store/version.js';
import { indexRow, lookupIdPrefix, lookupName, metadataStamp, writeIndex, type IndexLookup } from '../store/env-index.js';
import { acquireStoreLock, type StoreLockHandle } from '../store/lock.js';
import { listMetadata, readMetadata, type EnvMetadata, type MetadataListing } from '../store/metadata.js';
import type { StoreLayout } from '../store/layout.js';

export const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function checkName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new UsageError('KP_NAME_INVALID', `invalid environment name "${name}"`, {
      hint: 'names use letters, digits, "_" and "-", 1–64 characters',
    });
  }
  if (/^[0-9a-f]{6,64}$/.test(name)) {
    throw new UsageError('KP_NAME_INVALID', `invalid environment name "${name}": it looks like an id`, {
      hint: 'pick a name that is not 6 or more hex digits, so names and ids never collide',
    });
  }
}

const ID_LIKE = /^[0-9a-f]{6,64}$/;

/**
 * Every environment's metadata, read file by file; the index is rebuilt from it on the way
 * when the store lock can be had at once (a mutation running keeps it and updates it itself)
 * or the caller holds it (`force`).
 */
export async function scanAndIndex(layout: StoreLayout, options: { force?: boolean } = {}): Promise<MetadataListing> {
  // `force`: the caller holds the store lock. Otherwise the lock is taken first, so no
  // mutation falls between reading the directory's stamp and the files.
  // A reader rebuilds a stale index without the lock's version check: a store a newer
  // karapace made is refused here, not read or indexed by the rules of this one.
  refuseNewerStore(layout);
  let lock: StoreLockHandle | undefined;
  if (!options.force && existsSync(layout.lockFile)) {
    try {
      lock = await acquireStoreLock(layout, { waitMs: 0 });
    } catch {
      // Locked by a mutation, or not ours to write: read without storing the index.
    }
  }
  try {
    const stamp = metadataStamp(layout);
    const listing = await listMetadata(layout);
    if (stamp && (lock || options.force)) {
      try {
        writeIndex(layout, listing.envs.map(indexRow), stamp);
      } catch {
        // A read-only store: the next reader reads the files too.
      }
    }
    return listing;
  } finally {
    lock?.release();
  }
}

/** The environments an index lookup named, or undefined when the index cannot answer. */
async function fromIndex(layout: StoreLayout, hit: IndexLookup, check: (m: EnvMetadata) => boolean): Promise<EnvMetadata[] | undefined> {
  if (!hit) return undefined;
  const envs: EnvMetadata[] = [];
  for (const id of hit.env_ids) {
    const meta = await readMetadata(layout, id, { verifiedIdentity: hit.verified });
    // Metadata that went or no longer matches: the index is behind; read the files.
    if (!meta || !check(meta)) return undefined;
    envs.push(meta);
  }
  return envs;
}

export async function findEnv(layout: StoreLayout, ref: string): Promise<EnvMetadata> {
  const needle = ref.trim();
  if (!needle) throw new UsageError('KP_ENV_REF_EMPTY', 'no environment named', { hint: 'pass an env_id, short_id, prefix or name (see `karapace list`)' });
  // Names are never 6+ hex digits (checkName), so such a reference is an id or a prefix of one.
  const idLike = ID_LIKE.test(needle);
  let envs = idLike
    ? await fromIndex(layout, lookupIdPrefix(layout, needle), (m) => m.env_id.startsWith(needle))
    : await fromIndex(layout, lookupName(layout, needle), (m) => m.name === needle);
  // A short hex reference that names nothing may be the start of an id.
  if (envs?.length === 0 && /^[0-9a-f]{1,5}$/.test(needle)) envs = await fromIndex(layout, lookupIdPrefix(layout, needle), (m) => m.env_id.startsWith(needle));
  envs ??= (await scanAndIndex(layout)).envs;
  const byName = envs.find((e) => e.name === needle);
  if (byName) return byName;
  const exact = envs.find((e) => e.env_id === needle);
  if (exact) return exact;
  const matches = /^[0-9a-f]+$/.test(needle) ? envs.filter((e) => e.env_id.startsWith(needle)) : [];
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    throw new UsageError('KP_ENV_AMBIGUOUS', `"${needle}" matches ${matches.length} environments: ${matches.map((e) => e.short_id).join(', ')}`, {
      hint: 'use more characters of the id, or the name',
      data: { matches: matches.map((e) => e.env_id) },
    });
  }
  throw new StoreError('KP_ENV_NOT_FOUND', `no environment "${needle}" in this store`, {
    hint: 'run `karapace list` to see environments, or `karapace build` to create one',
  });
}

export async function ensureNameFree(layout: StoreLayout, name: string, exceptEnvId?: string): Promise<void> {
  checkName(name);
  const envs = (await fromIndex(layout, lookupName(layout, name), (m) => m.name === name)) ?? (await listMetadata(layout)).envs;
  const owner = envs.find((e) => e.name === name && e.env_id !== exceptEnvId);
  if (owner) {
    throw new ManifestError('KP_NAME_TAKEN', `the name "${name}" is already used by environment ${owner.short_id}`, {
      hint: `pick another name, or free it with \`karapace rename ${owner.short_id} <new-name>\``,
    });
  }
}
