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
 * round trip each costs more than the call itself.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { hashBytes, hashFile, StreamHasher } from '@karapace/kernel';

/** A file's content hash and size (blake3 hex). */
export interface FileHash {
  hash: string;
  size: number;
}

export interface RootfsDigest {
  digest: string;
  fingerprint: string;
  entries: number;
  bytes: number;
}

function fingerprintLine(rel: string, st: Stats): string {
  return `${rel}\0${st.ino}\0${st.mode}\0${st.uid}:${st.gid}\0${st.size}\0${st.mtimeMs}\0${st.ctimeMs}\n`;
}

/** Walks `root` in the kernel's canonical order, calling `visit` for each entry (awaited only when it returns a promise). */
async function walk(root: string, visit: (rel: string, abs: string, st: Stats) => Promise<void> | void): Promise<void> {
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

/** Small files in one synchronous read (most of a rootfs); big ones streamed. */
async function hashContent(abs: string, size: number): Promise<FileHash> {
  if (size < 8 << 20) return { hash: hashBytes(readFileSync(abs)), size };
  return hashFile(abs);
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

export async function digestRootfs(root: string, known?: Map<string, FileHash>): Promise<RootfsDigest> {
  const out = new LineBuffer(new StreamHasher());
  const fp = new LineBuffer(new StreamHasher());
  fp.add(fingerprintLine('', lstatSync(root)));
  let entries = 0;
  let bytes = 0;
  await walk(root, (rel, abs, st) => {
    const perm = (st.mode & 0o7777).toString(8);
    let line: string;
    if (st.isDirectory()) line = `d ${rel} ${perm} ${st.uid}:${st.gid}`;
    else if (st.isSymbolicLink()) line = `l ${rel} ${perm} ${st.uid}:${st.gid} -> ${readlinkSync(abs)}`;
    else if (st.isFile()) {
      const cached = known?.get(rel);
      if (!cached || cached.size !== st.size) {
        // Not seen while unpacking (or changed since): read it, then go on.
        return hashContent(abs, st.size).then(({ hash, size }) => {
          bytes += size;
          out.add(`f ${rel} ${perm} ${st.uid}:${st.gid} ${size} ${hash}\n`);
          fp.add(fingerprintLine(rel, st));
          entries++;
        });
      }
      bytes += cached.size;
      line = `f ${rel} ${perm} ${st.uid}:${st.gid} ${cached.size} ${cached.hash}`;
    } else {
      const kind = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : 's';
      line = `${kind} ${rel} ${perm} ${st.uid}:${st.gid} ${st.rdev}`;
    }
    out.add(line + '\n');
    fp.add(fingerprintLine(rel, st));
    entries++;
  });
  return { digest: out.digest(), fingerprint: fp.digest(), entries, bytes };
}

/** The stat fingerprint alone: an lstat walk, no file contents read. */
export async function fingerprintRootfs(root: string): Promise<string> {
  const fp = new LineBuffer(new StreamHasher());
  fp.add(fingerprintLine('', lstatSync(root)));
  await walk(root, (rel, _abs, st) => {
    fp.add(fingerprintLine(rel, st));
  });
  return fp.digest();
}
