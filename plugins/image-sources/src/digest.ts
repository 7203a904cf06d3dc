/**
 * The image digest and its cheap re-verification.
 *
 * `digestRootfs` produces exactly the kernel's `digestTree` value (DESIGN §8: path, type,
 * mode, owner, size, content hash, link target in sorted walk order) but takes the content
 * hashes extraction already computed, so a fresh image is read from disk once, not twice.
 * In the same walk it computes a stat fingerprint (inode, size, mode, owner, mtime, ctime of
 * every entry). Later uses compare only the fingerprint — an lstat walk, no reads — and
 * re-digest when it changed. ctime cannot be set from user space, so any write, chmod,
 * rename or replacement inside the image changes it.
 *
 * The walk uses synchronous lstat/readdir: thousands of tiny syscalls, where a thread-pool
 * round trip each costs more than the call itself. The fingerprint alone, checked on every
 * use of a cached image, is walked natively when it can be (native-fingerprint.ts).
 */
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { hashFileOfSize, StreamHasher, treeDigestLine, type DiskStat, type TreeLineKind } from '@karapace/kernel';
import { nativeFingerprintAsync } from './native-fingerprint.js';

/** A file's content hash and size (blake3 hex). */
export interface FileHash {
  hash: string;
  size: number;
}

/** Content hashes already computed, by relative path (a Map, or a view over another structure). */
export interface KnownHashes {
  get(rel: string): FileHash | undefined;
}

export interface RootfsDigest {
  digest: string;
  fingerprint: string;
  entries: number;
  bytes: number;
}

function fingerprintLine(rel: string, st: DiskStat): string {
  return `${rel}\0${st.ino}\0${st.mode}\0${st.uid}:${st.gid}\0${st.size}\0${st.mtimeMs}\0${st.ctimeMs}\n`;
}

/** Walks `root` in the kernel's canonical order, calling `visit` for each entry (awaited only when it returns a promise). */
async function walk(root: string, visit: (rel: string, abs: string, st: DiskStat) => Promise<void> | void): Promise<void> {
  // Plain concatenation: `root` is absolute and the names come from readdir (path.join's
  // normalising shows up at thousands of entries).
  const base = root.endsWith('/') ? root : `${root}/`;
  async function dir(rel: string): Promise<void> {
    const names = readdirSync(rel ? base + rel : root).sort();
    for (const name of names) {
      const childRel = rel ? `${rel}/${name}` : name;
      const abs = base + childRel;
      const st = lstatSync(abs);
      const pending = visit(childRel, abs, st);
      if (pending) await pending;
      if (st.isDirectory()) await dir(childRel);
    }
  }
  await dir('');
}


/** Lines for a hasher, fed in large pieces: one native call per line costs more than the hashing. */
class LineBuffer {
  private lines: string[] = [];
  private chars = 0;
  constructor(private readonly hasher: StreamHasher) {}
  add(line: string): void {
    this.lines.push(line);
    this.chars += line.length;
    if (this.chars > 1 << 16) this.flush();
  }
  flush(): void {
    if (this.lines.length) this.hasher.update(this.lines.join(''));
    this.lines = [];
    this.chars = 0;
  }
  digest(): string {
    this.flush();
    return this.hasher.digest();
  }
}

/**
 * Visits what `disk` records in the walk's order (as if each directory's names were
 * sorted). `order`: paths already in that order (the canonical digest's), used when they
 * cover every recorded path, so the same few thousand paths are not sorted twice.
 */
async function recorded(root: string, disk: Map<string, DiskStat>, visit: (rel: string, abs: string, st: DiskStat) => Promise<void> | void, order?: readonly string[]): Promise<void> {
  const base = root.endsWith('/') ? root : `${root}/`;
  let paths = order?.filter((p) => disk.has(p));
  if (paths?.length !== disk.size) {
    // '/' → '\0' sorts a directory's contents right after it, before its next sibling.
    paths = [...disk.keys()].map((p) => [p.replaceAll('/', '\0'), p] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, p]) => p);
  }
  for (const rel of paths) {
    const pending = visit(rel, base + rel, disk.get(rel)!);
    if (pending) await pending;
  }
}

/** File types by the S_IFMT bits of a mode (recorded stats are plain objects, not fs.Stats). */
const S_IFMT = 0o170000;
const TYPE_LETTER: Record<number, TreeLineKind> = { 0o040000: 'd', 0o120000: 'l', 0o100000: 'f', 0o020000: 'c', 0o060000: 'b', 0o010000: 'p' };

/**
 * The disk digest and fingerprint of `root`. `known`: content hashes already computed.
 * `disk`: every path under root with its lstat data, as the unpacker recorded it while
 * creating the tree (then no walk is needed; the values are the same), and `order`: paths
 * sorted as the walk visits them, if the caller has them.
 */
export async function digestRootfs(root: string, known?: KnownHashes, disk?: Map<string, DiskStat>, order?: readonly string[]): Promise<RootfsDigest> {
  const out = new LineBuffer(new StreamHasher());
  const fp = new LineBuffer(new StreamHasher());
  fp.add(fingerprintLine('', lstatSync(root)));
  let entries = 0;
  let bytes = 0;
  type Visit = Parameters<typeof walk>[1];
  const each = disk ? (visit: Visit) => recorded(root, disk, visit, order) : (visit: Visit) => walk(root, visit);
  await each((rel, abs, st) => {
    const perm = st.mode & 0o7777;
    const type = TYPE_LETTER[st.mode & S_IFMT] ?? 's';
    if (type === 'f') {
      const cached = known?.get(rel);
      if (!cached || cached.size !== st.size) {
        // Not seen while unpacking (or changed since): read it, then go on.
        return hashFileOfSize(abs, st.size).then(({ hash, size }) => {
          bytes += size;
          out.add(treeDigestLine('f', rel, perm, st.uid, st.gid, size, hash));
          fp.add(fingerprintLine(rel, st));
          entries++;
        });
      }
      bytes += cached.size;
      out.add(treeDigestLine('f', rel, perm, st.uid, st.gid, cached.size, cached.hash));
    } else out.add(treeDigestLine(type, rel, perm, st.uid, st.gid, type === 'd' ? undefined : type === 'l' ? readlinkSync(abs) : st.rdev));
    fp.add(fingerprintLine(rel, st));
    entries++;
  });
  return { digest: out.digest(), fingerprint: fp.digest(), entries, bytes };
}

/**
 * The fingerprint of `root` from stats recorded while unpacking, already in the walk's
 * order (the native unpacker's, which computed the disk digest itself): no walk, no sort.
 */
export function fingerprintRecorded(root: string, disk: Map<string, DiskStat>): string {
  const fp = new LineBuffer(new StreamHasher());
  fp.add(fingerprintLine('', lstatSync(root)));
  for (const [rel, st] of disk) fp.add(fingerprintLine(rel, st));
  return fp.digest();
}

/** The stat fingerprint alone: an lstat walk, no file contents read (native when it can, see native-fingerprint.ts). */
export async function fingerprintRootfs(root: string): Promise<string> {
  return (await nativeFingerprintAsync(root)) ?? fingerprintRootfsReference(root);
}

/** The stat fingerprint's definition: what native/tree-fingerprint.c is held to. */
export async function fingerprintRootfsReference(root: string): Promise<string> {
  const fp = new LineBuffer(new StreamHasher());
  fp.add(fingerprintLine('', lstatSync(root)));
  await walk(root, (rel, _abs, st) => {
    fp.add(fingerprintLine(rel, st));
  });
  return fp.digest();
}
