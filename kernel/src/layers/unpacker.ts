/**
 * One unpack in progress (unpackTarStream in unpack.ts): the checks and decisions for each
 * entry, and the file-system calls this thread makes itself.
 *
 * The per-entry loop stays small:
 * V8 optimises small functions cheaply, where one function holding every case cost more
 * compiling time than the unpack spent running it.
 */
import {
  closeSync, constants, fchmodSync, fchownSync, ftruncateSync, lchownSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync,
  rmSync, symlinkSync, chmodSync, unlinkSync, writeSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import {
  BLOCK, MAX_PATH_BYTES, MAX_PAX_BYTES, OPAQUE_MARKER, WHITEOUT_PREFIX, badTar, decodePaxRecords, padding, safeEntryPath,
  unsupportedTar, type UstarHeader,
} from './tar-format.js';
import { makeWhiteout, markOpaque, mknodDevice, writeXattr } from './xattrs.js';
import { isZero, xattrsFrom, type Reader } from './tar-reader.js';
import { decodeHeader, oldSparseMap, type TarHeader } from './tar-header.js';
import { checkSparseMap, paxSparse, readSparseMap, type SparseLayout } from './tar-sparse.js';
import type { DiskStat } from './disk-stat.js';
import { untrustedXattrAllowed, type ContentHashTap, type UnpackOptions, type UnpackStats } from './unpack.js';
import { StreamHasher } from '../hash.js';

type Tap = ((chunk: Buffer) => void) | ContentHashTap | void;

interface DirAttrs {
  rel: string;
  abs: string;
  h: UstarHeader;
  chown: boolean;
}

const META_TYPES = new Set<UstarHeader['type']>(['pax-header', 'pax-global-header', 'gnu-long-path', 'gnu-long-link-path']);
/**
 * The entries whose size is content in the archive. GNU tar reads none after links,
 * devices, fifos and directories, whatever their size field says.
 */
const CONTENT_TYPES = new Set<UstarHeader['type']>(['file', 'contiguous-file', 'gnu-sparse', 'gnu-dumpdir']);
/** Typeflags GNU tar reads that the unpacker refuses (docs/storage-format.md), by name. */
const UNSUPPORTED_TYPES: Record<string, string> = { M: 'GNU multi-volume continuation', N: 'GNU old long names' };
const noop = (): void => {};
const ZEROS = Buffer.alloc(1 << 16);
const UNCHANGED_ID = 0xffffffff;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A name from a PAX record or a GNU long name; undefined when it is not UTF-8. */
function utf8(b: Buffer): string | undefined {
  try {
    return strictUtf8.decode(b);
  } catch {
    return undefined;
  }
}

export class Unpacker {
  readonly stats: UnpackStats = { entries: 0, bytes: 0, warnings: [] };
  private readonly owners: boolean;
  /** Relative dirs known to be real directories (not symlinks) inside the target. */
  private readonly safeDirs = new Set<string>(['']);
  /** Paths this archive created: an opaque marker hides everything else. */
  private readonly created = new Set<string>();
  private readonly dirAttrs: DirAttrs[] = [];
  /** Into an empty target, only this archive's own entries can be in the way: no lstat. */
  private readonly fresh: boolean;
  private readonly asRoot: boolean;
  /**
   * Root creating into a fresh target without setgid: whatever this call creates is already
   * root:root, so 0:0 entries need no chown (a setgid target would hand down its group).
   */
  private readonly bornRoot: boolean;
  /** Directories this call made with mkdir (for bornRoot: already root:root). */
  private readonly made = new Set<string>();
  private readonly umask = process.umask();
  /**
   * Add-only mode: while the archive only adds paths to an empty target, what exists is
   * exactly what it made, so the checks consult `kinds` instead of lstat(2). The first
   * entry that replaces or removes something ends it, and the lstat-checked path takes over.
   */
  private addOnly: boolean;
  /** Non-directory paths made in add-only mode, by type (a hard link: its target's). */
  private readonly kinds = new Map<string, UstarHeader['type']>();
  /** recordDisk: every path made, as lstat(2) sees it at the end. */
  private readonly disk: Map<string, DiskStat> | undefined;
  /** Device nodes not made here (no privileges, or untrusted content), by path: a hard link to one is not made either. */
  private readonly notMade = new Map<string, UstarHeader['type']>();
  /** recordDisk: paths to lstat at the end (made here, or changed since). */
  private readonly restat = new Set<string>();
  /** `rel` is normalised (safeEntryPath): plain concatenation, path.join's normalising shows at thousands of entries. */
  private readonly rootSlash: string;
  private pax: Map<string, Buffer> | null = null;
  /** The entry's own PAX records in order (GNU sparse 0.0 repeats its keys). */
  private paxRecords: [string, Buffer][] = [];
  private globalPax: Map<string, Buffer> | null = null;
  /** GNU long names as bytes (checked to be UTF-8 when used). */
  private longName: Buffer | null = null;
  private longLink: Buffer | null = null;
  /** Set by an entry whose content was read here (streamed to a file). */
  private consumed = false;

  constructor(
    private readonly reader: Reader,
    private readonly targetDir: string,
    private readonly options: UnpackOptions,
  ) {
    this.owners = options.owners ?? process.geteuid?.() === 0;
    mkdirSync(targetDir, { recursive: true });
    this.fresh = readdirSync(targetDir).length === 0;
    this.asRoot = process.geteuid?.() === 0 && process.getegid?.() === 0;
    this.bornRoot = this.asRoot && this.fresh && (lstatSync(targetDir).mode & 0o2000) === 0;
    this.addOnly = this.fresh;
    this.disk = options.recordDisk && this.fresh ? new Map<string, DiskStat>() : undefined;
    this.rootSlash = resolve(targetDir).replace(/\/?$/, '/');
  }

  async run(): Promise<UnpackStats> {
    const reader = this.reader;
    for (;;) {
      const block = reader.take(BLOCK) ?? (await reader.read(BLOCK));
      if (!block || isZero(block)) break;
      const offset = reader.position - BLOCK;
      const h = header(block);
      if (!h) break;
      if (META_TYPES.has(h.type)) {
        await this.meta(h);
        continue;
      }
      if (h.type === null) {
        const flag = String.fromCharCode(h.typeflag);
        const what = UNSUPPORTED_TYPES[flag] ?? `entry type '${flag >= ' ' && flag <= '~' ? flag : `\\x${h.typeflag.toString(16)}`}'`;
        throw unsupportedTar(what, (this.pax?.get('path') ?? this.longName)?.toString('utf8') ?? h.name, offset);
      }
      const hasContent = CONTENT_TYPES.has(h.type);
      if (h.type === 'gnu-volume-header') {
        // A volume label: GNU tar makes nothing of it.
        this.pax = null;
        await this.skipContent(h.size);
        continue;
      }
      if (h.oldSparse?.extended) await this.oldSparseExtensions(h, offset);
      this.consumed = false;
      const pending = this.entry(h, offset);
      if (pending) await pending;
      const stored = hasContent ? h.size : 0;
      if (!this.consumed) await this.skipContent(stored);
      else {
        const pad = padding(stored);
        if (pad && !reader.skip(pad)) await reader.read(pad);
      }
      this.options.onProgress?.(reader.position);
    }
    return this.finish();
  }

  /** Passes `size` bytes of content and their padding. */
  private async skipContent(size: number): Promise<void> {
    const reader = this.reader;
    if (size > 0 && !reader.skip(size)) await reader.stream(size, noop);
    const pad = padding(size);
    if (pad && !reader.skip(pad)) await reader.read(pad);
  }

  /** Old GNU sparse: the map's extension blocks after the header (21 regions each). */
  private async oldSparseExtensions(h: TarHeader, offset: number): Promise<void> {
    const sparse = h.oldSparse!;
    while (sparse.extended) {
      const ext = await this.reader.read(BLOCK);
      if (!ext) throw badTar('archive is truncated');
      sparse.map.push(...oldSparseMap(ext, 0, 21));
      sparse.extended = ext[504] !== 0;
      if (sparse.map.length > MAX_PAX_BYTES / 24) throw badTar(`entry "${h.name}" at archive offset ${offset}: a sparse map of over ${MAX_PAX_BYTES / 24} regions`);
    }
  }

  /** PAX headers and GNU long names: they describe the next entry. */
  private async meta(h: UstarHeader): Promise<void> {
    const limit = h.type!.startsWith('gnu') ? MAX_PATH_BYTES + 1 : MAX_PAX_BYTES;
    if (h.size > limit) throw badTar(`${h.type} of ${h.size} bytes (limit ${limit})`);
    const data = Buffer.from((await this.reader.read(h.size)) ?? Buffer.alloc(0));
    if (data.length !== h.size) throw badTar('archive is truncated');
    await this.reader.read(padding(h.size));
    if (h.type === 'pax-header') {
      this.paxRecords = decodePaxRecords(data);
      this.pax = new Map(this.paxRecords);
    } else if (h.type === 'pax-global-header') {
      // Global records stay in force for the rest of the archive; a later one overrides.
      this.globalPax = new Map([...(this.globalPax ?? []), ...decodePaxRecords(data)]);
    } else {
      const nul = data.indexOf(0);
      const s = data.subarray(0, nul < 0 ? data.length : nul);
      if (h.type === 'gnu-long-path') this.longName = s;
      else this.longLink = s;
    }
  }

  /**
   * One entry (PAX and long names applied); returns a promise only when it has to wait.
   * `offset`: its header's, for what is refused.
   */
  private entry(h: TarHeader, offset: number): Promise<void> | void {
    const merged = this.globalPax || this.pax ? new Map([...(this.globalPax ?? []), ...(this.pax ?? [])]) : null;
    const sparse = merged ? paxSparse(merged, this.pax ? this.paxRecords : [], h.name, offset) : undefined;
    if (sparse && h.type !== 'file') throw unsupportedTar(`GNU sparse records on a ${h.type} entry`, h.name, offset);
    // GNU tar's order: the sparse name, then PAX, then a GNU long name, then the header.
    const rawName = sparse?.name ?? merged?.get('path') ?? this.longName;
    const rawLink = merged?.get('linkpath') ?? this.longLink;
    const name = rawName ? utf8(rawName) : h.nameUtf8 ? h.name : undefined;
    const linkname = rawLink ? utf8(rawLink) : h.linkUtf8 ? h.linkname ?? '' : undefined;
    if (name === undefined || linkname === undefined) {
      throw unsupportedTar(`a ${name === undefined ? 'name' : 'link name'} that is not UTF-8`, name ?? (rawName ? rawName.toString('utf8') : h.name), offset);
    }
    if (merged?.has('uid')) h.uid = Number(merged.get('uid')!.toString());
    if (merged?.has('gid')) h.gid = Number(merged.get('gid')!.toString());
    // chown(2) takes id 2^32-1 as "leave it": GNU tar's extraction keeps the extracting
    // user's, root's in the tree the digest is defined on.
    if (h.uid === UNCHANGED_ID) h.uid = 0;
    if (h.gid === UNCHANGED_ID) h.gid = 0;
    if (merged?.has('size')) {
      h.size = Number(merged.get('size')!.toString());
      if (!Number.isSafeInteger(h.size) || h.size < 0) throw badTar('entry with an invalid PAX size');
    }
    const xattrs = this.options.untrusted ? xattrsFrom(merged).filter(([name]) => untrustedXattrAllowed(name)) : xattrsFrom(merged);
    this.pax = null;
    this.paxRecords = [];
    this.longName = null;
    this.longLink = null;

    let layout: SparseLayout | undefined = sparse;
    if (h.oldSparse) {
      if (sparse) throw unsupportedTar('an old GNU sparse entry with GNU sparse records', name, offset);
      layout = { map: h.oldSparse.map, realsize: h.oldSparse.realsize };
      h.type = 'file';
    } else if (h.type === 'gnu-dumpdir') {
      // A directory with the names it held when dumped (for incremental restores): GNU tar makes the directory.
      h.type = 'directory';
    } else if ((h.type === 'file' || h.type === 'contiguous-file') && name.endsWith('/') && !layout) {
      // GNU tar, like the old tars, takes a file entry whose name ends in "/" for a directory.
      if (h.size > 0) throw unsupportedTar('a file entry named as a directory (trailing "/") with content', name, offset);
      h.type = 'directory';
    }
    if (layout && !Number.isSafeInteger(layout.realsize)) throw badTar(`entry "${name}" at archive offset ${offset}: invalid sparse size`);

    const rel = safeEntryPath(name);
    const tap = this.options.onEntry?.({
      path: rel, type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, size: layout ? layout.realsize : h.size, linkname,
      devmajor: h.devmajor, devminor: h.devminor,
    });
    this.stats.entries++;
    if (rel === '') return;
    const slash = rel.lastIndexOf('/');
    const parentRel = slash < 0 ? '' : rel.slice(0, slash);
    const base = slash < 0 ? rel : rel.slice(slash + 1);
    if (layout) return this.general(h, rel, parentRel, base, linkname, xattrs, tap, { ...layout, offset });
    return this.general(h, rel, parentRel, base, linkname, xattrs, tap);
  }

  /** A new file is already ours (root:root when root) and has mode & ~umask. */
  private fileOwner(h: UstarHeader): [number, number] | undefined {
    return this.owners && !(this.asRoot && h.uid === 0 && h.gid === 0) ? [h.uid, h.gid] : undefined;
  }

  private fileChmod(mode: number): number | undefined {
    return mode !== (mode & 0o777 & ~this.umask) || (this.owners && !this.asRoot) ? mode : undefined;
  }

  private abs(rel: string): string {
    return rel ? this.rootSlash + rel : this.targetDir;
  }

  private forget(rel: string): void {
    const prefix = `${rel}/`;
    for (const d of this.safeDirs) if (d === rel || d.startsWith(prefix)) this.safeDirs.delete(d);
  }

  /** Ends add-only mode: from now on the checks lstat. */
  private endAddOnly(): void {
    this.addOnly = false;
  }

  private async ensureDir(rel: string, create: boolean): Promise<string> {
    if (this.safeDirs.has(rel)) return this.abs(rel);
    const slash = rel.lastIndexOf('/');
    await this.ensureDir(slash < 0 ? '' : rel.slice(0, slash), create);
    const p = this.abs(rel);
    const st = this.addOnly ? undefined : lstatSync(p, { throwIfNoEntry: false });
    const kind = this.addOnly ? this.kinds.get(rel) : undefined;
    if (kind === 'symlink' || st?.isSymbolicLink()) {
      throw badTar(`an entry goes through the symlink "${rel}"`, { name: rel });
    } else if (kind !== undefined || (st && !st.isDirectory())) {
      throw badTar(`an entry goes through "${rel}", which is not a directory`, { name: rel });
    } else if (!st) {
      if (!create) throw badTar(`"${rel}" does not exist`, { name: rel });
      mkdirSync(p, 0o755);
      this.created.add(rel);
      this.made.add(rel);
    }
    this.safeDirs.add(rel);
    return p;
  }

  private clearExisting(rel: string, keepDir: boolean): void {
    this.notMade.delete(rel);
    if (this.fresh && !this.created.has(rel)) return;
    const p = this.abs(rel);
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isDirectory() && keepDir) return;
    this.forget(rel);
    if (st.isDirectory()) rmSync(p, { recursive: true, force: true });
    else unlinkSync(p);
  }

  private setXattrs(p: string, rel: string, xattrs: [string, Buffer][]): void {
    for (const [name, value] of xattrs) {
      try {
        writeXattr(p, name, value);
      } catch (err) {
        this.stats.warnings.push(`${rel}: xattr ${name} not set (${(err as Error).message})`);
      }
    }
  }

  /** Every entry after its header: markers, directories, files, links, devices, replacements. */
  private async general(
    h: UstarHeader, rel: string, parentRel: string, base: string, linkname: string, xattrs: [string, Buffer][], tap: Tap,
    sparse?: SparseLayout & { offset: number },
  ): Promise<void> {
    const parentAbs = this.safeDirs.has(parentRel) ? this.abs(parentRel) : await this.ensureDir(parentRel, true);
    const p = this.abs(rel);
    if (base === OPAQUE_MARKER || base.startsWith(WHITEOUT_PREFIX)) this.endAddOnly();
    if (base === OPAQUE_MARKER) {
      if (this.options.whiteouts === 'overlay') markOpaque(parentAbs);
      else {
        for (const child of readdirSync(parentAbs)) {
          const childRel = parentRel ? `${parentRel}/${child}` : child;
          if (this.created.has(childRel)) continue;
          this.forget(childRel);
          rmSync(join(parentAbs, child), { recursive: true, force: true });
        }
      }
    } else if (base.startsWith(WHITEOUT_PREFIX)) {
      const hidden = base.slice(WHITEOUT_PREFIX.length);
      if (!hidden || hidden === '.' || hidden === '..') throw badTar(`bad whiteout "${rel}"`);
      const hiddenRel = parentRel ? `${parentRel}/${hidden}` : hidden;
      this.clearExisting(hiddenRel, false);
      if (this.options.whiteouts === 'overlay') makeWhiteout(join(parentAbs, hidden), parentAbs);
    } else if (h.type === 'directory') {
      await this.directory(h, rel, p, xattrs);
    } else {
      if (this.addOnly && this.created.has(rel)) this.endAddOnly();
      this.clearExisting(rel, false);
      this.created.add(rel);
      if (this.addOnly && h.type !== 'link') this.kinds.set(rel, h.type);
      switch (h.type) {
        case 'file':
        case 'contiguous-file':
          if (sparse) await this.sparseFile(h, rel, p, sparse, tap);
          else await this.file(h, rel, p, tap);
          break;
        case 'link':
          await this.hardLink(rel, p, linkname);
          break;
        case 'symlink':
          symlinkSync(linkname, p);
          if (this.owners && !(this.bornRoot && h.uid === 0 && h.gid === 0)) lchownSync(p, h.uid, h.gid);
          this.restat.add(rel);
          break;
        case 'character-device':
        case 'block-device':
        case 'fifo': {
          const kind = h.type === 'fifo' ? 'p' : h.type === 'block-device' ? 'b' : 'c';
          if (this.options.untrusted && kind !== 'p' && !(kind === 'c' && h.devmajor === 0 && h.devminor === 0)) {
            this.stats.warnings.push(`${rel}: ${h.type} ${h.devmajor}:${h.devminor} not created (pulled content never creates device nodes)`);
            this.notMade.set(rel, h.type);
            break;
          }
          if (mknodDevice(p, kind, h.devmajor, h.devminor, h.mode)) {
            if (this.owners) lchownSync(p, h.uid, h.gid);
            this.restat.add(rel);
          } else {
            this.stats.warnings.push(`${rel}: ${h.type} not created (needs privileges)`);
            this.notMade.set(rel, h.type);
          }
          break;
        }
        default:
          this.stats.warnings.push(`${rel}: entry type ${String(h.type)} skipped`);
      }
      if (xattrs.length && h.type !== 'symlink' && h.type !== 'link' && lstatSync(p, { throwIfNoEntry: false })) this.setXattrs(p, rel, xattrs);
    }
  }

  private async directory(h: UstarHeader, rel: string, p: string, xattrs: [string, Buffer][]): Promise<void> {
    if (this.kinds.has(rel)) this.endAddOnly();
    // In add-only mode the path is new or a directory this call made: nothing to clear.
    if (!this.addOnly) this.clearExisting(rel, true);
    // mkdir creates nothing through a symlink: an existing entry (the directory kept by
    // clearExisting, or one made earlier) is EEXIST, so no lstat before it.
    let isNew = true;
    if (this.addOnly) {
      // What exists is what this call made: a directory already made is in safeDirs.
      isNew = !this.safeDirs.has(rel);
      if (isNew) mkdirSync(p, 0o700);
    } else {
      try {
        mkdirSync(p, 0o700);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        isNew = this.made.has(rel);
      }
    }
    if (isNew) this.made.add(rel);
    this.safeDirs.add(rel);
    this.created.add(rel);
    this.setXattrs(p, rel, xattrs);
    this.dirAttrs.push({ rel, abs: p, h, chown: this.owners && !(this.bornRoot && isNew && h.uid === 0 && h.gid === 0) });
  }

  private async file(h: UstarHeader, rel: string, p: string, tap: Tap): Promise<void> {
    await this.newFile(h, rel, p, tap, h.size, (fd, expanded) =>
      this.reader.stream(h.size, (b) => {
        expanded(b);
        let off = 0;
        while (off < b.length) off += writeSync(fd, b, off);
      }),
    );
  }

  /**
   * A GNU sparse file, expanded as GNU tar expands it: each region written at its offset,
   * the gaps left as holes (the file is extended with ftruncate), the content hash and a
   * chunk tap fed the expanded bytes. Made by this thread, whatever the mode.
   */
  private async sparseFile(h: UstarHeader, rel: string, p: string, layout: SparseLayout & { offset: number }, tap: Tap): Promise<void> {
    await this.newFile(h, rel, p, tap, layout.realsize, async (fd, expanded) => {
      const zeros = (n: number) => {
        for (; n > 0; n -= ZEROS.length) expanded(n >= ZEROS.length ? ZEROS : ZEROS.subarray(0, n));
      };
      let data = h.size;
      let map = layout.map;
      if (!map) {
        const nextBlock = async () => {
          const b = await this.reader.read(BLOCK);
          if (!b) throw badTar('archive is truncated');
          return Buffer.from(b);
        };
        const read = await readSparseMap(nextBlock, h.size, rel, layout.offset);
        map = read.map;
        data -= read.bytes;
      }
      checkSparseMap(map, layout.realsize, data, rel, layout.offset);
      let at = 0;
      for (const region of map) {
        zeros(region.offset - at);
        at = region.offset;
        await this.reader.stream(region.size, (b) => {
          expanded(b);
          for (let off = 0; off < b.length;) off += writeSync(fd, b, off, b.length - off, at + off);
          at += b.length;
        });
      }
      zeros(layout.realsize - at);
      ftruncateSync(fd, layout.realsize);
    });
  }

  /**
   * A new regular file (never opened through a symlink): `write` fills it, passing every byte
   * of its content to `expanded`, which feeds the chunk tap and the content hash; then its
   * owner and mode are set on the open descriptor.
   */
  private async newFile(h: UstarHeader, rel: string, p: string, tap: Tap, size: number, write: (fd: number, expanded: (b: Buffer) => void) => Promise<void>): Promise<void> {
    const mode = h.mode & 0o7777;
    const chown = this.fileOwner(h);
    const chmod = this.fileChmod(mode);
    const chunkTap = typeof tap === 'function' ? tap : undefined;
    const onHash = tap && typeof tap === 'object' ? tap.onHash : undefined;
    const hasher = onHash ? new StreamHasher() : undefined;
    const fd = openSync(p, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode & 0o777);
    try {
      await write(fd, (b) => {
        chunkTap?.(b);
        hasher?.update(b);
      });
      this.consumed = true;
      if (chown) fchownSync(fd, chown[0], chown[1]);
      if (chmod !== undefined) fchmodSync(fd, chmod);
    } finally {
      closeSync(fd);
    }
    if (onHash) onHash(hasher!.digest());
    this.restat.add(rel);
    this.stats.bytes += size;
  }

  private async hardLink(rel: string, p: string, linkname: string): Promise<void> {
    const targetRel = safeEntryPath(linkname);
    if (!targetRel) throw badTar(`hardlink "${rel}" to the root`);
    const tslash = targetRel.lastIndexOf('/');
    const tParent = await this.ensureDir(tslash < 0 ? '' : targetRel.slice(0, tslash), false);
    const src = join(tParent, tslash < 0 ? targetRel : targetRel.slice(tslash + 1));
    const unmade = this.notMade.get(targetRel);
    if (unmade) {
      // The same inode as a device node that could not be made: not made either, and said so.
      this.stats.warnings.push(`${rel}: hard link to the ${unmade} "${linkname}" not created (its target was not)`);
      this.notMade.set(rel, unmade);
      return;
    }
    // A new link changes its inode's ctime (link count): both names are stat'ed at the end.
    this.restat.add(rel).add(targetRel);
    if (this.addOnly) {
      const kind = this.kinds.get(targetRel);
      if (!kind) throw badTar(`hardlink "${rel}" to "${linkname}", which is ${this.safeDirs.has(targetRel) ? 'a directory' : 'missing'}`);
      this.kinds.set(rel, kind);
    } else {
      const st = lstatSync(src, { throwIfNoEntry: false });
      if (!st || st.isDirectory()) throw badTar(`hardlink "${rel}" to "${linkname}", which is ${st ? 'a directory' : 'missing'}`);
    }
    linkSync(src, p);
  }

  private async finish(): Promise<UnpackStats> {
    await this.reader.drain();
    // Directory owners and modes last: a read-only directory must not block its children.
    for (let i = this.dirAttrs.length - 1; i >= 0; i--) {
      const { rel, abs: p, h, chown } = this.dirAttrs[i]!;
      // A directory a later entry replaced (by a symlink, say) is not ours to chmod: chmod
      // follows symlinks.
      if (!this.safeDirs.has(rel)) continue;
      if (chown) lchownSync(p, h.uid, h.gid);
      chmodSync(p, h.mode & 0o7777);
    }
    // Directories last of all: their times change with every entry made in them.
    if (this.disk && this.addOnly) {
      for (const rel of [...this.restat, ...this.made]) {
        const st = lstatSync(this.abs(rel), { throwIfNoEntry: false });
        if (st) this.disk.set(rel, st);
        else this.disk.delete(rel);
      }
      this.stats.disk = this.disk;
    }
    return this.stats;
  }
}

function header(block: Buffer): TarHeader | null {
  let h: TarHeader | null;
  try {
    h = decodeHeader(block);
  } catch (err) {
    throw badTar((err as Error).message);
  }
  if (h && (!Number.isSafeInteger(h.size) || h.size < 0)) throw badTar('entry with an invalid size');
  return h;
}
