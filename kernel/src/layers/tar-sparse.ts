/**
 * GNU sparse files as GNU tar reads them: old GNU ('S' headers, their map in the header and
 * in extension blocks) and the PAX formats 0.0 (repeated GNU.sparse.offset/numbytes
 * records), 0.1 (GNU.sparse.map) and 1.0 (the map at the start of the content). The stored
 * content is the map's regions back to back; expanded, each region lands at its offset and
 * the rest are holes, up to the real size. Anything else named GNU.sparse is refused.
 */
import { MAX_PAX_BYTES, badTar, unsupportedTar } from './tar-format.js';
import type { SparseRegion } from './tar-header.js';

export type { SparseRegion };

/** A sparse entry's layout: its map (null for 1.0: it opens the content) and expanded size. */
export interface SparseLayout {
  map: SparseRegion[] | null;
  realsize: number;
  /** GNU.sparse.name: the entry's real path (the header's is a stand-in). */
  name?: Buffer;
}

const PREFIX = 'GNU.sparse.';

function decimal(value: Buffer | string | undefined, what: string, entry: string, offset: number): number {
  const text = value?.toString('latin1') ?? '';
  if (!/^\d{1,16}$/.test(text)) throw badTar(`entry "${entry}" at archive offset ${offset}: malformed sparse ${what} "${text.slice(0, 40)}"`, { entry, offset });
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw badTar(`entry "${entry}" at archive offset ${offset}: sparse ${what} out of range`, { entry, offset });
  return n;
}

/**
 * The sparse layout a PAX header gives the entry, if any. `merged`: the records in force
 * (global, then the entry's own); `own`: the entry's own records in order (0.0 repeats keys).
 */
export function paxSparse(merged: Map<string, Buffer>, own: [string, Buffer][], entry: string, offset: number): SparseLayout | undefined {
  let any = false;
  for (const key of merged.keys()) if (key.startsWith(PREFIX)) any = true;
  if (!any) return undefined;
  const major = merged.get(`${PREFIX}major`)?.toString('latin1');
  const minor = merged.get(`${PREFIX}minor`)?.toString('latin1');
  const name = merged.get(`${PREFIX}name`);
  const size = merged.get(`${PREFIX}realsize`) ?? merged.get(`${PREFIX}size`);
  if (major !== undefined || minor !== undefined) {
    if (major !== '1' || minor !== '0') throw unsupportedTar(`GNU sparse format ${major ?? '?'}.${minor ?? '?'}`, entry, offset);
    return { map: null, realsize: decimal(size, 'real size', entry, offset), name };
  }
  if (merged.has(`${PREFIX}map`)) {
    const text = merged.get(`${PREFIX}map`)!.toString('latin1');
    const numbers = text === '' ? [] : text.split(',').map((n) => decimal(n, 'map', entry, offset));
    if (numbers.length % 2) throw badTar(`entry "${entry}" at archive offset ${offset}: sparse map with an odd count`, { entry, offset });
    return { map: pairs(numbers), realsize: decimal(size, 'real size', entry, offset), name };
  }
  const numbers: number[] = [];
  for (const [key, value] of own) {
    if (key === `${PREFIX}offset` || key === `${PREFIX}numbytes`) {
      // Strictly alternating, offset first: anything else is no map GNU tar writes.
      if ((key === `${PREFIX}offset`) !== (numbers.length % 2 === 0)) throw badTar(`entry "${entry}" at archive offset ${offset}: sparse 0.0 records out of order`, { entry, offset });
      numbers.push(decimal(value, key.slice(PREFIX.length), entry, offset));
    }
  }
  if (!numbers.length || numbers.length % 2) throw unsupportedTar('GNU sparse records without a complete map', entry, offset);
  return { map: pairs(numbers), realsize: decimal(size, 'real size', entry, offset), name };
}

function pairs(numbers: number[]): SparseRegion[] {
  const out: SparseRegion[] = [];
  for (let i = 0; i < numbers.length; i += 2) out.push({ offset: numbers[i]!, size: numbers[i + 1]! });
  return out;
}

/**
 * The 1.0 map that opens the content: decimal lines (the count, then offset and size per
 * region), padded to whole blocks. `next` reads the content's next 512-byte block.
 * Returns the map and the bytes of content it took.
 */
export async function readSparseMap(next: () => Promise<Buffer>, stored: number, entry: string, offset: number): Promise<{ map: SparseRegion[]; bytes: number }> {
  let text = '';
  let bytes = 0;
  for (;;) {
    const lines = text.split('\n');
    lines.pop(); // the part after the last newline is not a whole number yet
    const count = lines.length ? decimal(lines[0], 'map count', entry, offset) : -1;
    if (count >= 0 && lines.length >= 1 + 2 * count) {
      return { map: pairs(lines.slice(1, 1 + 2 * count).map((n) => decimal(n, 'map', entry, offset))), bytes };
    }
    if (bytes + 512 > stored || bytes >= MAX_PAX_BYTES) {
      throw badTar(`entry "${entry}" at archive offset ${offset}: the sparse map does not fit its content`, { entry, offset });
    }
    text += (await next()).toString('latin1');
    bytes += 512;
  }
}

/**
 * Checks a map against the entry: regions in order, not overlapping, inside the real size,
 * and exactly the `data` bytes stored for them.
 */
export function checkSparseMap(map: SparseRegion[], realsize: number, data: number, entry: string, offset: number): void {
  let end = 0;
  let sum = 0;
  for (const r of map) {
    if (!Number.isSafeInteger(r.offset) || !Number.isSafeInteger(r.size) || r.offset < end || r.size < 0 || r.offset + r.size > realsize) {
      throw badTar(`entry "${entry}" at archive offset ${offset}: sparse map region ${r.offset}+${r.size} out of order or past the real size ${realsize}`, { entry, offset });
    }
    end = r.offset + r.size;
    sum += r.size;
  }
  if (sum !== data) throw badTar(`entry "${entry}" at archive offset ${offset}: the sparse map holds ${sum} bytes, the archive ${data}`, { entry, offset });
}
