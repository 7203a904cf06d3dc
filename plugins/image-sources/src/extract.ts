/**
 * Safe extraction of rootfs tarballs and OCI layers into a directory.
 *
 * Unlike the kernel's layer unpacker (which keeps overlay whiteouts for lower dirs), this
 * flattens: OCI whiteouts (`.wh.<name>`, `.wh..wh..opq`) delete what earlier layers wrote.
 * Hostile entries are refused: absolute paths, `..`, and anything whose parent is not a
 * real directory inside the target (a symlink planted by an earlier entry). Regular files
 * are created with O_EXCL|O_NOFOLLOW after unlinking what was there, so nothing is ever
 * written through a symlink. File contents are hashed while they stream past, so the tree
 * digest afterwards does not have to read them again.
 *
 * Filesystem calls are synchronous on purpose: a rootfs is thousands of small files, and a
 * thread-pool round trip per syscall made extraction ~10x slower than tar(1). The archive
 * still streams (and decompresses in another process) while we write.
 */
import {
  chmodSync, chownSync, closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, mkdirSync,
  openSync, readdirSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeSync, type Stats,
} from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { RuntimeFailure, StreamHasher } from '@karapace/kernel';

export interface ExtractOptions {
  /** Apply OCI whiteouts (layers); plain rootfs tarballs keep `.wh.` files as files. */
  whiteouts?: boolean;
  /** Content hashes from earlier layers, updated in place (path → hash/size). */
  hashes?: Map<string, FileHash>;
  /** Called with the number of archive bytes consumed so far. */
  onEntry?(entries: number): void;
}

export interface FileHash {
  hash: string;
  size: number;
}

export interface ExtractStats {
  entries: number;
  files: number;
  bytes: number;
  /** Device nodes and fifos that could not be created (the runtime provides /dev). */
  skipped: string[];
}

const IS_ROOT = process.getuid?.() === 0;
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export function unsafeEntry(name: string, why: string): RuntimeFailure {
  return new RuntimeFailure('KP_IMAGE_UNSAFE_ARCHIVE', `refusing archive entry "${name}": ${why}`, {
    hint: 'the image archive is malformed or hostile; use an image from a source you trust',
    data: { entry: name },
  });
}

/** Normalises an archive path to a relative path with no `.`/`..`; '' is the root. */
export function entryPath(raw: string): string {
  if (raw.startsWith('/')) throw unsafeEntry(raw, 'absolute path');
  const parts: string[] = [];
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw unsafeEntry(raw, 'path contains ".."');
    if (part.includes('\0')) throw unsafeEntry(raw, 'NUL in path');
    parts.push(part);
  }
  return parts.join('/');
}

interface DeferredDir {
  abs: string;
  mode: number;
  uid: number;
  gid: number;
  mtime?: Date;
}

/** Extracts one tar stream into `root` (which must exist). */
export async function extractTar(input: Readable, root: string, options: ExtractOptions = {}): Promise<ExtractStats> {
  const hashes = options.hashes ?? new Map<string, FileHash>();
  const stats: ExtractStats = { entries: 0, files: 0, bytes: 0, skipped: [] };
  // Directories known to be real directories under root (created or checked by us).
  const dirs = new Set<string>(['']);
  const deferred = new Map<string, DeferredDir>();
  // Paths this archive wrote: an opaque marker must not delete them.
  const written = new Set<string>();

  async function ensureParents(rel: string, name: string): Promise<void> {
    const parts = rel.split('/');
    let prefix = '';
    for (let i = 0; i < parts.length - 1; i++) {
      prefix = prefix ? `${prefix}/${parts[i]}` : parts[i]!;
      if (dirs.has(prefix)) continue;
      const abs = join(root, prefix);
      const st = lstatOrUndefined(abs);
      if (!st) mkdirSync(abs, { mode: 0o755 });
      else if (!st.isDirectory()) throw unsafeEntry(name, `its parent "${prefix}" is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}`);
      dirs.add(prefix);
    }
  }

  function forget(rel: string): void {
    dirs.delete(rel);
    const prefix = rel + '/';
    for (const d of dirs) if (d.startsWith(prefix)) dirs.delete(d);
    for (const d of deferred.keys()) if (d === rel || d.startsWith(prefix)) deferred.delete(d);
  }

  /** Removes whatever is at `rel` (never following a symlink). */
  async function clear(rel: string, keepDir: boolean): Promise<'dir' | 'none'> {
    const abs = join(root, rel);
    const st = lstatOrUndefined(abs);
    if (!st) return 'none';
    if (st.isDirectory()) {
      if (keepDir) return 'dir';
      rmSync(abs, { recursive: true, force: true });
    } else {
      unlinkSync(abs);
    }
    forget(rel);
    return 'none';
  }

  async function applyWhiteout(rel: string, name: string): Promise<boolean> {
    const slash = rel.lastIndexOf('/');
    const parent = slash < 0 ? '' : rel.slice(0, slash);
    const base = slash < 0 ? rel : rel.slice(slash + 1);
    if (!base.startsWith('.wh.')) return false;
    await ensureParents(rel, name);
    if (base === '.wh..wh..opq') {
      const dir = join(root, parent);
      for (const child of readdirSync(dir)) {
        const childRel = parent ? `${parent}/${child}` : child;
        if (written.has(childRel)) continue;
        rmSync(join(dir, child), { recursive: true, force: true });
        forget(childRel);
      }
    } else {
      const target = parent ? `${parent}/${base.slice(4)}` : base.slice(4);
      if (!base.slice(4) || base.slice(4) === '..' || base.slice(4) === '.') throw unsafeEntry(name, 'invalid whiteout');
      rmSync(join(root, target), { recursive: true, force: true });
      forget(target);
    }
    return true;
  }

  async function writeEntry(header: tarStream.Header, body: Readable): Promise<void> {
    const name = header.name;
    const rel = entryPath(name);
    const mode = (header.mode ?? 0o644) & 0o7777;
    const uid = header.uid ?? 0;
    const gid = header.gid ?? 0;
    stats.entries++;
    if (rel === '') {
      if (header.type === 'directory') deferred.set('', { abs: root, mode, uid, gid, mtime: header.mtime });
      return drain(body);
    }
    if (options.whiteouts && (await applyWhiteout(rel, name))) return drain(body);
    await ensureParents(rel, name);
    const abs = join(root, rel);
    written.add(rel);
    switch (header.type) {
      case 'directory': {
        if ((await clear(rel, true)) === 'none') mkdirSync(abs, { mode: 0o700 });
        dirs.add(rel);
        deferred.set(rel, { abs, mode, uid, gid, mtime: header.mtime });
        return drain(body);
      }
      case 'file':
      case 'contiguous-file':
      case undefined:
      case null: {
        await clear(rel, false);
        const fd = openSync(abs, CREATE_FLAGS, 0o600);
        const hasher = new StreamHasher();
        try {
          for await (const chunk of body) {
            const buf = chunk as Buffer;
            hasher.update(buf);
            for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);
          }
          if (IS_ROOT) fchownSync(fd, uid, gid);
          // chmod after chown: chown clears setuid/setgid bits.
          fchmodSync(fd, mode);
          if (header.mtime) futimesSync(fd, header.mtime, header.mtime);
        } finally {
          closeSync(fd);
        }
        hashes.set(rel, { hash: hasher.digest(), size: hasher.size });
        stats.files++;
        stats.bytes += hasher.size;
        return;
      }
      case 'link': {
        const target = entryPath(header.linkname ?? '');
        if (!target) throw unsafeEntry(name, 'hard link without a target');
        await ensureParents(target, name);
        const tst = lstatOrUndefined(join(root, target));
        if (!tst || tst.isDirectory()) throw unsafeEntry(name, `hard link target "${target}" is ${tst ? 'a directory' : 'missing'}`);
        await clear(rel, false);
        linkSync(join(root, target), abs);
        const known = hashes.get(target);
        if (known) hashes.set(rel, known);
        return drain(body);
      }
      case 'symlink': {
        await clear(rel, false);
        symlinkSync(header.linkname ?? '', abs);
        if (IS_ROOT) lchownSync(abs, uid, gid);
        return drain(body);
      }
      case 'character-device':
      case 'block-device':
      case 'fifo':
        // Node cannot mknod; a rootless runtime could not use them anyway. /dev comes from the runtime.
        stats.skipped.push(rel);
        return drain(body);
      default:
        return drain(body);
    }
  }

  const extract = tarStream.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, body, next) => {
      writeEntry(header, body as unknown as Readable).then(
        () => {
          options.onEntry?.(stats.entries);
          next();
        },
        (err: unknown) => {
          body.resume();
          extract.destroy(err as Error);
        },
      );
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
    input.on('error', (err) => extract.destroy(err));
  });
  input.pipe(extract);
  try {
    await done;
  } catch (err) {
    input.destroy();
    throw err instanceof RuntimeFailure ? err : new RuntimeFailure('KP_IMAGE_EXTRACT_FAILED', `extracting the image failed: ${(err as Error).message}`, {
      hint: 'the archive is truncated or corrupt; delete it and download again',
      cause: err,
    });
  }
  // Directory modes last (deepest first): a read-only directory must not block its children.
  const pending = [...deferred.values()].sort((a, b) => b.abs.length - a.abs.length);
  for (const d of pending) {
    if (IS_ROOT) chownSync(d.abs, d.uid, d.gid);
    chmodSync(d.abs, d.mode);
    if (d.mtime) utimesSync(d.abs, d.mtime, d.mtime);
  }
  return stats;
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function drain(body: Readable): Promise<void> {
  body.resume();
  await new Promise<void>((resolve, reject) => {
    body.on('end', resolve);
    body.on('error', reject);
  });
}
