/**
 * Decoding a 512-byte tar header for the unpacker, with tar-stream's semantics (ustar with
 * its name prefix, GNU and old-GNU, base-256 numbers, the checksum, an all-zero block as
 * the end) but without building a string per numeric field: at thousands of entries the
 * generic decoder cost the unpacker's main thread more than deciding what to do with them.
 * Numeric fields are stricter: anything but octal digits (after leading spaces and NULs,
 * up to a space or NUL) decodes as NaN, which the unpacker refuses.
 */
import type { TarEntryType, UstarHeader } from './tar-format.js';

const TYPES: Record<number, TarEntryType> = {
  0: 'file', 1: 'link', 2: 'symlink', 3: 'character-device', 4: 'block-device', 5: 'directory', 6: 'fifo', 7: 'contiguous-file',
  72: 'pax-header', 55: 'pax-global-header', 27: 'gnu-long-link-path', 28: 'gnu-long-path', 30: 'gnu-long-path',
};

/** A NUL-terminated string field (UTF-8). */
function str(b: Buffer, at: number, len: number): string {
  let end = at;
  const max = at + len;
  while (end < max && b[end] !== 0) end++;
  return b.toString('utf8', at, end);
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

const isMagic = (b: Buffer, s: string) => {
  for (let i = 0; i < s.length; i++) if (b[257 + i] !== s.charCodeAt(i)) return false;
  return true;
};

/** The header in `block` (512 bytes); null for an empty header; throws on a bad checksum or format. */
export function decodeHeader(block: Buffer): UstarHeader | null {
  const sum = checksum(block);
  if (sum === 8 * 32) return null;
  if (sum !== num(block, 148, 8)) throw new Error('Invalid tar header. Maybe the tar is corrupted or it needs to be gunzipped?');
  let name = str(block, 0, 100);
  if (isMagic(block, 'ustar\0')) {
    if (block[345]) name = `${str(block, 345, 155)}/${name}`;
  } else if (!(isMagic(block, 'ustar ') && block[263] === 0x20 && block[264] === 0)) {
    throw new Error('Invalid tar header: unknown format.');
  }
  let flag = block[156] === 0 ? 0 : block[156]! - 0x30;
  // Old tars mark directories with a trailing slash.
  if (flag === 0 && name.endsWith('/')) flag = 5;
  return {
    name,
    mode: num(block, 100, 8),
    uid: num(block, 108, 8),
    gid: num(block, 116, 8),
    size: num(block, 124, 12),
    mtime: new Date(1000 * num(block, 136, 12)),
    type: TYPES[flag] ?? null,
    linkname: block[157] === 0 ? null : str(block, 157, 100),
    devmajor: num(block, 329, 8),
    devminor: num(block, 337, 8),
  };
}
