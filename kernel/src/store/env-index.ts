/**
 * The index of environments by name and id (`store/index/`), so finding one costs the same
 * with 1 or 10,000 environments and `list` reads one file:
 * - `names/<name>`: the env_id that has the name, and the identity (inode, size, mtime,
 *   ctime) of its metadata file as written and checksummed under the store lock: a reader
 *   whose open file has that identity reads the same bytes and skips the checksum;
 * - `ids/<first two hex digits>`: the env_ids that start with them, one a line;
 * - `rows`: one summary row per environment (what `list` shows), one a line, in `list`'s
 *   order (env-rows.ts: read without a JSON parse, in pages);
 * - `stamp`: the metadata directory's identity (inode, mtime, ctime) when the index was
 *   last brought up to date, written last.
 *
 * Invariant: the index describes the metadata directory whenever `stamp` matches that
 * directory. Every metadata write and removal (writeMetadata/removeMetadata, under the store
 * lock) updates the index after the file and stamps it; anything else that changes the
 * directory (crash recovery, an older karapace, a hand edit, a crash between the two
 * writes) changes its mtime and so invalidates the stamp. A reader that finds the stamp
 * stale, missing or unreadable rebuilds the index from the metadata files (and stores it
 * when it can take the store lock at once). Index files are rewritten by rename, without
 * fsync: after a power loss they are stale or missing, never trusted wrongly (the stamp
 * goes first and comes back last).
 */
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { metadataPath, type StoreLayout } from './layout.js';
import type { EnvMetadata } from './metadata.js';
import { formatRows, parseRows, rowOrder, type IndexRow, type RowsPage } from './env-rows.js';

export type { IndexRow, RowsPage } from './env-rows.js';

export function indexRow(meta: EnvMetadata): IndexRow {
  return {
    env_id: meta.env_id,
    short_id: meta.short_id,
    name: meta.name ?? null,
    state: meta.state,
    backend: meta.backend,
    base: meta.base.reference,
    packages: meta.lock.resolved_packages.length,
    created_at: meta.created_at,
  };
}

const dirOf = (layout: StoreLayout) => join(layout.store, 'index');
const stampFile = (layout: StoreLayout) => join(dirOf(layout), 'stamp');
const rowsFile = (layout: StoreLayout) => join(dirOf(layout), 'rows');
/** The rows file before it was line-oriented: removed when the index is next written whole. */
const oldRowsFile = (layout: StoreLayout) => join(dirOf(layout), 'envs.json');
const nameFile = (layout: StoreLayout, name: string) => join(dirOf(layout), 'names', name);
const bucketFile = (layout: StoreLayout, id: string) => join(dirOf(layout), 'ids', id.slice(0, 2));

/** The metadata directory's identity: creating, renaming or removing a file in it changes it. */
export function metadataStamp(layout: StoreLayout): string | undefined {
  try {
    const st = statSync(layout.metadata, { bigint: true });
    // v3: the rows file replaced envs.json; v4: its header holds the column widths (rows
    // version 2). An index stamped by an earlier version is stale.
    return `v4 ${st.ino} ${st.mtimeNs} ${st.ctimeNs}`;
  } catch {
    return undefined;
  }
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function writeReplacing(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content);
  renameSync(tmp, file);
}

/** True when the index describes the metadata directory as it is now. */
export function indexFresh(layout: StoreLayout): boolean {
  const stamp = metadataStamp(layout);
  return stamp !== undefined && read(stampFile(layout)) === stamp;
}

/** A file's identity: any write through the filesystem changes one of these. */
export function fileIdentity(st: { ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint }): string {
  return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

function metadataIdentity(layout: StoreLayout, envId: string): string {
  try {
    return fileIdentity(statSync(metadataPath(layout, envId), { bigint: true }));
  } catch {
    return '-';
  }
}

/**
 * What a lookup by name or id prefix found, from a fresh index (`verified`: the identity of
 * the metadata file the index vouches for); undefined when the index is stale.
 */
export type IndexLookup = { env_ids: string[]; verified?: string } | undefined;

/** env_ids with this name (0 or 1) from a fresh index. */
export function lookupName(layout: StoreLayout, name: string): IndexLookup {
  if (!indexFresh(layout)) return undefined;
  const [id, verified] = (read(nameFile(layout, name)) ?? '').trim().split(' ');
  return id ? { env_ids: [id], verified } : { env_ids: [] };
}

/** env_ids starting with a hex prefix, from a fresh index. */
export function lookupIdPrefix(layout: StoreLayout, prefix: string): IndexLookup {
  if (!indexFresh(layout)) return undefined;
  // One bucket per first two digits; a one-digit prefix reads the (at most 16) buckets it spans.
  const buckets = prefix.length >= 2 ? [prefix.slice(0, 2)] : [...'0123456789abcdef'].map((d) => prefix + d);
  const ids = buckets.flatMap((b) => (read(join(dirOf(layout), 'ids', b)) ?? '').split('\n')).filter((id) => id && id.startsWith(prefix));
  return { env_ids: ids };
}

/**
 * The summary rows from a fresh index, in `list`'s order (`page`: only those rows, with the
 * total); undefined when the index is stale or its rows file does not read.
 */
export function indexRows(layout: StoreLayout, page?: RowsPage): { rows: IndexRow[]; total: number } | undefined {
  const text = indexRowsText(layout);
  return text === undefined ? undefined : parseRows(text, page);
}

/** The rows file of a fresh index (env-rows.ts), for readers that walk it themselves; undefined when stale. */
export function indexRowsText(layout: StoreLayout): string | undefined {
  return indexFresh(layout) ? read(rowsFile(layout)) : undefined;
}

/**
 * Writes the whole index for these rows, stamped with `stamp` (the metadata directory as
 * it was before the rows were read: a change since leaves the index stale, never wrong).
 */
export function writeIndex(layout: StoreLayout, rows: IndexRow[], stamp: string): void {
  const dir = dirOf(layout);
  rmSync(stampFile(layout), { force: true });
  removeFile(oldRowsFile(layout));
  rmSync(join(dir, 'names'), { recursive: true, force: true });
  rmSync(join(dir, 'ids'), { recursive: true, force: true });
  mkdirSync(join(dir, 'names'), { recursive: true });
  mkdirSync(join(dir, 'ids'), { recursive: true });
  const buckets = new Map<string, string[]>();
  for (const row of rows) {
    if (row.name) writeFileSync(nameFile(layout, row.name), `${row.env_id} ${metadataIdentity(layout, row.env_id)}\n`);
    const key = row.env_id.slice(0, 2);
    buckets.set(key, [...(buckets.get(key) ?? []), row.env_id]);
  }
  for (const [key, ids] of buckets) writeFileSync(join(dir, 'ids', key), ids.join('\n') + '\n');
  writeReplacing(rowsFile(layout), formatRows([...rows].sort(rowOrder)));
  writeReplacing(stampFile(layout), stamp);
}

/**
 * Brings the index up to date after one environment's metadata was written (`after`) or
 * removed (`after` undefined). `wasFresh`: the index was fresh just before that change, so
 * only this environment's entries change; otherwise `rebuild` reads every metadata file.
 * Runs under the store lock.
 */
export async function updateIndex(
  layout: StoreLayout,
  envId: string,
  after: EnvMetadata | undefined,
  wasFresh: boolean,
  rebuild: () => Promise<IndexRow[]>,
): Promise<void> {
  const stamp = metadataStamp(layout);
  if (!stamp) return;
  const text = wasFresh ? read(rowsFile(layout)) : undefined;
  const rows = text === undefined ? undefined : parseRows(text)?.rows;
  if (!rows) return writeIndex(layout, await rebuild(), stamp);
  const before = rows.find((r) => r.env_id === envId);
  const next = rows.filter((r) => r.env_id !== envId);
  if (after) {
    // Kept in list's order: a new row goes where it sorts (usually last: the newest).
    const row = indexRow(after);
    let at = next.length;
    while (at > 0 && rowOrder(next[at - 1]!, row) > 0) at--;
    next.splice(at, 0, row);
  }
  removeFile(stampFile(layout));
  if (before?.name && before.name !== after?.name && read(nameFile(layout, before.name))?.split(' ')[0] === envId) removeFile(nameFile(layout, before.name));
  if (after?.name) {
    mkdirSync(join(dirOf(layout), 'names'), { recursive: true });
    writeReplacing(nameFile(layout, after.name), `${envId} ${metadataIdentity(layout, envId)}\n`);
  }
  if (!before !== !after) {
    mkdirSync(join(dirOf(layout), 'ids'), { recursive: true });
    const bucket = next.filter((r) => r.env_id.slice(0, 2) === envId.slice(0, 2)).map((r) => r.env_id);
    writeReplacing(bucketFile(layout, envId), bucket.length ? bucket.join('\n') + '\n' : '');
  }
  writeReplacing(rowsFile(layout), formatRows(next));
  writeReplacing(stampFile(layout), stamp);
}

/** Removes a file if it is there: unlinkSync, as rmSync loads Node's rimraf module even for one file. */
function removeFile(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
