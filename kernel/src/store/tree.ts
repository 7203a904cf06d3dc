/**
 * Tree objects (issue 18): a layer's tree — every entry of its deterministic tar with the
 * content of each file replaced by the blake3 of that content, which is an object of its
 * own. A tree is an object too (`objects/`), named by the blake3 of its bytes:
 *
 *   karapace-tree/1\n
 *   one canonical-JSON entry per line, in the deterministic pack's order (siblings by
 *   name, depth first; a whiteout where the removed entry's name sorts; an opaque marker
 *   right after its directory)
 *
 * The mapping to tar headers lives here, in both directions, so that the tar a tree gives
 * (tree-tar.ts) is byte for byte the tar the tree was made from (tree-ingest.ts checks
 * that for every header as it reads).
 */
import { StoreError } from '../errors.js';
import { canonicalJson } from '../canonical-json.js';
import { isHash } from '../hash.js';
import { EPOCH, OPAQUE_MARKER, WHITEOUT_PREFIX, type UstarHeader } from '../layers/tar-format.js';

export const TREE_MAGIC = 'karapace-tree/1\n';

export type TreeEntryType =
  | 'directory' | 'file' | 'hardlink' | 'symlink' | 'character-device' | 'block-device' | 'fifo'
  /** An overlay whiteout: `path` was deleted. */
  | 'whiteout'
  /** An opaque directory marker: nothing below `path` in lower layers shows. */
  | 'opaque';

export interface TreeEntry {
  /** Relative, slash-separated. For `whiteout` the deleted path, for `opaque` the directory. */
  path: string;
  type: TreeEntryType;
  mode: number;
  uid: number;
  gid: number;
  /** Extended attributes in packing order: [name, base64 value]. */
  xattrs?: [string, string][];
  /** A symlink's target, or the path of the file a hardlink shares its inode with. */
  target?: string;
  /** A file's size; `content` is set when it is non-zero. */
  size?: number;
  /** blake3 of a file's content (an object). */
  content?: string;
  /** Device numbers [major, minor]. */
  device?: [number, number];
}

/** A header and PAX xattr records, as the packer's encodeEntry takes them. */
export interface TarEntryParts {
  header: UstarHeader;
  pax: [string, Buffer][];
}

function corruptTree(hash: string, why: string): StoreError {
  return new StoreError('KP_STORE_TREE_CORRUPT', `tree object ${hash} is corrupt: ${why}`, {
    hint: 'run `karapace verify-store` to list every damaged item; pull the environment again from a remote if it was pushed',
    data: { hash },
  });
}

export function serializeTree(entries: readonly TreeEntry[]): Buffer {
  let text = TREE_MAGIC;
  for (const e of entries) text += `${canonicalJson(e)}\n`;
  return Buffer.from(text, 'utf8');
}

const TYPES = new Set<TreeEntryType>(['directory', 'file', 'hardlink', 'symlink', 'character-device', 'block-device', 'fifo', 'whiteout', 'opaque']);
const isId = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/** Parses tree bytes (already verified against their hash by the object read). */
export function parseTree(hash: string, bytes: Buffer): TreeEntry[] {
  const text = bytes.toString('utf8');
  if (!text.startsWith(TREE_MAGIC)) throw corruptTree(hash, 'no tree header');
  const out: TreeEntry[] = [];
  const lines = text.slice(TREE_MAGIC.length).split('\n');
  if (lines.pop() !== '') throw corruptTree(hash, 'no final newline');
  for (const [i, line] of lines.entries()) {
    let e: TreeEntry;
    try {
      e = JSON.parse(line) as TreeEntry;
    } catch {
      throw corruptTree(hash, `entry ${i + 1} is not JSON`);
    }
    const ok = e && typeof e.path === 'string' && e.path !== '' && TYPES.has(e.type) && isId(e.mode) && isId(e.uid) && isId(e.gid)
      && (e.content === undefined || isHash(e.content)) && (e.size === undefined || isId(e.size))
      && (e.type !== 'file' || (e.size !== undefined && (e.size === 0) === (e.content === undefined)));
    if (!ok) throw corruptTree(hash, `entry ${i + 1} is malformed`);
    out.push(e);
  }
  return out;
}

/** Content objects a tree references (each once). */
export function treeContents(entries: readonly TreeEntry[]): Set<string> {
  const out = new Set<string>();
  for (const e of entries) if (e.content) out.add(e.content);
  return out;
}

function joinPath(dir: string, name: string): string {
  const slash = dir.lastIndexOf('/');
  return slash < 0 ? name : `${dir.slice(0, slash + 1)}${name}`;
}

/** The tar header and PAX records of a tree entry, as the deterministic packer writes them. */
export function tarPartsOf(e: TreeEntry): TarEntryParts {
  const header = (name: string, type: UstarHeader['type'], mode = e.mode): UstarHeader => ({
    name, mode, uid: e.uid, gid: e.gid, size: 0, mtime: EPOCH, type, linkname: null, devmajor: 0, devminor: 0,
  });
  const pax: [string, Buffer][] = (e.xattrs ?? []).map(([k, v]) => [`SCHILY.xattr.${k}`, Buffer.from(v, 'base64')]);
  switch (e.type) {
    case 'whiteout': {
      const base = e.path.slice(e.path.lastIndexOf('/') + 1);
      return { header: header(joinPath(e.path, `${WHITEOUT_PREFIX}${base}`), 'file', 0), pax: [] };
    }
    case 'opaque': return { header: header(`${e.path}/${OPAQUE_MARKER}`, 'file', 0), pax: [] };
    case 'hardlink': return { header: { ...header(e.path, 'link'), linkname: e.target ?? null }, pax: [] };
    case 'symlink': return { header: { ...header(e.path, 'symlink'), linkname: e.target ?? null }, pax };
    case 'file': return { header: { ...header(e.path, 'file'), size: e.size ?? 0 }, pax };
    case 'character-device':
    case 'block-device': return { header: { ...header(e.path, e.type), devmajor: e.device?.[0] ?? 0, devminor: e.device?.[1] ?? 0 }, pax };
    default: return { header: header(e.path, e.type), pax };
  }
}

/**
 * The tree entry of a decoded tar entry (name from PAX when present, directories without
 * their trailing slash), or undefined when the packer would not have written it so.
 * Callers check the round trip on the bytes; this only decides what the entry means.
 */
export function treeEntryOf(header: UstarHeader, pax: Map<string, Buffer> | null, content: string | undefined): TreeEntry | undefined {
  const xattrs: [string, string][] = [];
  for (const [key, value] of pax ?? []) {
    if (key.startsWith('SCHILY.xattr.')) xattrs.push([key.slice('SCHILY.xattr.'.length), value.toString('base64')]);
    else if (key !== 'path' && key !== 'linkpath' && key !== 'uid' && key !== 'gid') return undefined;
  }
  const rawName = pax?.get('path')?.toString('utf8') ?? header.name;
  const name = rawName.replace(/\/+$/, '');
  const uid = pax?.has('uid') ? Number(pax.get('uid')!.toString()) : header.uid;
  const gid = pax?.has('gid') ? Number(pax.get('gid')!.toString()) : header.gid;
  const linkname = pax?.get('linkpath')?.toString('utf8') ?? header.linkname ?? undefined;
  const base = { path: name, mode: header.mode, uid, gid, ...(xattrs.length ? { xattrs } : {}) };
  const slash = name.lastIndexOf('/');
  const leaf = name.slice(slash + 1);
  const dir = slash < 0 ? '' : name.slice(0, slash);
  if (header.type === 'file' && header.size === 0 && header.mode === 0 && xattrs.length === 0 && leaf.startsWith(WHITEOUT_PREFIX)) {
    if (leaf === OPAQUE_MARKER) return dir ? { ...base, path: dir, type: 'opaque' } : undefined;
    const removed = leaf.slice(WHITEOUT_PREFIX.length);
    if (removed) return { ...base, path: dir ? `${dir}/${removed}` : removed, type: 'whiteout' };
  }
  switch (header.type) {
    case 'file': return { ...base, type: 'file', size: header.size, ...(content ? { content } : {}) };
    case 'link': return linkname ? { ...base, type: 'hardlink', target: linkname } : undefined;
    case 'symlink': return linkname !== undefined ? { ...base, type: 'symlink', target: linkname } : undefined;
    case 'character-device':
    case 'block-device': return { ...base, type: header.type, device: [header.devmajor, header.devminor] };
    case 'directory':
    case 'fifo': return { ...base, type: header.type };
    default: return undefined;
  }
}
