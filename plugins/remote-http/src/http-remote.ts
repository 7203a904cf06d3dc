/** Environments over the karapace HTTP protocol: push only what is missing, pull verified. */
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { bundleBlobs, packTree, StreamHasher, transferProgress, type BlobStream, type Engine, type PullSource } from '@karapace/kernel';
import { HttpRemoteClient } from './client.js';
import { planBundle, sourceChunks } from './bundle/create.js';
import { badReference, notFound } from './errors.js';
import { parseReference } from './protocol.js';
import type { EnvRemote, PushResult, PushTarget } from './remote-api.js';

const PARALLEL_UPLOADS = 4;
/** Blobs larger than this are downloaded on a connection of their own (client.openBlob); smaller ones share the keep-alive pool. */
const LARGE_BLOB_BYTES = 1 << 20;

async function* counted(chunks: AsyncIterable<Buffer>, add: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const c of chunks) {
    add(c.length);
    yield c;
  }
}

async function* hashing(chunks: AsyncIterable<Buffer>, hasher: StreamHasher, add: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const c of chunks) {
    hasher.update(c);
    add(c.length);
    yield c;
  }
}

/** Bytes of file content under a tree: the size estimate for a progress bar (the tar adds headers). */
async function treeContentSize(dir: string): Promise<number> {
  let total = 0;
  const walk = (abs: string) => {
    for (const e of readdirSync(abs, { withFileTypes: true })) {
      const p = join(abs, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) total += lstatSync(p).size;
    }
  };
  walk(dir);
  return total;
}

async function runPool<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}

export class HttpEnvRemote extends HttpRemoteClient implements EnvRemote {
  [key: string]: unknown;

  async pushEnv(engine: Engine, envRef: string, target: PushTarget): Promise<PushResult> {
    const started = Date.now();
    const plan = await planBundle(engine, envRef, { defer: true });
    const missing = new Set(await this.missing(plan.known.map((b) => b.blob)));
    const toSend = plan.known.filter((b) => missing.has(b.blob));
    // An upper dir whose hash is unknown changed since its last push: it goes up too.
    const streamed = plan.upper === undefined;
    const upperGuess = streamed ? await treeContentSize(plan.upperDir) : 0;
    const total = toSend.reduce((n, b) => n + b.size, 0) + upperGuess;
    const reference = `${target.name}@${target.tag}`;
    // Short: a bar with bytes, rate and ETA follows it on an 80-column terminal.
    const label = `push ${reference} (${toSend.length + (streamed ? 1 : 0)}/${plan.known.length + (streamed ? 1 : 0)} blobs)`;
    const progress = transferProgress(engine.kernel, 'push', label, total);
    let ok = false;
    let upper = plan.upper;
    let sent = 0;
    const add = (n: number) => { sent += n; progress.add(n); };
    try {
      const uploads: Promise<void>[] = [runPool(toSend, PARALLEL_UPLOADS, async (b) => {
        await this.putBlob(b.blob, b.size, counted(sourceChunks(plan, b.blob), add));
      })];
      if (streamed) {
        uploads.push((async () => {
          // One pass: pack → hash → socket. The hash names the blob once the body has ended.
          const hasher = new StreamHasher();
          // Two reused pack buffers: the client writes each chunk before asking for the next.
          const body = hashing(packTree(plan.upperDir, { chunkSize: 4 << 20, reuseBuffers: true }), hasher, add);
          const done = await this.uploadStreamed(body, () => hasher.digest());
          upper = { blob: done.hash, size: done.size };
        })());
      }
      await Promise.all(uploads);
      ok = true;
    } finally {
      progress.end(ok);
    }
    const bundle = await plan.complete(upper!);
    let manifestSent = 0;
    if ((await this.missing([bundle.digest])).length) {
      await this.putBlob(bundle.digest, bundle.manifestBytes.length, bundle.manifestBytes);
      manifestSent = bundle.manifestBytes.length;
    }
    const current = await this.getRef(target.name, target.tag);
    const unchanged = current?.digest === bundle.digest;
    if (!unchanged) await this.putRef(target.name, target.tag, bundle.digest, current?.digest);
    const all = bundleBlobs(bundle.manifest);
    const uploadedBlobs = toSend.length + (streamed ? 1 : 0) + (manifestSent ? 1 : 0);
    const skipped = all.filter((b) => !missing.has(b.blob) && !(streamed && b.blob === upper!.blob));
    return {
      remote: this.display, reference, digest: bundle.digest, env_id: bundle.manifest.env.env_id,
      uploaded: { blobs: uploadedBlobs, bytes: sent + manifestSent },
      skipped: { blobs: skipped.length, bytes: skipped.reduce((n, b) => n + b.size, 0) },
      unchanged, seconds: (Date.now() - started) / 1000,
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
    return {
      digest,
      origin: `${this.display}/${parsed.name}@${parsed.tag ?? `blake3:${digest}`}`,
      // Large blobs get a connection of their own; small ones share the keep-alive pool.
      openBlob: async (ref): Promise<BlobStream> => (ref.size !== undefined && ref.size > LARGE_BLOB_BYTES ? this.openBlob(ref.blob, ref.size) : (await this.getBlob(ref.blob, ref.size)).stream),
    };
  }
}
