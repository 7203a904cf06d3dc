/**
 * The image cache's part of gc: an image is kept when a root names it (the kernel adds the
 * images environments use), when any environment's metadata uses its rootfs, or when a
 * `keep` tap vetoes; everything else under images/ goes, with left-over downloads and
 * staged images from interrupted runs.
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { GcContext, Kernel } from '@karapace/kernel';
import { listCached } from './cache.js';

/** Image keys whose rootfs an environment's metadata references. */
async function referencedKeys(kernel: Kernel, imagesDir: string): Promise<Set<string>> {
  const keys = new Set<string>();
  const metaDir = join(kernel.storeRoot, 'store', 'metadata');
  for (const name of await readdir(metaDir).catch(() => [] as string[])) {
    if (!name.endsWith('.json')) continue;
    try {
      const meta = JSON.parse(await readFile(join(metaDir, name), 'utf8')) as { base?: { rootfs?: string } };
      const rootfs = meta.base?.rootfs;
      if (rootfs && rootfs.startsWith(imagesDir + '/')) keys.add(rootfs.slice(imagesDir.length + 1).split('/')[0]!);
    } catch {
      // Unreadable metadata: the kernel's gc reports it; keep everything it might name.
      keys.add('*');
    }
  }
  return keys;
}

export async function collectImages(kernel: Kernel, context: GcContext): Promise<void> {
  const imagesDir = context.imagesDir;
  const referenced = await referencedKeys(kernel, imagesDir);
  if (referenced.has('*')) return;
  for (const img of await listCached(imagesDir)) {
    if (context.interrupted()) return;
    const candidate = { kind: 'image', id: img.key, path: img.dir };
    if (context.roots.has(img.key) || context.roots.has(img.rootfs) || referenced.has(img.key) || kernel.hooks.keep.call(candidate)) continue;
    if (context.removed.some((r) => r.path === img.dir)) continue;
    context.removed.push(candidate);
    if (!context.dryRun) await rm(img.dir, { recursive: true, force: true });
  }
  // Partial downloads older than a day will not be resumed usefully.
  const downloads = join(imagesDir, '.downloads');
  for (const name of await readdir(downloads).catch(() => [] as string[])) {
    const path = join(downloads, name);
    const st = await stat(path).catch(() => undefined);
    if (!st || Date.now() - st.mtimeMs < 24 * 3600_000) continue;
    context.removed.push({ kind: 'image-download', id: name, path });
    if (!context.dryRun) await rm(path, { force: true });
  }
}
