/** Per-environment metadata (`metadata/<env_id>.json`) with an embedded checksum. */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { readdir, readFile, rm } from '../fs-async.js';
import { StoreError } from '../errors.js';
import { canonicalJson } from '../canonical-json.js';
import { hashBytes } from '../hash.js';
import type { LockFile } from '../lock/types.js';
import type { NormalizedManifest } from '../manifest/types.js';
import { writeFileAtomic } from './atomic.js';
import { metadataPath, type StoreLayout } from './layout.js';
import { fileIdentity, indexFresh, indexRow, updateIndex } from './env-index.js';

export type EnvState = 'defined' | 'built' | 'running' | 'frozen' | 'archived';

export interface SnapshotRef {
  layer: string;
  created_at: string;
  message?: string;
}

export interface EnvMetadata {
  env_id: string;
  short_id: string;
  name?: string;
  state: EnvState;
  backend: string;
  manifest: NormalizedManifest;
  lock: LockFile;
  /** Absolute path of the manifest it was built from (informational). */
  manifest_path: string;
  /** Directory relative mounts resolve against. */
  manifest_dir: string;
  base: { reference: string; digest: string; rootfs: string; image_key?: string };
  /** Layers applied below the upper dir, topmost first. */
  layers: string[];
  /**
   * The packages layer the environment runs on, between its base and its upper dir
   * (store/packages-layer.ts); absent when the build installed nothing, or made the env
   * before packages layers existed (its packages are then in its upper dir).
   */
  packages_layer?: string;
  snapshots: SnapshotRef[];
  created_at: string;
  updated_at: string;
  /** Plugins may keep data here, keyed by plugin name. */
  extensions?: Record<string, unknown>;
}

interface StoredMetadata extends EnvMetadata {
  checksum: string;
}

function checksumOf(meta: EnvMetadata): string {
  const { checksum: _ignored, ...rest } = meta as StoredMetadata;
  return hashBytes(canonicalJson(rest));
}

/** Writes an environment's metadata and updates the name/id index (under the store lock). */
export async function writeMetadata(layout: StoreLayout, meta: EnvMetadata): Promise<void> {
  const { checksum: _ignored, ...rest } = meta as StoredMetadata;
  const stored: StoredMetadata = { ...rest, checksum: checksumOf(rest) };
  const fresh = indexFresh(layout);
  await writeFileAtomic(metadataPath(layout, meta.env_id), JSON.stringify(stored, null, 2) + '\n');
  await indexAfterChange(layout, meta.env_id, rest, fresh);
}

/** The index follows each metadata change; one it cannot write is left stale (rebuilt by the next reader). */
async function indexAfterChange(layout: StoreLayout, envId: string, after: EnvMetadata | undefined, fresh: boolean): Promise<void> {
  try {
    await updateIndex(layout, envId, after, fresh, async () => (await listMetadata(layout)).envs.map(indexRow));
  } catch {
    // The stamp went first: the index is stale, not wrong.
  }
}

export function corruptMetadata(path: string, why: string): StoreError {
  return new StoreError('KP_STORE_METADATA_CORRUPT', `environment metadata ${path} is corrupt: ${why}`, {
    hint: 'run `karapace verify-store`; rebuild the environment from its manifest or pull it again',
    data: { path },
  });
}

/** `verified`: the bytes are known to be the ones written with this checksum (the name index), so it is not recomputed. */
export function parseMetadata(text: string, path: string, verified = false): EnvMetadata {
  let parsed: StoredMetadata;
  try {
    parsed = JSON.parse(text) as StoredMetadata;
  } catch {
    throw corruptMetadata(path, 'not valid JSON');
  }
  if (!parsed || typeof parsed !== 'object' || typeof parsed.checksum !== 'string') throw corruptMetadata(path, 'no checksum');
  if (!verified) {
    const actual = checksumOf(parsed);
    if (actual !== parsed.checksum) throw corruptMetadata(path, `checksum mismatch (recorded ${parsed.checksum.slice(0, 12)}…, computed ${actual.slice(0, 12)}…)`);
  }
  const { checksum: _c, ...meta } = parsed;
  return meta;
}

/**
 * `verifiedIdentity`: the identity (env-index.ts fileIdentity) of the file as written and
 * checksummed under the store lock; when the open file still has it, the checksum is
 * skipped (hashing loads the blake3 addon: exec start-up).
 */
export async function readMetadata(layout: StoreLayout, envId: string, options: { verifiedIdentity?: string } = {}): Promise<EnvMetadata | undefined> {
  const path = metadataPath(layout, envId);
  let text: string;
  let verified = false;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    // The identity of the bytes read: fstat on the descriptor they are read from.
    if (options.verifiedIdentity) verified = fileIdentity(fstatSync(fd, { bigint: true })) === options.verifiedIdentity;
    text = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  return parseMetadata(text, path, verified);
}

export async function removeMetadata(layout: StoreLayout, envId: string): Promise<void> {
  const fresh = indexFresh(layout);
  await rm(metadataPath(layout, envId), { force: true });
  await indexAfterChange(layout, envId, undefined, fresh);
}

/** readMetadata without a promise, for lazy handles (see handleForRow). */
export function readMetadataSync(layout: StoreLayout, envId: string): EnvMetadata | undefined {
  const path = metadataPath(layout, envId);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return parseMetadata(text, path);
}

export interface MetadataListing {
  envs: EnvMetadata[];
  /** Files that failed their checksum: reported, never used. */
  corrupt: { path: string; error: StoreError }[];
}

/** `idPrefix` reads only environments whose env_id starts with it (file names are env_ids). */
export async function listMetadata(layout: StoreLayout, options: { idPrefix?: string } = {}): Promise<MetadataListing> {
  let names: string[];
  try {
    names = await readdir(layout.metadata);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { envs: [], corrupt: [] };
    throw err;
  }
  const envs: EnvMetadata[] = [];
  const corrupt: MetadataListing['corrupt'] = [];
  for (const name of names.sort()) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    if (options.idPrefix && !name.startsWith(options.idPrefix)) continue;
    const path = `${layout.metadata}/${name}`;
    try {
      envs.push(parseMetadata(await readFile(path, 'utf8'), path));
    } catch (err) {
      if (err instanceof StoreError) corrupt.push({ path, error: err });
      // Readers without the lock (list, find) may race a destroy: a file that went is no env.
      else if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return { envs, corrupt };
}
