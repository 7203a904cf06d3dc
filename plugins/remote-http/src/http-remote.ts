/**
 * Environments over the karapace HTTP protocol. The kernel packs, verifies and installs
 * (push.ts, pull.ts); this client only moves blobs by digest and sets references.
 */
import { badReference, type BlobStream, type BundleBlobRef, type PreparedBundle, type PullSource, type PushBlob, type PushBytes, type PushSink, type PushTarget } from '@karapace/kernel';
import { HttpRemoteClient } from './client.js';
import { notFound } from './errors.js';
import { FEATURE_BATCH, parseReference } from './protocol.js';
import type { EnvRemote } from './remote-api.js';

const PARALLEL_UPLOADS = 4;
/** Blobs larger than this are downloaded on a connection of their own (client.openBlob); smaller ones share the keep-alive pool. */
const LARGE_BLOB_BYTES = 1 << 20;

export class HttpEnvRemote extends HttpRemoteClient implements EnvRemote {
  [key: string]: unknown;
  /** Push bundles v1/v2 (a tar per layer) instead of v3 (plugin option `bundle: "tars"`). */
  tarBundles = false;

  /** Uploads what the remote lacks, then moves `target` to the bundle with compare-and-swap. */
  async openPush(target: PushTarget): Promise<PushSink> {
    // Servers that take batches (feature `batch`) get small blobs many to a request.
    const batch = (await this.features()).has(FEATURE_BATCH);
    return {
      ...(batch ? { putBatch: (blobs: PushBlob[], bytes: Buffer[]) => this.putBatch(blobs.map((b, i) => ({ hash: b.blob, bytes: bytes[i]! }))) } : {}),
      // The server keeps any blob by its blake3: layers go as trees and the file contents it lacks (bundle v3).
      objects: !this.tarBundles,
      parallel: PARALLEL_UPLOADS,
      missing: async (blobs: PushBlob[]) => {
        const lacking = new Set(await this.missing(blobs.map((b) => b.blob)));
        return blobs.filter((b) => lacking.has(b.blob));
      },
      putBlob: (blob: PushBlob, bytes: PushBytes) => this.putBlob(blob.blob, blob.size, bytes.chunks()),
      putStreamed: async (chunks: AsyncIterable<Buffer>, digest: () => string): Promise<BundleBlobRef> => {
        const done = await this.uploadStreamed(chunks, digest);
        return { blob: done.hash, size: done.size };
      },
      publish: async (bundle: PreparedBundle) => {
        const current = await this.getRef(target.name, target.tag);
        const unchanged = current?.digest === bundle.digest;
        if (!unchanged) await this.putRef(target.name, target.tag, bundle.digest, current?.digest);
        return { unchanged };
      },
    };
  }

  /** Resolves a reference to its bundle digest; blobs are then opened by digest only (the kernel verifies them). */
  async openPull(reference: string): Promise<PullSource> {
    const parsed = parseReference(reference);
    if (!parsed) throw badReference(reference);
    let digest = parsed.digest;
    if (!digest) {
      const ref = await this.getRef(parsed.name, parsed.tag!);
      if (!ref) throw notFound(this.display, `${parsed.name}@${parsed.tag}`);
      digest = ref.digest;
    }
    const batch = (await this.features()).has(FEATURE_BATCH);
    return {
      ...(batch ? { openBatch: (refs: BundleBlobRef[]) => this.fetchBatch(refs.map((r) => ({ hash: r.blob, size: r.size }))) } : {}),
      digest,
      origin: `${this.display}/${parsed.name}@${parsed.tag ?? `blake3:${digest}`}`,
      // Large blobs get a connection of their own; small ones share the keep-alive pool.
      openBlob: async (ref): Promise<BlobStream> => (ref.size !== undefined && ref.size > LARGE_BLOB_BYTES ? this.openBlob(ref.blob, ref.size) : (await this.getBlob(ref.blob, ref.size)).stream),
    };
  }
}
