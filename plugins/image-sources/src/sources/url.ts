/** http(s) rootfs tarballs: downloaded (resumably) into images/.downloads, verified, extracted. */
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { cacheKey, cachedImage, type CachedImage } from '../cache.js';
import { download, offlineError } from '../http.js';
import type { Pin } from '../reference.js';
import { imageFromArchive } from './archive.js';
import type { ResolveContext } from './context.js';

export async function resolveUrl(ctx: ResolveContext, url: string, pin?: Pin, kind = 'url'): Promise<CachedImage> {
  const identity = pin ? `${url}#${pin.algorithm}=${pin.hex}` : url;
  const key = cacheKey('url', identity);
  const cached = await cachedImage(ctx.kernel, ctx.request, key);
  if (cached) return cached;
  if (ctx.request.offline) throw offlineError(url);
  const file = join(ctx.request.imagesDir, '.downloads', `${key}.archive`);
  const digests = await download(url, file, { kernel: ctx.kernel, label: `downloading ${url}`, ...(pin ? { expected: pin } : {}) });
  try {
    // Hashed and verified while downloading: extraction does not hash the archive again.
    return await imageFromArchive(ctx, file, { key, kind, expected: pin, digests, source: (archive) => `${url}#sha256=${archive.sha256}` });
  } finally {
    await rm(file, { force: true });
  }
}
