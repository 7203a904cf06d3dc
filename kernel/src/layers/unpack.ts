/**
 * Unpacking a tar into a directory, refusing anything that could write outside it:
 * absolute paths, `..`, entries whose parent is a symlink (planted by an earlier entry or
 * already there), hardlinks to paths outside or to directories, oversized headers.
 * Overlay markers are either applied (OCI image flattening) or recreated as overlayfs
 * whiteouts and opaque xattrs (restoring an upper dir).
 */
import {
  closeSync, constants, fchmodSync, fchownSync, lchownSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync,
  rmSync, symlinkSync, chmodSync, unlinkSync, writeSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import {
  BLOCK, MAX_PATH_BYTES, MAX_PAX_BYTES, OPAQUE_MARKER, WHITEOUT_PREFIX, badTar, decodePax, padding, safeEntryPath,
  type UstarHeader,
} from './tar-format.js';
import { makeWhiteout, markOpaque, mknodDevice, writeXattr } from './xattrs.js';
import { Reader, isZero, xattrsFrom } from './tar-reader.js';
import { decodeHeader } from './tar-header.js';
import { LazyPool, UnpackPool } from './unpack-pool.js';
import type { DiskStat } from './unpack-protocol.js';
import { StreamHasher } from '../hash.js';

export interface UnpackOptions {
  /** `apply`: delete what `.wh.` markers name (flattening OCI layers). `overlay`: recreate overlayfs whiteouts. */
  whiteouts: 'apply' | 'overlay';
  /** Set owners from the archive. Default: only when running as root. */
  owners?: boolean;
  /**
   * Observes every entry as the archive gives it (PAX and long names resolved, path
   * normalised), before it is applied. For a regular file it may return a function, which
   * sees the content chunks as they are written (valid only during the call), or a
   * ContentHashTap, which gets the content's blake3 — computed by the thread that writes
   * the file, so hashing leaves the parsing thread — before unpackTarStream resolves.
   */
  onEntry?(entry: UnpackEntry): ((chunk: Buffer) => void) | ContentHashTap | void;
  /**
   * Worker threads that create files, symlinks and hard links (and directories, when
   * there is one thread) while this thread parses (unpack-pool.ts); only into an empty
   * target. 0: none. Default: one per CPU, at most 4.
   */
  threads?: number;
  /**
   * Return `disk` in the stats: every path created, as lstat(2) sees it when the unpack
   * ends, collected while unpacking (the pool's threads fstat what they create), so a
   * caller that digests or fingerprints the tree needs no walk over it afterwards. Only
   * for an empty target that the archive only adds to; otherwise `disk` is absent.
   */
  recordDisk?: boolean;
  /**
   * The source's bytes are this file's, from its start (a plain tar on disk): the pool's
   * threads read file contents from it themselves instead of getting copies of them from
   * this thread. Not used for entries whose `onEntry` wants the content chunks.
   */
  sourceFile?: string;
}

/** The default size of the unpacker's thread pool. */
export function defaultUnpackThreads(): number {
  return Math.min(availableParallelism(), 4);
}

/**
 * Starts the unpacker's threads now, for an unpack expected soon (a cold build): the next
 * unpackTarStream with this many threads (default: defaultUnpackThreads) uses them
 * instead of waiting for new ones to boot. Unused, they do not keep the process alive.
 */
export function prestartUnpackThreads(threads = defaultUnpackThreads()): void {
  UnpackPool.prestart(threads);
}

/** Asks for a file's content hash (blake3, hex). */
export interface ContentHashTap {
  onHash(hash: string): void;
}

/** One archive entry as `onEntry` sees it. */
export interface UnpackEntry {
  /** Normalised relative path ('' is the root). */
  path: string;
  type: UstarHeader['type'];
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}

export interface UnpackStats {
  entries: number;
  bytes: number;
  /** Entries that could not be recreated here (device nodes, privileged xattrs), with why. */
  warnings: string[];
  /** With `recordDisk`: every created path (relative; not the root) and its lstat data. */
  disk?: Map<string, DiskStat>;
}

export async function unpackTarStream(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, targetDir: string, options: UnpackOptions): Promise<UnpackStats> {
  const reader = new Reader(source);
  const workers = new LazyPool(options.threads ?? defaultUnpackThreads());
  const sourceFd = options.sourceFile !== undefined && (options.threads ?? 1) > 0 ? openSync(options.sourceFile, 'r') : undefined;
  try {
    return await unpackFrom(reader, targetDir, options, workers, sourceFd);
  } finally {
    // Stopped before returning, so nothing queued can still write into the target (or read the source).
    await workers.close();
    if (sourceFd !== undefined) closeSync(sourceFd);
    // A rejected archive stops mid-stream: end the source too, so it closes its file.
    await reader.close();
  }
}

async function unpackFrom(reader: Reader, targetDir: string, options: UnpackOptions, workers: LazyPool, sourceFd: number | undefined): Promise<UnpackStats> {
  const owners = options.owners ?? process.geteuid?.() === 0;
  const stats: UnpackStats = { entries: 0, bytes: 0, warnings: [] };
  /** Relative dirs known to be real directories (not symlinks) inside the target. */
  const safeDirs = new Set<string>(['']);
  /** Paths this archive created: an opaque marker hides everything else. */
  const created = new Set<string>();
  const dirAttrs: { rel: string; abs: string; h: UstarHeader; chown: boolean }[] = [];
  mkdirSync(targetDir, { recursive: true });
  // Into an empty target, only this archive's own entries can be in the way: skip the lstat.
  const fresh = readdirSync(targetDir).length === 0;
  const asRoot = process.geteuid?.() === 0 && process.getegid?.() === 0;
  // Root creating into a fresh target without setgid: whatever this call creates is already
  // root:root, so 0:0 entries need no chown (a setgid target would hand down its group).
  const bornRoot = asRoot && fresh && (lstatSync(targetDir).mode & 0o2000) === 0;
  /** Directories this call made with mkdir (for bornRoot: already root:root). */
  const made = new Set<string>();
  const umask = process.umask();
  /**
   * Parallel mode: while the archive only adds paths to an empty target, what exists is
   * exactly what it made, so the checks below consult `kinds` instead of lstat(2), and small
   * entries go to the thread pool. The first entry that replaces or removes something ends it
   * (after the pool has caught up), and the serial, lstat-checked path takes over.
   */
  let parallel = fresh;
  /** Non-directory paths made in parallel mode, by type (a hard link: its target's). */
  const kinds = new Map<string, UstarHeader['type']>();
  /** The pool worker that creates a path (absent: this thread made it). */
  const owner = new Map<string, number>();
  const serial = async () => {
    if (!parallel) return;
    parallel = false;
    await workers.opened?.drain();
  };
  /** recordDisk: stats the pool's threads took as they created things, and paths to lstat at the end (made here, or changed since). */
  const disk = options.recordDisk && fresh ? new Map<string, DiskStat>() : undefined;
  const restat = new Set<string>();
  const statOf = (rel: string) => (disk ? (st: DiskStat) => { disk.set(rel, st); } : undefined);

  // Plain concatenation: `rel` is normalised (safeEntryPath), and path.join's own normalising
  // shows up at thousands of entries.
  const rootSlash = resolve(targetDir).replace(/\/?$/, '/');
  const abs = (rel: string) => (rel ? rootSlash + rel : targetDir);
  const forget = (rel: string) => {
    const prefix = `${rel}/`;
    for (const d of safeDirs) if (d === rel || d.startsWith(prefix)) safeDirs.delete(d);
  };

  /** With one pool thread everything it is given is applied in order, so directories can be queued too. */
  const dirPool = () => {
    const pool = parallel ? workers.get() : undefined;
    return pool?.size === 1 ? pool : undefined;
  };
  const makeDir = async (p: string, mode: number) => {
    const pool = dirPool();
    if (pool) await pool.mkdir(p, mode);
    else mkdirSync(p, mode);
  };
  /** Before this thread touches the tree itself: the directories queued must exist first. */
  const direct = async () => {
    if (workers.opened?.dirsQueued) await workers.opened.drain();
  };

  async function ensureDir(rel: string, create: boolean): Promise<string> {
    if (safeDirs.has(rel)) return abs(rel);
    const slash = rel.lastIndexOf('/');
    await ensureDir(slash < 0 ? '' : rel.slice(0, slash), create);
    const p = abs(rel);
    const st = parallel ? undefined : lstatSync(p, { throwIfNoEntry: false });
    const kind = parallel ? kinds.get(rel) : undefined;
    if (kind === 'symlink' || st?.isSymbolicLink()) {
      throw badTar(`an entry goes through the symlink "${rel}"`, { name: rel });
    } else if (kind !== undefined || (st && !st.isDirectory())) {
      throw badTar(`an entry goes through "${rel}", which is not a directory`, { name: rel });
    } else if (!st) {
      if (!create) throw badTar(`"${rel}" does not exist`, { name: rel });
      await makeDir(p, 0o755);
      created.add(rel);
      made.add(rel);
    }
    safeDirs.add(rel);
    return p;
  }

  function clearExisting(rel: string, keepDir: boolean): void {
    if (fresh && !created.has(rel)) return;
    const p = abs(rel);
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isDirectory() && keepDir) return;
    forget(rel);
    if (st.isDirectory()) rmSync(p, { recursive: true, force: true });
    else unlinkSync(p);
  }

  function setXattrs(p: string, rel: string, xattrs: [string, Buffer][]): void {
    for (const [name, value] of xattrs) {
      try {
        writeXattr(p, name, value);
      } catch (err) {
        stats.warnings.push(`${rel}: xattr ${name} not set (${(err as Error).message})`);
      }
    }
  }

  let pax: Map<string, Buffer> | null = null;
  let globalPax: Map<string, Buffer> | null = null;
  let longName: string | null = null;
  let longLink: string | null = null;

  for (;;) {
    const block = await reader.read(BLOCK);
    if (!block || isZero(block)) break;
    let h: UstarHeader | null;
    try {
      h = decodeHeader(block);
    } catch (err) {
      throw badTar((err as Error).message);
    }
    if (!h) break;
    if (!Number.isSafeInteger(h.size) || h.size < 0) throw badTar('entry with an invalid size');
    const pad = padding(h.size);

    if (h.type === 'pax-header' || h.type === 'pax-global-header' || h.type === 'gnu-long-path' || h.type === 'gnu-long-link-path') {
      const limit = h.type.startsWith('gnu') ? MAX_PATH_BYTES + 1 : MAX_PAX_BYTES;
      if (h.size > limit) throw badTar(`${h.type} of ${h.size} bytes (limit ${limit})`);
      const data = Buffer.from((await reader.read(h.size)) ?? Buffer.alloc(0));
      if (data.length !== h.size) throw badTar('archive is truncated');
      await reader.read(pad);
      if (h.type === 'pax-header') pax = decodePax(data);
      else if (h.type === 'pax-global-header') globalPax = decodePax(data);
      else {
        const nul = data.indexOf(0);
        const s = data.subarray(0, nul < 0 ? data.length : nul).toString('utf8');
        if (h.type === 'gnu-long-path') longName = s;
        else longLink = s;
      }
      continue;
    }

    const merged = globalPax || pax ? new Map([...(globalPax ?? []), ...(pax ?? [])]) : null;
    const name = merged?.get('path')?.toString('utf8') ?? longName ?? h.name;
    const linkname = merged?.get('linkpath')?.toString('utf8') ?? longLink ?? h.linkname ?? '';
    if (merged?.has('uid')) h.uid = Number(merged.get('uid')!.toString());
    if (merged?.has('gid')) h.gid = Number(merged.get('gid')!.toString());
    if (merged?.has('size')) {
      h.size = Number(merged.get('size')!.toString());
      if (!Number.isSafeInteger(h.size) || h.size < 0) throw badTar('entry with an invalid PAX size');
    }
    const xattrs = xattrsFrom(merged);
    pax = null;
    longName = null;
    longLink = null;

    const rel = safeEntryPath(name);
    const tap = options.onEntry?.({
      path: rel, type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, size: h.size, linkname, devmajor: h.devmajor, devminor: h.devminor,
    });
    const dataPad = padding(h.size);
    let consumed = false;
    stats.entries++;
    if (rel !== '') {
      const slash = rel.lastIndexOf('/');
      const parentRel = slash < 0 ? '' : rel.slice(0, slash);
      const base = slash < 0 ? rel : rel.slice(slash + 1);
      const parentAbs = safeDirs.has(parentRel) ? abs(parentRel) : await ensureDir(parentRel, true);
      const p = abs(rel);

      if (base === OPAQUE_MARKER || base.startsWith(WHITEOUT_PREFIX)) await serial();
      if (base === OPAQUE_MARKER) {
        if (options.whiteouts === 'overlay') markOpaque(parentAbs);
        else {
          for (const child of readdirSync(parentAbs)) {
            const childRel = parentRel ? `${parentRel}/${child}` : child;
            if (created.has(childRel)) continue;
            forget(childRel);
            rmSync(join(parentAbs, child), { recursive: true, force: true });
          }
        }
      } else if (base.startsWith(WHITEOUT_PREFIX)) {
        const hidden = base.slice(WHITEOUT_PREFIX.length);
        if (!hidden || hidden === '.' || hidden === '..' ) throw badTar(`bad whiteout "${rel}"`);
        const hiddenRel = parentRel ? `${parentRel}/${hidden}` : hidden;
        clearExisting(hiddenRel, false);
        if (options.whiteouts === 'overlay') makeWhiteout(join(parentAbs, hidden), parentAbs);
      } else if (h.type === 'directory') {
        if (kinds.has(rel)) await serial();
        // In parallel mode the path is new or a directory this call made: nothing to clear.
        if (!parallel) clearExisting(rel, true);
        // mkdir creates nothing through a symlink: an existing entry (the directory kept by
        // clearExisting, or one made earlier) is EEXIST, so no lstat before it.
        let isNew = true;
        if (parallel) {
          // What exists is what this call made: a directory already made is in safeDirs.
          isNew = !safeDirs.has(rel);
          if (isNew && xattrs.length) {
            await direct();
            mkdirSync(p, 0o700);
          } else if (isNew) await makeDir(p, 0o700);
        } else {
          try {
            mkdirSync(p, 0o700);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
            isNew = made.has(rel);
          }
        }
        if (isNew) made.add(rel);
        safeDirs.add(rel);
        created.add(rel);
        setXattrs(p, rel, xattrs);
        dirAttrs.push({ rel, abs: p, h, chown: owners && !(bornRoot && isNew && h.uid === 0 && h.gid === 0) });
      } else {
        if (parallel && created.has(rel)) await serial();
        clearExisting(rel, false);
        created.add(rel);
        if (parallel && h.type !== 'link') kinds.set(rel, h.type);
        switch (h.type) {
          case 'file':
          case 'contiguous-file': {
            const mode = h.mode & 0o7777;
            // A new file is already ours (root:root when root) and has mode & ~umask.
            const chown: [number, number] | undefined = owners && !(asRoot && h.uid === 0 && h.gid === 0) ? [h.uid, h.gid] : undefined;
            const chmod = mode !== (mode & 0o777 & ~umask) || (owners && !asRoot) ? mode : undefined;
            const chunkTap = typeof tap === 'function' ? tap : undefined;
            const onHash = tap && typeof tap === 'object' ? tap.onHash : undefined;
            const pool = parallel && !xattrs.length ? workers.get() : undefined;
            if (pool && sourceFd !== undefined && !chunkTap) {
              // The worker reads the content from the archive file; the loop below skips it here.
              owner.set(rel, await pool.fileAt(p, sourceFd, reader.position, h.size, mode & 0o777, chown, chmod, onHash, statOf(rel)));
            } else if (pool) {
              const out = await pool.file(p, h.size, mode & 0o777, chown, chmod, onHash, statOf(rel));
              await reader.stream(h.size, (b) => {
                if (chunkTap) chunkTap(b);
                return out.write(b);
              });
              consumed = true;
              owner.set(rel, out.worker);
            } else {
              await direct();
              const fd = openSync(p, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode & 0o777);
              const hasher = onHash ? new StreamHasher() : undefined;
              try {
                await reader.stream(h.size, (b) => {
                  if (chunkTap) chunkTap(b);
                  hasher?.update(b);
                  let off = 0;
                  while (off < b.length) off += writeSync(fd, b, off);
                });
                consumed = true;
                if (chown) fchownSync(fd, chown[0], chown[1]);
                if (chmod !== undefined) fchmodSync(fd, chmod);
              } finally {
                closeSync(fd);
              }
              if (onHash) onHash(hasher!.digest());
              restat.add(rel);
            }
            stats.bytes += h.size;
            break;
          }
          case 'link': {
            const targetRel = safeEntryPath(linkname);
            if (!targetRel) throw badTar(`hardlink "${rel}" to the root`);
            const tslash = targetRel.lastIndexOf('/');
            const tParent = await ensureDir(tslash < 0 ? '' : targetRel.slice(0, tslash), false);
            const src = join(tParent, tslash < 0 ? targetRel : targetRel.slice(tslash + 1));
            // A new link changes its inode's ctime (link count): both names are stat'ed at the end.
            restat.add(rel).add(targetRel);
            if (parallel) {
              const kind = kinds.get(targetRel);
              if (!kind) throw badTar(`hardlink "${rel}" to "${linkname}", which is ${safeDirs.has(targetRel) ? 'a directory' : 'missing'}`);
              kinds.set(rel, kind);
              // Queued behind its target's creation, on the same thread.
              const w = owner.get(targetRel);
              if (w !== undefined) {
                await workers.opened!.link(w, src, p);
                owner.set(rel, w);
                break;
              }
            } else {
              const st = lstatSync(src, { throwIfNoEntry: false });
              if (!st || st.isDirectory()) throw badTar(`hardlink "${rel}" to "${linkname}", which is ${st ? 'a directory' : 'missing'}`);
            }
            await direct();
            linkSync(src, p);
            break;
          }
          case 'symlink': {
            const chown: [number, number] | undefined = owners && !(bornRoot && h.uid === 0 && h.gid === 0) ? [h.uid, h.gid] : undefined;
            const pool = parallel && !xattrs.length ? workers.get() : undefined;
            if (pool) {
              owner.set(rel, await pool.symlink(p, linkname, chown, statOf(rel)));
              break;
            }
            await direct();
            symlinkSync(linkname, p);
            if (chown) lchownSync(p, chown[0], chown[1]);
            restat.add(rel);
            break;
          }
          case 'character-device':
          case 'block-device':
          case 'fifo': {
            const kind = h.type === 'fifo' ? 'p' : h.type === 'block-device' ? 'b' : 'c';
            await direct();
            if (mknodDevice(p, kind, h.devmajor, h.devminor, h.mode)) {
              if (owners) lchownSync(p, h.uid, h.gid);
              restat.add(rel);
            } else stats.warnings.push(`${rel}: ${h.type} not created (needs privileges)`);
            break;
          }
          default:
            stats.warnings.push(`${rel}: entry type ${String(h.type)} skipped`);
        }
        if (xattrs.length && h.type !== 'symlink' && h.type !== 'link' && lstatSync(p, { throwIfNoEntry: false })) setXattrs(p, rel, xattrs);
      }
    }
    if (!consumed && h.size > 0) await reader.stream(h.size, () => {});
    if (dataPad) await reader.read(dataPad);
  }
  await reader.drain();
  await workers.opened?.drain();
  // Directory owners and modes last: a read-only directory must not block its children.
  for (let i = dirAttrs.length - 1; i >= 0; i--) {
    const { rel, abs: p, h, chown } = dirAttrs[i]!;
    // A directory a later entry replaced (by a symlink, say) is not ours to chmod: chmod
    // follows symlinks.
    if (!safeDirs.has(rel)) continue;
    if (chown) lchownSync(p, h.uid, h.gid);
    chmodSync(p, h.mode & 0o7777);
  }
  // Directories last of all: their times change with every entry made in them.
  if (disk && parallel) {
    for (const rel of [...restat, ...made]) {
      const st = lstatSync(abs(rel), { throwIfNoEntry: false });
      if (st) disk.set(rel, st);
      else disk.delete(rel);
    }
    stats.disk = disk;
  }
  return stats;
}
