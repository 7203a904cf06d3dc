/**
 * Local tarballs and directories. A tarball is cached by path, size, inode and mtime (a
 * changed file is a new image); a directory is copied into the cache (so later edits to
 * it cannot change an environment's base) and copied again when its stat fingerprint changes.
 */
import { spawn } from 'node:child_process';
import { fsAsync, RuntimeFailure } from '@karapace/kernel';
import { cacheKey, cachedImage, commitImage, discardStaged, stageImage, type CachedImage } from '../cache.js';
import { digestRootfs, fingerprintRootfs } from '../digest.js';
import type { Pin } from '../reference.js';
import { imageFromArchive } from './archive.js';
import type { ResolveContext } from './context.js';

function pinSuffix(pin: Pin | undefined): string {
  return pin ? `#${pin.algorithm}=${pin.hex}` : '';
}

export async function resolveLocal(ctx: ResolveContext, path: string, pin?: Pin): Promise<CachedImage> {
  const st = await fsAsync.stat(path).catch(() => undefined);
  if (!st) {
    throw new RuntimeFailure('KP_IMAGE_NOT_FOUND', `base image path ${path} does not exist`, {
      hint: 'fix [base] image (relative paths resolve against the manifest\'s directory)',
      data: { path },
    });
  }
  if (st.isDirectory()) return resolveDirectory(ctx, path, pin);
  const key = cacheKey('file', `${path}\0${st.size}\0${st.ino}\0${st.mtimeMs}${pinSuffix(pin)}`);
  const cached = await cachedImage(ctx.kernel, ctx.request, key);
  if (cached) return cached;
  return imageFromArchive(ctx, path, {
    key, kind: 'file', expected: pin,
    source: (archive) => `${path}#blake3=${archive.blake3}`,
  });
}

async function resolveDirectory(ctx: ResolveContext, dir: string, pin?: Pin): Promise<CachedImage> {
  if (pin && pin.algorithm !== 'blake3') {
    throw new RuntimeFailure('KP_IMAGE_PIN_UNSUPPORTED', `a directory is pinned by its tree digest (#blake3=…), not #${pin.algorithm}`, {
      hint: 'run `karapace pin` to write the right pin',
    });
  }
  const key = cacheKey('dir', dir);
  const fingerprint = await fingerprintRootfs(dir);
  const cached = await cachedImage(ctx.kernel, ctx.request, key);
  if (cached && cached.record.source_fingerprint === fingerprint) return checkTreePin(cached, pin);
  const staged = await stageImage(ctx.request.stagingDir, key);
  try {
    // The identity is the source directory's tree (cp cannot keep owners without root).
    const [{ digest }] = await Promise.all([digestRootfs(dir), copyTree(dir, staged.rootfs)]);
    const img = await commitImage(ctx.request.imagesDir, staged, {
      key, kind: 'dir', reference: ctx.request.image, source: (d) => `${dir}#blake3=${d}`, source_fingerprint: fingerprint,
    }, digest);
    return checkTreePin(img, pin);
  } catch (err) {
    await discardStaged(staged);
    throw err;
  }
}

export function checkTreePin(img: CachedImage, pin: Pin | undefined): CachedImage {
  if (pin && pin.hex !== img.digest) {
    throw new RuntimeFailure('KP_IMAGE_DIGEST_MISMATCH', `${img.record.reference} has tree digest ${img.digest}, the reference pins ${pin.hex}`, {
      hint: 'the image changed; run `karapace pin` again if the change is expected',
      data: { expected: pin.hex, actual: img.digest },
    });
  }
  return img;
}

/** `cp -a` keeps owners, modes, links, xattrs and sparse files; reflinks where the fs can. */
function copyTree(from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // Generous, but bounded: a hung filesystem must not hang the build.
    const child = spawn('cp', ['-a', '--reflink=auto', '--no-target-directory', `${from}/.`, to], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60 * 60_000 });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new RuntimeFailure('KP_IMAGE_COPY_FAILED', `copying ${from} failed: ${stderr.trim()}`, { hint: 'check permissions on the directory' })),
    );
  });
}
