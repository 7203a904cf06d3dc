/**
 * Tar bytes for tests, written and walked by hand (no library between the test and the
 * bytes): headers in the ustar, GNU and V7 layouts, PAX and GNU long-name meta entries,
 * and a walker that splits an archive into its members with their meta entries.
 */

export interface HeaderFields {
  name: string;
  /** The typeflag byte as a character ('0' file, '5' directory, 'x' PAX, ...; '\0' old file). */
  type?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** 'ustar' (POSIX, the default), 'gnu' ("ustar  \0"), or 'v7' (no magic). */
  magic?: 'ustar' | 'gnu' | 'v7';
  /** ustar only: the name's leading directories (up to 155 bytes), joined to `name` with '/'. */
  prefix?: string;
}

function octal(b: Buffer, at: number, len: number, value: number): void {
  b.write(value.toString(8).padStart(len - 1, '0') + '\0', at, len, 'latin1');
}

/** One 512-byte header block with its checksum. */
export function header(f: HeaderFields): Buffer {
  const b = Buffer.alloc(512);
  b.write(f.name, 0, 100, 'utf8');
  octal(b, 100, 8, f.mode ?? 0o644);
  octal(b, 108, 8, f.uid ?? 0);
  octal(b, 116, 8, f.gid ?? 0);
  octal(b, 124, 12, f.size ?? 0);
  octal(b, 136, 12, f.mtime ?? 0);
  b.write(f.type ?? '0', 156, 1, 'latin1');
  if (f.linkname) b.write(f.linkname, 157, 100, 'utf8');
  const magic = f.magic ?? 'ustar';
  if (magic !== 'v7') {
    b.write(magic === 'ustar' ? 'ustar\x0000' : 'ustar  \x00', 257, 8, 'latin1');
    octal(b, 329, 8, f.devmajor ?? 0);
    octal(b, 337, 8, f.devminor ?? 0);
  }
  if (f.prefix) b.write(f.prefix, 345, 155, 'utf8');
  return withChecksum(b);
}

/** Sets a header's checksum field from its bytes. */
export function withChecksum(b: Buffer): Buffer {
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[i]!;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return b;
}

/** Content padded to whole blocks. */
export function blocks(content: Buffer | string): Buffer {
  const b = Buffer.from(content);
  return Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
}

/** A regular file (or any entry with content): header and padded content. */
export function entry(f: HeaderFields, content: Buffer | string = ''): Buffer {
  const body = Buffer.from(content);
  return Buffer.concat([header({ ...f, size: body.length }), blocks(body)]);
}

/** PAX records "<len> key=value\n". */
export function paxRecords(records: [string, string | Buffer][]): Buffer {
  return Buffer.concat(records.map(([k, v]) => {
    const body = Buffer.concat([Buffer.from(` ${k}=`), Buffer.from(v), Buffer.from('\n')]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    return Buffer.concat([Buffer.from(String(len)), body]);
  }));
}

/** A PAX extended header ('x', or 'g' global, or Solaris 'X') with its records. */
export function pax(records: [string, string | Buffer][], type = 'x'): Buffer {
  return entry({ name: 'PaxHeaders/x', type }, paxRecords(records));
}

/** A GNU long name ('L') or long link name ('K') meta entry. */
export function gnuLong(type: 'L' | 'K', value: string): Buffer {
  return entry({ name: '././@LongLink', type, magic: 'gnu' }, Buffer.concat([Buffer.from(value), Buffer.alloc(1)]));
}

export const END = Buffer.alloc(1024);

export function archive(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, END]);
}

/** A header's numeric field: octal text, or base-256 (top bit of the first byte set). */
function num(b: Buffer, at: number, len: number): number {
  if (b[at]! & 0x80) {
    let v = 0;
    for (let i = at + 1; i < at + len; i++) v = v * 256 + b[i]!;
    return v;
  }
  const text = b.toString('latin1', at, at + len).replace(/\0.*$/s, '').trim();
  return text ? Number.parseInt(text, 8) : 0;
}

export interface Member {
  /** Where the member starts (its first meta entry, or its header). */
  start: number;
  /** The entry's own header offset (after its meta entries). */
  offset: number;
  /** The bytes of the member: its meta entries, its header (and extension blocks), its content. */
  bytes: Buffer;
  typeflag: string;
}

const META = new Set(['x', 'X', 'L', 'K']);

/**
 * The members of an archive in order, each with the meta entries before it (PAX, GNU long
 * names) and, for old GNU sparse ('S'), its extension blocks; a global PAX header ('g') is
 * a member of its own. Sizes follow the header, or a PAX `size` record.
 */
export function members(tar: Buffer): Member[] {
  const out: Member[] = [];
  let start = 0;
  let paxSize: number | undefined;
  for (let off = 0; off + 512 <= tar.length;) {
    const h = tar.subarray(off, off + 512);
    if (h.every((c) => c === 0)) break;
    const typeflag = String.fromCharCode(h[156]!);
    let size = num(h, 124, 12);
    let end = off + 512;
    if (META.has(typeflag)) {
      if (typeflag === 'x' || typeflag === 'X') {
        const m = /(?:^|\n)\d+ size=(\d+)\n/.exec(tar.toString('latin1', end, end + size));
        if (m) paxSize = Number(m[1]);
      }
      off = end + Math.ceil(size / 512) * 512;
      continue;
    }
    if (paxSize !== undefined) size = paxSize;
    paxSize = undefined;
    if (typeflag === 'S') for (let ext = h[482]; ext; end += 512) ext = tar[end + 504];
    // Links, devices, fifos and directories store no content whatever their size says.
    const stored = '123456'.includes(typeflag) ? 0 : size;
    end += Math.ceil(stored / 512) * 512;
    out.push({ start, offset: off, bytes: tar.subarray(start, end), typeflag });
    start = off = end;
  }
  return out;
}
