/**
 * The content hashes of a directory's files by stat fingerprint (issue 18), like git's
 * index: a commit packs the whole upper dir (the tar's blake3 is the layer's identity), but
 * a file whose device, inode, size, mtime and ctime (ns) are those recorded with a hash is
 * not hashed again. ctime cannot be set by users, so any write, truncate, chmod, xattr change
 * or replacement (a new inode, or an old one reused: a new ctime) misses the cache.
 *
 * An entry is recorded only when the file's ctime lies well before the commit started
 * (`RACY_NS`): the packer then read the content the fingerprint stands for, since a change
 * while or after it read would have set a later ctime (git's "racy" entries).
 *
 * `<root>/cache/content/<blake3 of the directory's path>.json`; gc drops the caches of
 * directories that are gone. A damaged cache is ignored (every file is hashed).
 */
import { lstatSync, type BigIntStats } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { hashBytes, isHash } from '../hash.js';
import { tempPathFor } from './atomic.js';
import type { StoreLayout } from './layout.js';

const VERSION = 1;
/** Changes this close to the start (and later) are not cached: timestamps are coarse. */
const RACY_NS = 2_000_000_000n;

type Fingerprint = [dev: string, ino: string, size: string, mtimeNs: string, ctimeNs: string];
interface CacheFile {
  version: number;
  dir: string;
  entries: Record<string, [...Fingerprint, string]>;
}

function cacheDir(layout: StoreLayout): string {
  return join(layout.root, 'cache', 'content');
}

function cachePath(layout: StoreLayout, dir: string): string {
  return join(cacheDir(layout), `${hashBytes(dir)}.json`);
}

function fingerprint(st: BigIntStats): Fingerprint {
  return [String(st.dev), String(st.ino), String(st.size), String(st.mtimeNs), String(st.ctimeNs)];
}

export interface ContentCache {
  /** The recorded hash of `path`'s content (relative to the directory), if its fingerprint is unchanged. */
  lookup(path: string, size: number): string | undefined;
  /** Notes that `path` holds content `hash` (kept when it is not racy). */
  record(path: string, hash: string): void;
  /** Files whose hash came from the cache so far. */
  readonly hits: number;
  /** Entries the cache held when opened (0: the directory's first pack, or its cache is gone). */
  readonly known: number;
  /** Writes the entries recorded in this run (replacing the old ones). */
  save(): Promise<void>;
}

export async function openContentCache(layout: StoreLayout, dir: string): Promise<ContentCache> {
  const started = BigInt(Date.now()) * 1_000_000n;
  const file = cachePath(layout, dir);
  // Maps, not objects: a file may be called `__proto__`.
  let old = new Map<string, CacheFile['entries'][string]>();
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as CacheFile;
    if (parsed.version === VERSION && parsed.dir === dir && parsed.entries && typeof parsed.entries === 'object') old = new Map(Object.entries(parsed.entries));
  } catch {
    // missing or damaged: nothing is known
  }
  const next = new Map<string, CacheFile['entries'][string]>();
  let hits = 0;
  const stat = (path: string) => {
    try {
      return lstatSync(join(dir, path), { bigint: true });
    } catch {
      return undefined; // gone, or unreadable from here (a mapped upper dir): not known
    }
  };
  return {
    get hits() {
      return hits;
    },
    known: old.size,
    lookup(path, size) {
      const entry = old.get(path);
      if (!Array.isArray(entry) || !isHash(entry[5])) return undefined;
      const st = stat(path);
      if (!st || !st.isFile() || st.size !== BigInt(size)) return undefined;
      const now = fingerprint(st);
      if (now.some((v, i) => v !== entry[i])) return undefined;
      hits++;
      return entry[5];
    },
    record(path, hash) {
      const st = stat(path);
      if (!st || !st.isFile() || st.ctimeNs > started - RACY_NS || st.mtimeNs > started - RACY_NS) return;
      next.set(path, [...fingerprint(st), hash]);
    },
    async save() {
      const body: CacheFile = { version: VERSION, dir, entries: Object.fromEntries(next) };
      // Atomic but not fsynced: after a crash the old cache, the new one or a damaged one (then
      // ignored) is as correct as any, since every entry is checked against the file's stat;
      // and the objects it names were made durable before this was written.
      await mkdir(dirname(file), { recursive: true });
      const tmp = tempPathFor(file);
      try {
        await writeFile(tmp, JSON.stringify(body));
        await rename(tmp, file);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
    },
  };
}

/** Removes the caches of directories that no longer exist (gc). */
export async function dropStaleContentCaches(layout: StoreLayout, dryRun: boolean): Promise<string[]> {
  const dropped: string[] = [];
  const dir = cacheDir(layout);
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const path = join(dir, name);
    const cached = await readFile(path, 'utf8').then((t) => (JSON.parse(t) as CacheFile).dir, () => undefined);
    if (typeof cached === 'string' && existsSync(cached)) continue;
    dropped.push(path);
    if (!dryRun) await rm(path, { force: true });
  }
  return dropped;
}
