/**
 * Layers that move as trees and content objects (bundle format v3): the pull side's checks.
 * A tree from a remote is untrusted until the tar it gives hashes to the blake3 the bundle
 * names (itself checked against the digest the user asked for); before that its paths are
 * checked, its objects are checked against their names and sizes as they arrive, and the
 * rebuilt tar against that blake3 as it is produced (consumers unpack into staging only).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { RuntimeFailure } from '../errors.js';
import { StreamHasher } from '../hash.js';
import { encodeEntry } from '../layers/pack.js';
import { END_OF_ARCHIVE, padding } from '../layers/tar-format.js';
import { corruptObject } from '../store/objects.js';
import { parseTree, tarPartsOf, type TreeEntry } from '../store/tree.js';
import { integrityError, type BundleBlobRef } from './format.js';

const MAX_PATH = 4096;
const CHUNK = 1 << 20;
const LARGE_PIECE = 64 << 10;

export function badTree(what: string, why: string): RuntimeFailure {
  return new RuntimeFailure('KP_REMOTE_BAD_TREE', `the remote's tree of ${what} is refused: ${why}`, {
    hint: 'the remote holds tampered data or was written by an incompatible version; nothing was added to your store. Ask its owner to push it again',
    data: { what, why },
  });
}

function checkPath(path: string, what: string, where: string): void {
  if (path.length > MAX_PATH || path.includes('\0')) throw badTree(what, `${where} is not a path of at most ${MAX_PATH} bytes`);
  if (path.startsWith('/')) throw badTree(what, `${where} is absolute (${JSON.stringify(path)})`);
  if (path.split('/').some((c) => c === '' || c === '.' || c === '..')) throw badTree(what, `${where} has an empty, "." or ".." component (${JSON.stringify(path)})`);
}

/**
 * Parses a tree's bytes (already checked against its blake3) and refuses what no tar the
 * packer writes contains: absolute paths, `..`, an entry (or hard-link target) below a
 * symlink of the same layer, one content hash with two sizes. Answers the entries and the
 * content objects they name, with their sizes.
 */
export function checkedTree(ref: BundleBlobRef, bytes: Buffer, what: string): { entries: TreeEntry[]; contents: Map<string, number> } {
  let entries: TreeEntry[];
  try {
    entries = parseTree(ref.blob, bytes);
  } catch (err) {
    throw badTree(what, (err as Error).message);
  }
  const symlinks = new Set<string>();
  const below = (path: string) => {
    for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) if (symlinks.has(path.slice(0, i))) return path.slice(0, i);
    return undefined;
  };
  const contents = new Map<string, number>();
  for (const [i, e] of entries.entries()) {
    const where = `entry ${i + 1}`;
    checkPath(e.path, what, where);
    const link = below(e.path);
    if (link) throw badTree(what, `${where} (${JSON.stringify(e.path)}) lies below the symlink ${JSON.stringify(link)}`);
    if (e.type === 'hardlink') {
      if (typeof e.target !== 'string') throw badTree(what, `${where} is a hard link without a target`);
      checkPath(e.target, what, `${where}'s link target`);
      if (below(e.target)) throw badTree(what, `${where}'s link target lies below a symlink`);
    }
    if (e.type === 'symlink') symlinks.add(e.path);
    if (e.content) {
      const known = contents.get(e.content);
      if (known !== undefined && known !== e.size) throw badTree(what, `content ${e.content.slice(0, 12)} is named with two sizes`);
      contents.set(e.content, e.size!);
    }
  }
  return { entries, contents };
}

/**
 * Where a content object's bytes come from: a file (a staged download or a store object,
 * checked here against its hash and size), or a stream the caller checks against its hash
 * and size as it passes (a download going straight into the tar).
 */
export type ContentSource = (hash: string, size: number) => string | Promise<AsyncIterable<Buffer>>;

/**
 * The tar a tree gives, its contents from `contentOf`, and the whole tar checked against
 * `expect` when it ends: until then the output is provisional.
 */
export async function* tarFromTree(entries: readonly TreeEntry[], contentOf: ContentSource, expect: BundleBlobRef, what: string): AsyncGenerator<Buffer> {
  const tar = new StreamHasher();
  let pending: Buffer[] = [];
  let pendingSize = 0;
  const flush = (): Buffer => {
    const out = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingSize);
    pending = [];
    pendingSize = 0;
    tar.update(out);
    return out;
  };
  const push = (b: Buffer) => {
    pending.push(b);
    pendingSize += b.length;
  };
  /** A large piece goes out as it is (after what is pending), not copied into a joined chunk. */
  function* emit(b: Buffer): Generator<Buffer> {
    if (b.length < LARGE_PIECE) {
      push(b);
      if (pendingSize >= CHUNK) yield flush();
      return;
    }
    if (pendingSize > 0) yield flush();
    tar.update(b);
    yield b;
  }
  for (const e of entries) {
    for (const part of encodeEntry(tarPartsOf(e))) push(part);
    if (e.content) {
      const path = contentOf(e.content, e.size!);
      if (typeof path !== 'string') {
        let left = e.size!;
        for await (const c of await path) {
          left -= c.length;
          if (left < 0) throw integrityError(`content object ${e.content.slice(0, 12)} size`, `${e.size} bytes`, `more than ${e.size} bytes`);
          // A download's chunk is valid only until the one after next is read: a small one waiting to be joined is copied.
          yield* emit(c.length < LARGE_PIECE ? Buffer.from(c) : c);
        }
        if (left !== 0) throw integrityError(`content object ${e.content.slice(0, 12)} size`, `${e.size} bytes`, `${e.size! - left} bytes`);
        push(Buffer.alloc(padding(e.size!)));
        if (pendingSize >= CHUNK) yield flush();
        continue;
      }
      const fd = openSync(path, 'r');
      const hasher = new StreamHasher();
      try {
        let left = e.size!;
        while (left > 0) {
          const buf = Buffer.allocUnsafe(Math.min(CHUNK, left));
          const n = readSync(fd, buf, 0, buf.length, null);
          if (n === 0) break;
          const got = buf.subarray(0, n);
          hasher.update(got);
          left -= n;
          yield* emit(got);
        }
        if (left === 0 && readSync(fd, Buffer.alloc(1), 0, 1, null) !== 0) left = -1;
        if (left !== 0) throw corruptObject(path, e.content, `a file of another size than ${e.size}`);
      } finally {
        closeSync(fd);
      }
      const actual = hasher.digest();
      if (actual !== e.content) throw corruptObject(path, e.content, actual);
      push(Buffer.alloc(padding(e.size!)));
    }
    if (pendingSize >= CHUNK) yield flush();
  }
  push(END_OF_ARCHIVE);
  yield flush();
  const actual = tar.digest();
  if (actual !== expect.blob || tar.size !== expect.size) {
    throw integrityError(`${what} (the tar rebuilt from its tree)`, `${expect.blob} (${expect.size} bytes)`, `${actual} (${tar.size} bytes)`);
  }
}
