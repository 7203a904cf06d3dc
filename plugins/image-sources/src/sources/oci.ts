/**
 * OCI registry references: the manifest (or the index entry for this platform), then the
 * layers in order, each verified against its sha256 before it is applied, with OCI
 * whiteouts honoured — one flattened rootfs, cached under the manifest digest.
 */
import { join } from 'node:path';
import { mkdir, rm } from 'node:fs/promises';
import { RuntimeFailure } from '@karapace/kernel';
import { serverArch } from '../aliases.js';
import { cacheKey, cachedImage, cachedForReference, commitImage, discardStaged, stageImage, type CachedImage } from '../cache.js';
import { CanonicalTree } from '@karapace/kernel';
import { openTar } from '../decompress.js';
import { download, offlineError } from '../http.js';
import { log, startTask } from '../progress.js';
import { skippedSummary, unpackImage } from '../unpack.js';
import type { SourceRef } from '../reference.js';
import type { ResolveContext } from './context.js';
import { RegistryClient, type Descriptor } from './registry.js';

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

export function pickPlatform(manifests: Descriptor[], arch: string): Descriptor | undefined {
  return manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === arch && (arch !== 'arm64' || !m.platform.variant || m.platform.variant === 'v8'));
}

export function ociName(ref: SourceRef & { kind: 'oci' }): string {
  return `${ref.registry}/${ref.repository}`;
}

export async function resolveOci(ctx: ResolveContext, ref: SourceRef & { kind: 'oci' }): Promise<CachedImage> {
  const name = ociName(ref);
  const keyFor = (digest: string) => cacheKey('oci', `${name}@${digest}`);
  if (ref.digest) {
    const cached = await cachedImage(ctx.kernel, ctx.request, keyFor(ref.digest));
    if (cached) return cached;
  } else if (ctx.request.offline || ctx.request.expectedDigest) {
    const cached = await cachedForReference(ctx.kernel, ctx.request.imagesDir, ctx.request.image, ctx.request.expectedDigest);
    if (cached) return cached;
  }
  if (ctx.request.offline) throw offlineError(`the image ${ctx.request.image}`);

  const client = new RegistryClient(ref.registry, ref.repository, ctx.options);
  const top = await client.manifest(ref.digest ?? ref.tag ?? 'latest');
  const arch = ctx.options.arch ?? serverArch();
  let manifest = top;
  if (INDEX_TYPES.has(top.mediaType) || top.doc.manifests) {
    const entry = pickPlatform(top.doc.manifests ?? [], arch);
    if (!entry) {
      throw new RuntimeFailure('KP_IMAGE_NOT_FOUND', `${ctx.request.image} has no linux/${arch} image`, {
        hint: `available: ${(top.doc.manifests ?? []).map((m) => `${m.platform?.os}/${m.platform?.architecture}`).join(', ') || 'none'}`,
      });
    }
    manifest = await client.manifest(entry.digest);
  }
  const key = keyFor(top.digest);
  const cached = await cachedImage(ctx.kernel, ctx.request, key);
  if (cached) return cached;
  const layers = manifest.doc.layers ?? [];
  if (!layers.length) throw new RuntimeFailure('KP_IMAGE_EMPTY', `${ctx.request.image} has no layers`, { hint: 'is this a container image?' });

  const staged = await stageImage(ctx.request.stagingDir, key);
  const downloads = join(ctx.request.imagesDir, '.downloads');
  await mkdir(downloads, { recursive: true });
  // The identity comes from the flattened layers' entries, not from what this user could extract.
  const tree = new CanonicalTree();
  const warnings: string[] = [];
  try {
    for (const [i, layer] of layers.entries()) {
      const m = /^sha256:([0-9a-f]{64})$/.exec(layer.digest);
      if (!m) throw new RuntimeFailure('KP_IMAGE_LAYER_DIGEST', `layer ${layer.digest} does not use sha256`, { hint: 'only sha256 layer digests are supported' });
      const file = join(downloads, `${m[1]}.blob`);
      await download(client.blobUrl(layer.digest), file, {
        kernel: ctx.kernel, label: `layer ${i + 1}/${layers.length} ${layer.digest.slice(7, 19)}`,
        headers: client.authHeader, expected: { algorithm: 'sha256', hex: m[1]! },
      });
      const task = startTask(ctx.kernel, `applying layer ${i + 1}/${layers.length}`, layer.size, 'bytes');
      let read = 0;
      try {
        const source = await openTar(file, (c) => task.advance((read += c.length), layer.size));
        try {
          warnings.push(...(await unpackImage(source.chunks, staged.rootfs, tree)).warnings);
        } catch (err) {
          source.destroy();
          throw err;
        }
        task.end(true);
      } catch (err) {
        task.end(false, (err as Error).message);
        throw err;
      } finally {
        await rm(file, { force: true });
      }
    }
    const tag = ref.tag ? `:${ref.tag}` : '';
    const skipped = skippedSummary(warnings);
    if (skipped) log(ctx.kernel, 'warn', skipped);
    const { digest, listing } = tree.digest();
    return await commitImage(ctx.request.imagesDir, staged, { key, kind: 'oci', reference: ctx.request.image, source: `${name}${tag}@${top.digest}` }, digest, { known: tree.contentHashes(), listing });
  } catch (err) {
    await discardStaged(staged);
    throw err;
  }
}
