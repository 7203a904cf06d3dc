/** Environments over the karapace HTTP protocol: push only what is missing, pull verified. */
import type { Readable } from 'node:stream';
import type { Engine } from '@karapace/kernel';
import { HttpRemoteClient } from './client.js';
import { bundleBlobs } from './bundle/format.js';
import { openSource, prepareBundle } from './bundle/create.js';
import { fetchManifest, installBundle } from './bundle/install.js';
import { badReference, notFound } from './errors.js';
import { formatBytes, transferProgress } from './progress.js';
import { parseReference } from './protocol.js';
import type { EnvRemote, PushResult, PushTarget } from './remote-api.js';

const PARALLEL_UPLOADS = 4;

function counted(stream: Readable, add: (n: number) => void): Readable {
  stream.on('data', (c: Buffer) => add(c.length));
  return stream;
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
    const bundle = await prepareBundle(engine, envRef);
    try {
      const blobs = bundleBlobs(bundle.manifest);
      const missing = new Set(await this.missing([...blobs.map((b) => b.blob), bundle.digest]));
      const toSend = blobs.filter((b) => missing.has(b.blob));
      const total = toSend.reduce((n, b) => n + b.size, 0) + (missing.has(bundle.digest) ? bundle.manifestBytes.length : 0);
      const reference = `${target.name}@${target.tag}`;
      const progress = transferProgress(engine.kernel, 'push', `pushing ${bundle.manifest.env.short_id} to ${this.display} as ${reference} (${toSend.length} of ${blobs.length} blobs, ${formatBytes(total)})`, total);
      let ok = false;
      try {
        await runPool(toSend, PARALLEL_UPLOADS, (b) => this.putBlob(b.blob, b.size, counted(openSource(bundle, b.blob), progress.add)));
        if (missing.has(bundle.digest)) {
          await this.putBlob(bundle.digest, bundle.manifestBytes.length, bundle.manifestBytes);
          progress.add(bundle.manifestBytes.length);
        }
        ok = true;
      } finally {
        progress.end(ok);
      }
      const current = await this.getRef(target.name, target.tag);
      const unchanged = current?.digest === bundle.digest;
      if (!unchanged) await this.putRef(target.name, target.tag, bundle.digest, current?.digest);
      const skipped = blobs.filter((b) => !missing.has(b.blob));
      return {
        remote: this.display, reference, digest: bundle.digest, env_id: bundle.manifest.env.env_id,
        uploaded: { blobs: toSend.length + (missing.has(bundle.digest) ? 1 : 0), bytes: total },
        skipped: { blobs: skipped.length, bytes: skipped.reduce((n, b) => n + b.size, 0) },
        unchanged, seconds: (Date.now() - started) / 1000,
      };
    } finally {
      await bundle.cleanup();
    }
  }

  async pullEnv(engine: Engine, reference: string, options: { name?: string }) {
    const parsed = parseReference(reference);
    if (!parsed) throw badReference(reference);
    let digest = parsed.digest;
    if (!digest) {
      const ref = await this.getRef(parsed.name, parsed.tag!);
      if (!ref) throw notFound(this.display, `${parsed.name}@${parsed.tag}`);
      digest = ref.digest;
    }
    const manifest = await fetchManifest((await this.getBlob(digest)).stream, digest, `bundle manifest of ${reference}`);
    const total = bundleBlobs(manifest).reduce((n, b) => n + b.size, 0);
    const progress = transferProgress(engine.kernel, 'pull', `pulling ${reference} from ${this.display} (${formatBytes(total)})`, total);
    let ok = false;
    try {
      const result = await installBundle(engine, manifest, digest, async (ref) => (await this.getBlob(ref.blob)).stream, {
        name: options.name, origin: `${this.display}/${parsed.name}@${parsed.tag ?? `blake3:${digest}`}`, onBytes: progress.add,
      });
      ok = true;
      return { ...result, remote: this.display, reference };
    } finally {
      progress.end(ok);
    }
  }
}
