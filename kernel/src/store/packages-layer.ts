/**
 * The packages layer (DESIGN §11): what a build's package install wrote, kept read-only
 * between the base image and the environment's upper dir, so `diff`, `commit` and snapshots
 * see only the user's changes, and shared by every environment of this store built on the
 * same base digest with the same packages: it is on disk once.
 *
 * `<root>/packages/<name>/root` is the install's upper dir as the backend wrote it (owners as
 * the install's id mapping put them on the host, overlay whiteouts and opaque markers kept:
 * overlayfs honours both in a lower layer), next to `layer.json`. Owners on disk depend on
 * who installed and through which mapping, so a layer is reused only by a build with the
 * same backend, host user and subordinate ranges. Layers a pull brought are never reused
 * by a build: their content is the remote's word, not what this machine's install made.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile } from '../fs-async.js';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { hashBytes, isHash } from '../hash.js';
import type { ResolvedPackage } from '../types.js';
import type { StoreLayout } from './layout.js';

export const PACKAGES_LAYER_VERSION = 1 as const;
const NAME = /^[0-9a-f]{16}-[0-9a-f]{8}$/;

export interface PackagesLayerRecord {
  version: typeof PACKAGES_LAYER_VERSION;
  name: string;
  /** `build`: made by an install on this machine (reusable by builds); `pull`: unpacked from a remote's tar. */
  origin: 'build' | 'pull';
  base_digest: string;
  package_manager: string;
  backend: string;
  /** Who installed, and through which subordinate ranges: the owners on disk depend on it. */
  mapping: string;
  /** The manifest's packages, sorted. */
  requested: string[];
  /** Their resolved versions (what the lock records), sorted by name. */
  packages: ResolvedPackage[];
  /** For a pulled layer: the blake3 of the tar it was unpacked from. */
  blob?: string;
  /**
   * For a pulled layer: `env` when it was unpacked as the env's backend writes (inside its id
   * mapping). Layers pulled before had the user's owners under full mapping: never reused.
   */
  owners?: 'env';
  /**
   * The layer's tree (store/packages-objects.ts) and the tar it gives: its files are content
   * objects, most of them one inode with their object. Layers made without (pulled, under full
   * id mapping, or before) have neither.
   */
  tree?: string;
  tar?: { hash: string; size: number };
  created_at: string;
}

export function packagesDir(layout: StoreLayout): string {
  return join(layout.root, 'packages');
}

export function packagesLayerDir(layout: StoreLayout, name: string): string {
  return join(packagesDir(layout), name);
}

/** The directory an environment mounts as its packages layer. */
export function packagesLayerRoot(layout: StoreLayout, name: string): string {
  return join(packagesDir(layout), name, 'root');
}

export function isPackagesLayerName(name: string): boolean {
  return NAME.test(name);
}

/**
 * The identity of owners on disk for this host user: uid, gid, their subordinate ranges, and
 * how the backend maps them (`backendMapping`, Backend.ownerMapping: a layer installed under
 * single-id mapping has the user's owners where full mapping has root's).
 */
export function installMapping(backendMapping = ''): string {
  const user = userInfo();
  const ranges = (file: string, id: number) => {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return '';
    }
    return text.split('\n').filter((l) => {
      const owner = l.split(':')[0];
      return owner === user.username || owner === String(id);
    }).join(',');
  };
  return `${user.uid}:${user.gid}:${ranges('/etc/subuid', user.uid)}:${ranges('/etc/subgid', user.gid)}:${backendMapping}`;
}

/** A fresh layer name: a key prefix for people reading the directory, and randomness for uniqueness. */
export function newPackagesLayerName(record: Omit<PackagesLayerRecord, 'name' | 'created_at'>, random: string): string {
  const key = hashBytes(Buffer.from(JSON.stringify([record.base_digest, record.package_manager, record.backend, record.mapping, record.packages])));
  return `${key.slice(0, 16)}-${random}`;
}

function parseRecord(text: string, name: string): PackagesLayerRecord | undefined {
  try {
    const r = JSON.parse(text) as PackagesLayerRecord;
    if (r.version !== PACKAGES_LAYER_VERSION || r.name !== name || !Array.isArray(r.requested) || !Array.isArray(r.packages)) return undefined;
    if (r.blob !== undefined && !isHash(r.blob)) return undefined;
    if (r.tree !== undefined && (!isHash(r.tree) || !r.tar || !isHash(r.tar.hash) || !Number.isSafeInteger(r.tar.size))) return undefined;
    return r;
  } catch {
    return undefined;
  }
}

export async function readPackagesLayer(layout: StoreLayout, name: string): Promise<PackagesLayerRecord | undefined> {
  if (!isPackagesLayerName(name)) return undefined;
  const text = await readFile(join(packagesLayerDir(layout, name), 'layer.json'), 'utf8').catch(() => undefined);
  const record = text === undefined ? undefined : parseRecord(text, name);
  return record && existsSync(packagesLayerRoot(layout, name)) ? record : undefined;
}

/** Every complete layer of the store (a directory without a readable record is not one). */
export async function listPackagesLayers(layout: StoreLayout): Promise<PackagesLayerRecord[]> {
  const names = await readdir(packagesDir(layout)).catch(() => [] as string[]);
  const records = await Promise.all(names.filter(isPackagesLayerName).map((n) => readPackagesLayer(layout, n)));
  return records.filter((r): r is PackagesLayerRecord => r !== undefined);
}

export interface PackagesLayerRequest {
  base_digest: string;
  package_manager: string;
  backend: string;
  mapping: string;
  /** The manifest's packages. */
  requested: string[];
  /** `build --locked`: the versions the lock pins; the layer must have exactly these. */
  pinned?: Record<string, string>;
}

/**
 * A layer a build may run on instead of installing: made by a build on this machine, from
 * the same base digest, package manager, backend and id mapping, for the same packages
 * (at the pinned versions, when pinned). The newest such layer wins.
 */
export async function findPackagesLayer(layout: StoreLayout, request: PackagesLayerRequest): Promise<PackagesLayerRecord | undefined> {
  const requested = [...request.requested].sort();
  const fits = (r: PackagesLayerRecord) =>
    r.origin === 'build' && r.base_digest === request.base_digest && r.package_manager === request.package_manager
    && r.backend === request.backend && r.mapping === request.mapping
    && r.requested.length === requested.length && r.requested.every((p, i) => p === requested[i])
    && (!request.pinned || requested.every((p) => r.packages.find((q) => q.name === p)?.version === request.pinned![p]));
  const found = (await listPackagesLayers(layout)).filter(fits);
  return found.sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0))[0];
}

export function serializePackagesLayer(record: PackagesLayerRecord): string {
  return JSON.stringify(record, null, 2) + '\n';
}
