/**
 * A directory's deterministic tar → its tree, without storing anything: what a push of a
 * live upper dir needs (bundle v3) when the files can be read again from the directory at
 * upload time. It reads the tar exactly as store/tree-ingest.ts does — each header
 * re-encoded from the entry it became and compared with the bytes read, so the tree gives
 * back the very tar — but hashes file contents instead of writing them as objects
 * (test/kernel/bundle/tree-scan.test.ts checks it gives ingest's tree).
 */
import { StreamHasher } from '../hash.js';
import { encodeEntry } from '../layers/pack.js';
import { BLOCK, decodePax, padding, type UstarHeader } from '../layers/tar-format.js';
import { decodeHeader } from '../layers/tar-header.js';
import { isZero, Reader } from '../layers/tar-reader.js';
import type { ContentCache } from '../store/content-cache.js';
import { tarPartsOf, treeEntryOf, type TreeEntry } from '../store/tree.js';

export interface ScannedTar {
  entries: TreeEntry[];
  /** blake3 and size of the whole tar. */
  tarHash: string;
  tarSize: number;
}

class NotPackers extends Error {}

async function exactly(reader: Reader, n: number): Promise<Buffer> {
  const b = await reader.read(n);
  if (!b || b.length !== n) throw new NotPackers('the tar ends early');
  return Buffer.from(b);
}

function header(block: Buffer): UstarHeader {
  let h: UstarHeader | null;
  try {
    h = decodeHeader(block);
  } catch (err) {
    throw new NotPackers((err as Error).message);
  }
  if (!h) throw new NotPackers('an empty header before the end of the archive');
  return h;
}

/**
 * The tree of a tar the deterministic packer wrote; undefined when it is not one byte for
 * byte. `cache`: content hashes by stat fingerprint (store/content-cache.ts); a file it
 * knows is not hashed again (its bytes still pass through the tar's hash).
 */
export async function scanTar(source: AsyncIterable<Uint8Array>, cache?: ContentCache): Promise<ScannedTar | undefined> {
  const tar = new StreamHasher();
  const reader = new Reader((async function* () {
    for await (const chunk of source) {
      tar.update(chunk);
      yield chunk;
    }
  })());
  const entries: TreeEntry[] = [];
  try {
    for (;;) {
      const first = await exactly(reader, BLOCK);
      if (isZero(first)) {
        if (!isZero(await exactly(reader, BLOCK))) throw new NotPackers('a single zero block');
        if ((await reader.read(1)) !== null) throw new NotPackers('bytes after the end of the archive');
        break;
      }
      const raw = [first];
      let h = header(first);
      let pax: Map<string, Buffer> | null = null;
      if (h.type === 'pax-header') {
        const body = await exactly(reader, h.size);
        raw.push(body, await exactly(reader, padding(h.size)));
        pax = decodePax(body);
        const real = await exactly(reader, BLOCK);
        raw.push(real);
        h = header(real);
      }
      let content: string | undefined;
      if (h.type === 'file' && h.size > 0) {
        const path = (pax?.get('path')?.toString('utf8') ?? h.name).replace(/\/+$/, '');
        const known = cache?.lookup(path, h.size);
        if (known) {
          await reader.stream(h.size, () => undefined);
          content = known;
        } else {
          const hasher = new StreamHasher();
          await reader.stream(h.size, (piece) => { hasher.update(piece); });
          content = hasher.digest();
        }
        cache?.record(path, content);
        if (!isZero(await exactly(reader, padding(h.size)))) throw new NotPackers('non-zero padding');
      } else if (h.size !== 0) throw new NotPackers(`a ${h.type} entry with a body`);
      const entry = treeEntryOf(h, pax, content);
      if (!entry) throw new NotPackers(`an entry the packer does not write (${h.type} ${h.name})`);
      if (!Buffer.concat(encodeEntry(tarPartsOf(entry))).equals(Buffer.concat(raw))) throw new NotPackers(`the header of ${entry.path} is not the packer's`);
      entries.push(entry);
    }
  } catch (err) {
    if (err instanceof NotPackers) return undefined;
    throw err;
  } finally {
    await reader.close();
  }
  return { entries, tarHash: tar.digest(), tarSize: tar.size };
}
