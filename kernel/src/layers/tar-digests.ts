/**
 * What the producer of a tar hashed as it wrote the bytes (issue 18): each regular file's
 * content blake3, in tar order. The pack thread (pack-tree-thread.ts) hashes what it has just
 * read, on its own CPU, so the ingest (store/tree-ingest.ts) does not hash those bytes again
 * on the thread that checks and stores them (it still hashes the whole tar: the two threads'
 * work stays about even). Only a producer in this process gives digests (they are trusted
 * as the bytes are: the same code made both).
 */
export class TarDigests {
  /** [path, hash] pairs flattened, in tar order; `next` the first one not taken. */
  private readonly contents: string[] = [];
  private next = 0;

  add(pairs: readonly string[]): void {
    for (const x of pairs) this.contents.push(x);
  }

  /**
   * The content hash of the next regular file with content, which must be `path`: a
   * mismatch is a bug in the producer, never a property of the tree, so it throws.
   */
  content(path: string): string {
    const at = this.next;
    if (this.contents[at] !== path) throw new Error(`the pack thread's content hashes are out of step with its tar (at ${path}, it has ${this.contents[at] ?? 'nothing'})`);
    this.next = at + 2;
    return this.contents[at + 1]!;
  }
}

/** A tar with the producer's digests. */
export interface DigestedTar extends AsyncIterable<Uint8Array> {
  digests: TarDigests;
}

export function digestsOf(source: AsyncIterable<Uint8Array>): TarDigests | undefined {
  return (source as Partial<DigestedTar>).digests;
}
