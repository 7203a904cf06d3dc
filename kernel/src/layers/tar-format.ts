/**
 * The tar codec pieces we use from tar-stream (its ustar header encoder/decoder), plus a
 * binary-safe PAX record codec: tar-stream's own PAX codec decodes values as UTF-8, which
 * mangles binary xattrs such as `security.capability`.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { StoreError } from '../errors.js';

export type TarEntryType =
  | 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo'
  | 'contiguous-file' | 'pax-header' | 'pax-global-header' | 'gnu-long-path' | 'gnu-long-link-path'
  | 'gnu-sparse' | 'gnu-dumpdir' | 'gnu-volume-header';

export interface UstarHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Date;
  type: TarEntryType | null;
  linkname: string | null;
  uname?: string;
  gname?: string;
  devmajor: number;
  devminor: number;
}

interface HeaderCodec {
  encode(header: UstarHeader): Buffer | null;
}

const require = createRequire(import.meta.url);
let codec: HeaderCodec | undefined;
/**
 * tar-stream's header encoder (its module is not in the package's `exports` map, so loaded
 * by file path), loaded on first use: commands that never pack a tar don't pay for it.
 * Decoding is tar-header.ts's.
 */
export const headerCodec: HeaderCodec = {
  encode: (header) => (codec ??= require(join(dirname(require.resolve('tar-stream')), 'headers.js')) as HeaderCodec).encode(header),
};

export const BLOCK = 512;
export const EPOCH = new Date(0);
/** The largest id a ustar header holds (7 octal digits); larger ids go into PAX. */
export const USTAR_MAX_ID = 0o7777777;
/** PAX headers above this are refused: real ones are a few hundred bytes. */
export const MAX_PAX_BYTES = 1 << 20;
export const MAX_PATH_BYTES = 4096;
export const END_OF_ARCHIVE = Buffer.alloc(BLOCK * 2);

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export function padding(size: number): number {
  const rem = size % BLOCK;
  return rem === 0 ? 0 : BLOCK - rem;
}

/** One PAX record: "<len> <key>=<value>\n", where len counts its own digits. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

export function encodePax(records: [string, Buffer][]): Buffer {
  return Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
}

/** Decodes PAX records keeping values as bytes; a later record of a key replaces an earlier one. */
export function decodePax(buf: Buffer): Map<string, Buffer> {
  return new Map(decodePaxRecords(buf));
}

/** Decodes PAX records in order, keeping values as bytes (GNU sparse 0.0 repeats its keys). */
export function decodePaxRecords(buf: Buffer): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf[off] === 0) break;
    const space = buf.indexOf(0x20, off);
    if (space < 0 || space - off > 10) throw badTar('malformed PAX record (no length)');
    const len = Number.parseInt(buf.subarray(off, space).toString('latin1'), 10);
    if (!Number.isInteger(len) || len <= space - off + 1 || off + len > buf.length) throw badTar('malformed PAX record (bad length)');
    const record = buf.subarray(space + 1, off + len - 1);
    if (buf[off + len - 1] !== 0x0a) throw badTar('malformed PAX record (no newline)');
    const eq = record.indexOf(0x3d);
    if (eq < 0) throw badTar('malformed PAX record (no "=")');
    out.push([record.subarray(0, eq).toString('utf8'), Buffer.from(record.subarray(eq + 1))]);
    off += len;
  }
  return out;
}

/** What the unpacker says when the tar file it reads has become shorter than it was. */
export const SOURCE_SHRANK = 'the archive changed while it was being unpacked (it is shorter than it was)';

export function badTar(why: string, data?: Record<string, unknown>): StoreError {
  return new StoreError('KP_LAYER_REJECTED', `layer rejected: ${why}`, {
    hint: 'the archive is malformed or hostile; nothing was written outside the target directory — get the layer from a trusted source',
    data,
  });
}

/**
 * A tar feature the unpacker does not read (docs/storage-format.md lists them): refused
 * rather than unpacked into a tree GNU tar would not write.
 */
export function unsupportedTar(feature: string, entry: string, offset: number): StoreError {
  return new StoreError('KP_LAYER_UNSUPPORTED', `tar archive refused: ${feature} (entry "${entry}" at archive offset ${offset}) is not supported`, {
    hint: 'nothing was written outside the target directory; docs/storage-format.md lists the tar features Karapace does not read — repack the archive without it (GNU tar --format=pax)',
    data: { feature, entry, offset },
  });
}

/**
 * Normalises an entry path to a relative, slash-separated form, refusing what could
 * leave the target: absolute paths, `..` components, NUL bytes, overlong names.
 */
export function safeEntryPath(raw: string): string {
  const plain = plainEntryPath(raw);
  if (plain !== undefined) return plain;
  if (raw.includes('\0')) throw badTar(`entry name contains a NUL byte`, { name: raw });
  if (Buffer.byteLength(raw) > MAX_PATH_BYTES) throw badTar(`entry name longer than ${MAX_PATH_BYTES} bytes`);
  if (raw.startsWith('/')) throw badTar(`absolute path "${raw}"`, { name: raw });
  const parts: string[] = [];
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw badTar(`path "${raw}" contains ".."`, { name: raw });
    parts.push(part);
  }
  return parts.join('/');
}

/**
 * safeEntryPath's common case without splitting (it showed at thousands of entries): an
 * optional leading "./" and trailing "/" around parts that are neither empty, ".", ".."
 * nor hold a NUL. Undefined: anything else, for the full check.
 */
function plainEntryPath(raw: string): string | undefined {
  // Short enough that its UTF-8 cannot exceed the limit (at most 3 bytes per UTF-16 unit).
  if (raw.length > MAX_PATH_BYTES / 3) return undefined;
  const start = raw.charCodeAt(0) === 0x2e && raw.charCodeAt(1) === 0x2f ? 2 : 0;
  const end = raw.length > start && raw.charCodeAt(raw.length - 1) === 0x2f ? raw.length - 1 : raw.length;
  if (end <= start) return undefined;
  let part = start;
  for (let i = start; i <= end; i++) {
    const c = i < end ? raw.charCodeAt(i) : 0x2f;
    if (c === 0) return undefined;
    if (c !== 0x2f) continue;
    const len = i - part;
    if (len === 0 || (raw.charCodeAt(part) === 0x2e && (len === 1 || (len === 2 && raw.charCodeAt(part + 1) === 0x2e)))) return undefined;
    part = i + 1;
  }
  return start === 0 && end === raw.length ? raw : raw.slice(start, end);
}
