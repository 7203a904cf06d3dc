/**
 * Deterministic layer packing (DESIGN §6 "Layers"): a directory → a tar whose bytes depend
 * only on the tree. Entries sorted by name, mtime 0, numeric owners as on disk, no user or
 * group names, hardlinks as tar hardlinks, xattrs as PAX `SCHILY.xattr.*`, overlay
 * whiteouts and opaque directories as OCI `.wh.` markers.
 *
 * Speed matters here (commit of a rootfs-sized upper dir): file contents are read straight
 * into large output chunks, and no per-entry stream objects are created.
 */
import { closeSync, constants, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import {
  BLOCK, END_OF_ARCHIVE, EPOCH, OPAQUE_MARKER, USTAR_MAX_ID, WHITEOUT_PREFIX, encodePax, headerCodec, padding,
  type TarEntryType, type UstarHeader,
} from './tar-format.js';
import { readXattrs } from './xattrs.js';
import { hashBytes, StreamHasher } from '../hash.js';

export interface PackStats {
  entries: number;
  /** Bytes of file content packed. */
  contentBytes: number;
}

export interface PackOptions {
  /**
   * Reuse output buffers: each chunk is only valid until the next one is requested. For
   * consumers that write each chunk before asking for the next (packLayer). Default false.
   */
  reuseBuffers?: boolean;
  /** Output chunk size (default 4 MiB). */
  chunkSize?: number;
  /** Filled in while packing. */
  stats?: PackStats;
  /**
   * Given: each regular file's content is hashed (blake3) as it is read, and its hash reported
   * with its path before the chunk holding the content's last byte is handed out.
   */
  onContent?: (path: string, hash: string) => void;
  /**
   * Where each output chunk is written (chunkSize bytes, not reused by the packer): the
   * caller may hand the chunks on without copying them (pack-tree-worker.ts).
   */
  chunkBuffer?: () => Buffer;
}

export interface Entry {
  header: UstarHeader;
  pax: [string, Buffer][];
  /** Absolute path of the content (regular files only). */
  source?: string;
}

class ChunkWriter {
  private readonly pool: Buffer[];
  private index = 0;
  buf: Buffer;
  off = 0;
  constructor(private readonly size: number, private readonly reuse: boolean, private readonly given?: () => Buffer) {
    this.pool = reuse && !given ? [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)] : [];
    this.buf = this.fresh();
  }
  private fresh(): Buffer {
    if (this.given) return this.given().subarray(0, this.size);
    if (!this.reuse) return Buffer.allocUnsafe(this.size);
    this.index = (this.index + 1) % this.pool.length;
    return this.pool[this.index]!;
  }
  get free(): number {
    return this.size - this.off;
  }
  /** Hands out the filled part and starts a new chunk. */
  take(): Buffer {
    const out = this.buf.subarray(0, this.off);
    this.buf = this.fresh();
    this.off = 0;
    return out;
  }
}

function typeOf(st: Stats): TarEntryType | null {
  if (st.isDirectory()) return 'directory';
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'character-device';
  if (st.isBlockDevice()) return 'block-device';
  if (st.isFIFO()) return 'fifo';
  return null; // sockets are not archived
}

function isAscii(s: string): boolean {
  return /^[\x01-\x7f]*$/.test(s);
}

/**
 * Header + PAX records for one entry. Long or non-ASCII names and big ids go into PAX.
 * Also what a tree's tar is encoded with (store/tree-tar.ts), so both stay one rule.
 */
export function encodeEntry(entry: Entry): Buffer[] {
  const h = entry.header;
  const pax = [...entry.pax];
  let plain: Buffer | null = null;
  const simple = isAscii(h.name) && isAscii(h.linkname ?? '') && h.uid <= USTAR_MAX_ID && h.gid <= USTAR_MAX_ID;
  if (simple && pax.length === 0) plain = headerCodec.encode(h);
  if (plain) return [plain];
  const records: [string, Buffer][] = [];
  const name = h.type === 'directory' ? `${h.name}/` : h.name;
  records.push(['path', Buffer.from(name)]);
  if (h.linkname) records.push(['linkpath', Buffer.from(h.linkname)]);
  if (h.uid > USTAR_MAX_ID) records.push(['uid', Buffer.from(String(h.uid))]);
  if (h.gid > USTAR_MAX_ID) records.push(['gid', Buffer.from(String(h.gid))]);
  records.push(...pax);
  const body = encodePax(records);
  const paxHeader = headerCodec.encode({
    name: 'PaxHeader', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: EPOCH, type: 'pax-header',
    linkname: null, devmajor: 0, devminor: 0,
  })!;
  // The ustar fields get an ASCII stand-in; readers take the real values from PAX.
  const stand = (s: string) => s.replace(/[^\x20-\x7e]/g, '_').slice(-99).replace(/^\/+/, '') || '_';
  const real = headerCodec.encode({
    ...h, name: stand(h.name), linkname: h.linkname ? stand(h.linkname) : null,
    uid: Math.min(h.uid, USTAR_MAX_ID), gid: Math.min(h.gid, USTAR_MAX_ID),
  })!;
  return [paxHeader, body, Buffer.alloc(padding(body.length)), real];
}

function devNumbers(rdev: number): { major: number; minor: number } {
  return { major: Math.floor(rdev / 256) & 0xfff, minor: (rdev & 0xff) | (Math.floor(rdev / 4096) & 0xfff00) };
}

/** Directory → deterministic tar, as chunks. */
export async function* packTree(dir: string, options: PackOptions = {}): AsyncGenerator<Buffer> {
  const out = new ChunkWriter(options.chunkSize ?? 4 << 20, options.reuseBuffers === true, options.chunkBuffer);
  const stats = options.stats ?? { entries: 0, contentBytes: 0 };
  const links = new Map<string, string>();

  function* put(bytes: Buffer): Generator<Buffer> {
    let from = 0;
    while (from < bytes.length) {
      const n = Math.min(out.free, bytes.length - from);
      bytes.copy(out.buf, out.off, from, from + n);
      out.off += n;
      from += n;
      if (out.free === 0) yield out.take();
    }
  }

  const onContent = options.onContent;
  function* content(path: string, name: string, size: number): Generator<Buffer> {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      let left = size;
      let hasher: StreamHasher | undefined;
      while (left > 0) {
        const n = readSync(fd, out.buf, out.off, Math.min(out.free, left), null);
        if (n === 0) throw new Error(`${path} shrank while it was being packed; stop what writes to it and commit again`);
        if (onContent) {
          // The bytes just read, hashed before their chunk can be handed out (and reused).
          const piece = out.buf.subarray(out.off, out.off + n);
          if (n === left && !hasher) onContent(name, hashBytes(piece));
          else {
            (hasher ??= new StreamHasher()).update(piece);
            if (n === left) onContent(name, hasher.digest());
          }
        }
        out.off += n;
        left -= n;
        if (out.free === 0) yield out.take();
      }
    } finally {
      closeSync(fd);
    }
    const pad = padding(size);
    if (pad) yield* put(Buffer.alloc(pad));
  }

  function* emit(entry: Entry): Generator<Buffer> {
    for (const part of encodeEntry(entry)) yield* put(part);
    stats.entries++;
    if (entry.source && entry.header.size > 0) {
      stats.contentBytes += entry.header.size;
      yield* content(entry.source, entry.header.name, entry.header.size);
    }
  }

  function base(name: string, st: Stats, type: TarEntryType): UstarHeader {
    return { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0, mtime: EPOCH, type, linkname: null, devmajor: 0, devminor: 0 };
  }

  function* walk(rel: string): Generator<Buffer> {
    const abs = rel ? join(dir, rel) : dir;
    const names = readdirSync(abs).sort();
    for (const name of names) {
      const childRel = rel ? `${rel}/${name}` : name;
      const childAbs = join(abs, name);
      const st = lstatSync(childAbs);
      const type = typeOf(st);
      if (!type) continue;
      const x = type === 'symlink' ? { data: [] as [string, Buffer][], opaque: false, whiteout: false } : readXattrs(childAbs);
      const pax = x.data.map(([k, v]) => [`SCHILY.xattr.${k}`, v] as [string, Buffer]);
      const isWhiteout = (type === 'character-device' && st.rdev === 0) || (type === 'file' && st.size === 0 && x.whiteout);
      if (isWhiteout) {
        const wh = rel ? `${rel}/${WHITEOUT_PREFIX}${name}` : `${WHITEOUT_PREFIX}${name}`;
        yield* emit({ header: { ...base(wh, st, 'file'), mode: 0 }, pax: [] });
        continue;
      }
      const header = base(childRel, st, type);
      if (type === 'directory') {
        yield* emit({ header, pax });
        if (x.opaque) yield* emit({ header: { ...base(`${childRel}/${OPAQUE_MARKER}`, st, 'file'), mode: 0 }, pax: [] });
        yield* walk(childRel);
        continue;
      }
      if (type === 'symlink') {
        yield* emit({ header: { ...header, linkname: readlinkSync(childAbs) }, pax });
        continue;
      }
      if (type === 'file') {
        if (st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          const first = links.get(key);
          if (first !== undefined) {
            yield* emit({ header: { ...header, type: 'link', linkname: first }, pax: [] });
            continue;
          }
          links.set(key, childRel);
        }
        yield* emit({ header: { ...header, size: st.size }, pax, source: childAbs });
        continue;
      }
      if (type === 'character-device' || type === 'block-device') {
        const { major, minor } = devNumbers(st.rdev);
        yield* emit({ header: { ...header, devmajor: major, devminor: minor }, pax });
        continue;
      }
      yield* emit({ header, pax });
    }
  }

  for (const chunk of walk('')) yield chunk;
  for (const chunk of put(END_OF_ARCHIVE)) yield chunk;
  if (out.off > 0) yield out.take();
}

export { BLOCK };
