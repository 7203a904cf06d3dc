/**
 * Push as a kernel operation every front end reaches (CLI, D-Bus): the kernel packs the
 * environment into its bundle (../bundle/create.ts), asks the remote which blobs it lacks,
 * uploads those and points the reference at the bundle. The remote plugin only moves blobs
 * and sets the reference (PushSink); what is sent, and that it is what was announced, is
 * the kernel's.
 */
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { RuntimeFailure } from '../errors.js';
import { StreamHasher } from '../hash.js';
import type { BundleBlobRef } from '../bundle/format.js';
import { openSource, planBundle, sourceBytes, sourceChunks, sourceSha256, type PreparedBundle } from '../bundle/create.js';
import type { Engine } from './engine.js';
import { findEnv } from './find.js';
import { materializeLayerTars } from './layer-tars.js';
import { badReference, parseRemoteReference } from './remote-reference.js';
import { openRemoteClient, safeUrl, type PullableRemote, type RemoteSelection } from './remote.js';
import { transferProgress } from './transfer-progress.js';

export interface PushTarget {
  name: string;
  tag: string;
}

/** One blob of a bundle as a push moves it. `role`: base, tree, upper, record, object, manifest. */
export interface PushBlob extends BundleBlobRef {
  role: string;
  /** Its SHA-256 (hex), when the sink asked for it (`needsSha256`). */
  sha256?: string;
}

/** A blob's bytes, produced on demand and checked against its hash while they are. */
export interface PushBytes {
  /** The whole blob as chunks, each valid only until the next is asked for (write each first). */
  chunks(): AsyncIterable<Buffer>;
  /** The blob, or its bytes `start`..`end` (inclusive), as a stream (chunked uploads). */
  open(start?: number, end?: number): Readable;
}

/** What a remote plugin gives the kernel to push one environment to `target`: blob moves only. */
export interface PushSink {
  /** The remote names blobs by SHA-256 (OCI): the kernel computes it before asking what is missing. */
  readonly needsSha256?: boolean;
  /**
   * The remote keeps any blob by its blake3 and answers `missing` for many at once: the kernel
   * then sends layers as trees and the content objects they name (bundle format v3), so only
   * file contents the remote lacks move. Pullers older than v3 refuse such a bundle.
   */
  readonly objects?: boolean;
  /** Blobs uploaded at once (default 1). */
  readonly parallel?: number;
  /** Of these blobs, the ones the remote lacks. */
  missing(blobs: PushBlob[]): Promise<PushBlob[]>;
  /** Uploads one blob the remote lacks. */
  putBlob(blob: PushBlob, bytes: PushBytes): Promise<void>;
  /**
   * Uploads many small blobs the remote lacks in one request (their bytes in the same order);
   * without it each goes through putBlob. The remote checks every hash.
   */
  putBatch?(blobs: PushBlob[], bytes: Buffer[]): Promise<void>;
  /**
   * Uploads bytes whose hash is known only once they have all been read (an upper dir that
   * changed since its last push: packed once, straight into the upload); answers the blob.
   * Without it the kernel packs the upper dir once more to hash it first.
   */
  putStreamed?(chunks: AsyncIterable<Buffer>, digest: () => string): Promise<BundleBlobRef>;
  /** Points the target at the bundle (its manifest blob is already there); answers whether it already did. */
  publish(bundle: PreparedBundle): Promise<{ unchanged: boolean; details?: Record<string, unknown> }>;
}

/** A remote client that can push: `openPush` names the target; the kernel drives the rest. */
export interface PushableRemote extends PullableRemote {
  openPush(target: PushTarget): Promise<PushSink>;
}

export interface PushOptions extends RemoteSelection {
  /** The environment: env_id, short_id, prefix or name. */
  env: string;
  /** `name@tag` on the remote. Default: the environment's name (or short_id) @latest. */
  reference?: string;
}

export interface PushResult {
  remote: string;
  reference: string;
  digest: string;
  env_id: string;
  /** Blobs the remote did not have, and their bytes. */
  uploaded: { blobs: number; bytes: number };
  skipped: { blobs: number; bytes: number };
  /** The reference already pointed at this digest. */
  unchanged: boolean;
  seconds: number;
  [detail: string]: unknown;
}

/** Blobs up to this size go in batches (PushSink.putBatch) of at most BATCH_COUNT blobs or about BATCH_BYTES. */
const BATCH_BLOB_BYTES = 256 << 10;
const BATCH_COUNT = 1024;
const BATCH_BYTES = 4 << 20;

/** Bytes of file content under a tree: the size estimate for a progress bar (the tar adds headers). */
function treeContentSize(dir: string): number {
  let total = 0;
  const walk = (abs: string) => {
    let entries;
    try {
      entries = readdirSync(abs, { withFileTypes: true });
    } catch {
      return; // a directory of subordinate ids: the progress total is an estimate
    }
    for (const e of entries) {
      const p = join(abs, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) total += lstatSync(p).size;
    }
  };
  walk(dir);
  return total;
}

/** Runs `fn` over the items, `width` at once; after a failure no new one starts, and it is thrown once all have stopped. */
async function runPool<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const workers = Array.from({ length: Math.min(Math.max(width, 1), items.length) }, async () => {
    try {
      while (next < items.length && !failed) await fn(items[next++]!);
    } catch (err) {
      failed = true;
      throw err;
    }
  });
  const results = await Promise.allSettled(workers);
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
}

async function* counted(chunks: AsyncIterable<Buffer>, add: (n: number) => void, hasher?: StreamHasher): AsyncGenerator<Buffer> {
  for await (const c of chunks) {
    hasher?.update(c);
    add(c.length);
    yield c;
  }
}

async function pushTarget(engine: Engine, options: PushOptions): Promise<PushTarget> {
  if (options.reference) {
    const parsed = parseRemoteReference(options.reference);
    if (!parsed || !parsed.tag) throw badReference(options.reference);
    return { name: parsed.name, tag: parsed.tag };
  }
  const meta = await findEnv(engine.layout, options.env);
  const name = (meta.name ?? meta.short_id).toLowerCase();
  if (!parseRemoteReference(name)) throw badReference(name);
  return { name, tag: 'latest' };
}

export async function pushEnvironment(engine: Engine, options: PushOptions): Promise<PushResult> {
  const started = Date.now();
  const target = await pushTarget(engine, options);
  await findEnv(engine.layout, options.env);
  const { client, url } = await openRemoteClient(engine, options);
  const remote = client as PushableRemote;
  try {
    if (typeof remote.openPush !== 'function') {
      throw new RuntimeFailure('KP_REMOTE_INCOMPLETE', `the remote client for ${safeUrl(url)} cannot push environments`, {
        hint: 'the plugin that answered the `remote` hook must provide openPush (docs/plugin-api.md)',
      });
    }
    const sink = await remote.openPush(target);
    const sha256 = sink.needsSha256 === true;
    const objects = sink.objects === true && !sha256;
    // Tar bundles move layers as tar objects; the store keeps trees and makes the tars here.
    if (!objects) await materializeLayerTars(engine, options.env);
    const streams = typeof sink.putStreamed === 'function' && !sha256;
    const plan = await planBundle(engine, options.env, { sha256, defer: streams, objects });
    const known: PushBlob[] = [];
    for (const b of plan.known) known.push(sha256 ? { ...b, sha256: await sourceSha256(plan, b.blob) } : b);
    const missing = new Set((await sink.missing(known)).map((b) => b.blob));
    const toSend = known.filter((b) => missing.has(b.blob));
    // An upper dir whose hash is unknown changed since its last push: it goes up too.
    const streamed = plan.upper === undefined;
    const total = toSend.reduce((n, b) => n + b.size, 0) + (streamed ? treeContentSize(plan.upperDir) : 0);
    const reference = `${target.name}@${target.tag}`;
    const count = `${toSend.length + (streamed ? 1 : 0)}/${known.length + (streamed ? 1 : 0)} blobs`;
    // Short: a bar with bytes, rate and ETA follows it on an 80-column terminal.
    const progress = transferProgress(engine.kernel, 'push', `push ${reference} (${count})`, total);
    let sent = 0;
    const add = (n: number) => { sent += n; progress.add(n); };
    const bytesOf = (hash: string): PushBytes => ({
      chunks: () => counted(sourceChunks(plan, hash), add),
      open: (start, end) => openSource(plan, hash, start, end).on('data', (c: Buffer) => add(c.length)),
    });
    let upper = plan.upper;
    let ok = false;
    // Small blobs (file contents, trees, records) go many to a request where the remote takes batches.
    const tasks: (() => Promise<void>)[] = [];
    let group: PushBlob[] = [];
    let groupBytes = 0;
    const close = (g: PushBlob[]) => tasks.push(async () => {
      const bytes: Buffer[] = [];
      for (const b of g) bytes.push(await sourceBytes(plan, b.blob));
      await sink.putBatch!(g, bytes);
      add(bytes.reduce((n, x) => n + x.length, 0));
    });
    for (const b of toSend) {
      if (!sink.putBatch || b.size > BATCH_BLOB_BYTES) {
        tasks.push(() => sink.putBlob(b, bytesOf(b.blob)));
        continue;
      }
      group.push(b);
      groupBytes += b.size;
      if (group.length >= BATCH_COUNT || groupBytes >= BATCH_BYTES) {
        close(group);
        group = [];
        groupBytes = 0;
      }
    }
    if (group.length) close(group);
    try {
      const uploads: Promise<void>[] = [runPool(tasks, sink.parallel ?? 1, (task) => task())];
      if (streamed) {
        uploads.push((async () => {
          // One pass: pack → hash → upload. The hash names the blob once the body has ended.
          const hasher = new StreamHasher();
          // Two reused pack buffers: the sink writes each chunk before asking for the next.
          const body = counted(plan.packUpper(), add, hasher);
          upper = await sink.putStreamed!(body, () => hasher.digest());
        })());
      }
      await Promise.all(uploads);
      ok = true;
    } catch (err) {
      // A file read unhashed that changed (the server then refused its bytes) is reported as the change it is.
      plan.unchanged();
      throw err;
    } finally {
      progress.end(ok);
    }
    const bundle = await plan.complete(upper!);
    const manifestBlob: PushBlob = { blob: bundle.digest, size: bundle.manifestBytes.length, role: 'manifest' };
    bundle.sources.set(bundle.digest, { kind: 'bytes', bytes: bundle.manifestBytes, size: bundle.manifestBytes.length });
    if (sha256) manifestBlob.sha256 = await sourceSha256(bundle, bundle.digest);
    let manifestSent = 0;
    if ((await sink.missing([manifestBlob])).length) {
      await sink.putBlob(manifestBlob, {
        chunks: () => sourceChunks(bundle, bundle.digest),
        open: (start, end) => openSource(bundle, bundle.digest, start, end),
      });
      manifestSent = bundle.manifestBytes.length;
    }
    const { unchanged, details } = await sink.publish(bundle);
    const skipped = known.filter((b) => !missing.has(b.blob));
    return {
      remote: remote.display ?? safeUrl(url), reference, digest: bundle.digest, env_id: bundle.manifest.env.env_id,
      uploaded: { blobs: toSend.length + (streamed ? 1 : 0) + (manifestSent ? 1 : 0), bytes: sent + manifestSent },
      skipped: { blobs: skipped.length, bytes: skipped.reduce((n, b) => n + b.size, 0) },
      unchanged, seconds: (Date.now() - started) / 1000, ...(details ?? {}),
    };
  } finally {
    remote.close?.();
  }
}
