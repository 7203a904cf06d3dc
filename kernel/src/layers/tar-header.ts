/**
 * Decoding a 512-byte tar header for the unpacker, as GNU tar reads it: POSIX ustar with
 * its name prefix, GNU and old GNU, V7 and pre-POSIX headers without magic, base-256
 * numbers, checksums summed as unsigned or (old Sun and HP-UX tars) signed bytes, an
 * all-zero block as the end; old GNU sparse headers ('S') with their map. Without building
 * a string per numeric field: at thousands of entries the generic decoder cost the
 * unpacker's main thread more than deciding what to do with them. Numeric fields are
 * strict: anything but octal digits (after leading spaces and NULs, up to a space or NUL)
 * decodes as NaN, which the unpacker refuses.
 */
import type { TarEntryType, UstarHeader } from './tar-format.js';

/** Typeflags by their byte (NUL: an old regular file; 'X' is Solaris's name for 'x'). */
const TYPES: Record<number, TarEntryType> = {
  0: 'file', 0x30: 'file', 0x31: 'link', 0x32: 'symlink', 0x33: 'character-device', 0x34: 'block-device', 0x35: 'directory',
  0x36: 'fifo', 0x37: 'contiguous-file', 0x78: 'pax-header', 0x58: 'pax-header', 0x67: 'pax-global-header',
  0x4b: 'gnu-long-link-path', 0x4c: 'gnu-long-path', 0x53: 'gnu-sparse', 0x44: 'gnu-dumpdir', 0x56: 'gnu-volume-header',
};

/** One region of a sparse file: `size` bytes of data at `offset` (the rest are holes). */
export interface SparseRegion {
  offset: number;
  size: number;
}

/** A header as the unpacker reads it. */
export interface TarHeader extends UstarHeader {
  /** The typeflag byte as written (for what the unpacker refuses, by name). */
  typeflag: number;
  /** False when the name (or the link name) is not UTF-8 (which the unpacker refuses unless PAX or a long name replaces it). */
  nameUtf8: boolean;
  linkUtf8: boolean;
  /** Old GNU sparse ('S'): the header's part of the map, its expanded size, whether extension blocks follow. */
  oldSparse?: { map: SparseRegion[]; realsize: number; extended: boolean };
}

let allUtf8 = true;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A NUL-terminated string field (UTF-8; clears allUtf8 when it is not). */
function str(b: Buffer, at: number, len: number): string {
  let end = at;
  const max = at + len;
  let high = false;
  for (; end < max && b[end] !== 0; end++) if (b[end]! >= 0x80) high = true;
  if (high) {
    try {
      return strictUtf8.decode(b.subarray(at, end));
    } catch {
      allUtf8 = false;
    }
  }
  return b.toString('utf8', at, end);
}

/**
 * Old GNU sparse map entries (offset, size; 12 octal bytes each) from `at`, up to `count`
 * or the first whose size field is empty (GNU tar's end of the map).
 */
export function oldSparseMap(b: Buffer, at: number, count: number): SparseRegion[] {
  const out: SparseRegion[] = [];
  for (let i = 0; i < count; i++, at += 24) {
    if (b[at + 12] === 0) break;
    out.push({ offset: num(b, at, 12), size: num(b, at + 12, 12) });
  }
  return out;
}

/** A numeric field: octal text, or base-256 when the first byte has its top bit set. */
function num(b: Buffer, at: number, len: number): number {
  const first = b[at]!;
  if (first & 0x80) {
    // Base-256: 0x80 positive, 0xff two's complement negative (tar-stream's parse256).
    if (first !== 0x80 && first !== 0xff) return NaN;
    let sum = 0;
    for (let i = at + len - 1, scale = 1; i > at; i--, scale *= 256) sum += (first === 0x80 ? b[i]! : 0xff - b[i]!) * scale;
    return first === 0x80 ? sum : -1 * sum;
  }
  let i = at;
  const end = at + len;
  while (i < end && b[i] === 0x20) i++;
  while (i < end && b[i] === 0) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) return NaN;
    value = value * 8 + (c - 0x30);
    digits++;
  }
  return digits ? value : 0;
}

function checksum(b: Buffer): number {
  let sum = 8 * 32;
  for (let i = 0; i < 148; i++) sum += b[i]!;
  for (let i = 156; i < 512; i++) sum += b[i]!;
  return sum;
}

/** The checksum summed over signed bytes, as some old tars (Sun, HP-UX) wrote it. */
function signedChecksum(b: Buffer): number {
  let sum = 8 * 32;
  for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += b[i]! >= 0x80 ? b[i]! - 256 : b[i]!;
  return sum;
}

const isMagic = (b: Buffer, s: string) => {
  for (let i = 0; i < s.length; i++) if (b[257 + i] !== s.charCodeAt(i)) return false;
  return true;
};

/**
 * The header in `block` (512 bytes); null for an empty header; throws on a bad checksum.
 * A header with neither ustar magic is V7 (or pre-POSIX): no prefix, no device numbers.
 */
export function decodeHeader(block: Buffer): TarHeader | null {
  const sum = checksum(block);
  if (sum === 8 * 32) return null;
  const recorded = num(block, 148, 8);
  if (sum !== recorded && signedChecksum(block) !== recorded) throw new Error('Invalid tar header. Maybe the tar is corrupted or it needs to be gunzipped?');
  allUtf8 = true;
  let name = str(block, 0, 100);
  const posix = isMagic(block, 'ustar\0');
  const v7 = !posix && !(isMagic(block, 'ustar ') && block[263] === 0x20 && block[264] === 0);
  if (posix && block[345]) name = `${str(block, 345, 155)}/${name}`;
  const nameUtf8 = allUtf8;
  allUtf8 = true;
  const linkname = block[157] === 0 ? null : str(block, 157, 100);
  const typeflag = block[156]!;
  const type = TYPES[typeflag] ?? null;
  const h: TarHeader = {
    name,
    mode: num(block, 100, 8),
    uid: num(block, 108, 8),
    gid: num(block, 116, 8),
    size: num(block, 124, 12),
    mtime: new Date(1000 * num(block, 136, 12)),
    type,
    linkname,
    devmajor: v7 ? 0 : num(block, 329, 8),
    devminor: v7 ? 0 : num(block, 337, 8),
    typeflag,
    nameUtf8,
    linkUtf8: allUtf8,
  };
  if (type === 'gnu-sparse') h.oldSparse = { map: oldSparseMap(block, 386, 4), realsize: num(block, 483, 12), extended: block[482] !== 0 };
  return h;
}
