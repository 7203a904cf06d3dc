/**
 * `pin` as a kernel operation every front end reaches (CLI, D-Bus): rewrite the manifest's
 * `[base] image` to a reference that names exactly one image (`…#sha256=`, `…#blake3=`,
 * `…@sha256:`), as resolved now. `check` only reports; `writeLock` also moves karapace.lock
 * to the pinned reference so `build --locked` agrees. Whether a reference is pinned is the
 * resolver's answer (the `pinned` hook), the one definition of it.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ManifestError, RuntimeFailure } from '../errors.js';
import { LOCK_FILE_NAME, readLock, writeLock } from '../lock/file.js';
import { computeEnvId } from '../lock/identity.js';
import type { LockFile } from '../lock/types.js';
import { readManifestFile } from '../manifest/parse.js';
import { writeFileAtomic } from '../store/atomic.js';
import type { ResolvedBase } from '../types.js';
import { manifestPathFrom } from './build.js';
import type { Engine } from './engine.js';
import { withLock } from './with-lock.js';

export interface PinOptions {
  manifest?: string;
  /** Report only; fail (exit 2) when the base is not pinned or the lock disagrees. */
  check?: boolean;
  /** Also update karapace.lock's base to the pinned reference. */
  writeLock?: boolean;
}

export interface PinResult {
  manifest_path: string;
  before: string;
  after: string;
  changed: boolean;
  pinned: boolean;
  digest?: string;
  lock_path?: string;
  lock_updated?: boolean;
}

/** Replaces the value of `image` in the `[base]` table, keeping the rest of the file as written. */
export function rewriteBaseImage(text: string, image: string): string {
  const lines = text.split('\n');
  let table = '';
  for (let i = 0; i < lines.length; i++) {
    const header = /^\s*\[([^\]]+)\]\s*(#.*)?$/.exec(lines[i]!);
    if (header) {
      table = header[1]!.trim();
      continue;
    }
    const m = /^(\s*image\s*=\s*)("(?:[^"\\]|\\.)*"|'[^']*')(.*)$/.exec(lines[i]!);
    const dotted = /^(\s*base\.image\s*=\s*)("(?:[^"\\]|\\.)*"|'[^']*')(.*)$/.exec(lines[i]!);
    if ((table === 'base' && m) || (table === '' && dotted)) {
      const [, pre, , post] = (m ?? dotted)!;
      lines[i] = `${pre}${JSON.stringify(image)}${post}`;
      return lines.join('\n');
    }
  }
  throw new ManifestError('KP_PIN_NO_BASE', 'could not find `image = "…"` in the [base] table to rewrite', {
    hint: 'write the base as `[base]` followed by `image = "<reference>"` on one line',
  });
}

async function resolveNow(engine: Engine, image: string, manifestDir: string): Promise<ResolvedBase> {
  const base = await withLock(engine, () => engine.kernel.hooks.resolve.promise({
    image, offline: false, imagesDir: engine.layout.images, stagingDir: engine.layout.staging, manifestDir,
  }));
  if (!base) {
    throw new RuntimeFailure('KP_IMAGE_UNRESOLVED', `no image source can resolve "${image}"`, { hint: 'fix [base] image' });
  }
  return base;
}

/** Does a resolver verify `image`, as written, as naming exactly one image? Nobody answering means no. */
export function isPinned(engine: Engine, image: string, manifestDir: string): boolean {
  return engine.kernel.hooks.pinned.call({ image, manifestDir }) === true;
}

export async function pinManifest(engine: Engine, options: PinOptions = {}): Promise<PinResult> {
  const manifestPath = manifestPathFrom(engine.cwd, options.manifest);
  const manifestDir = dirname(manifestPath);
  const isPinnedReference = (image: string) => isPinned(engine, image, manifestDir);
  const manifest = readManifestFile(manifestPath, { defaultBackend: engine.config.defaultBackend });
  const before = manifest.base.image;
  const lockPath = join(manifestDir, LOCK_FILE_NAME);
  const lock = readLock(lockPath);

  if (options.check) {
    if (!isPinnedReference(before)) {
      throw new ManifestError('KP_IMAGE_NOT_PINNED', `base image "${before}" in ${manifestPath} is not pinned`, {
        hint: 'run `karapace pin` to rewrite it to a pinned reference',
        data: { image: before },
      });
    }
    if (lock && lock.base.image !== before) {
      throw new ManifestError('KP_LOCK_DRIFT', `karapace.lock records base "${lock.base.image}", the manifest pins "${before}"`, {
        hint: 'run `karapace pin --write-lock` (or build) to update the lock',
      });
    }
    return { manifest_path: manifestPath, before, after: before, changed: false, pinned: true, ...(lock ? { digest: lock.base.digest, lock_path: lockPath } : {}) };
  }

  const base = await resolveNow(engine, before, manifestDir);
  const after = isPinnedReference(before) ? before : base.source;
  if (!isPinnedReference(after)) {
    throw new RuntimeFailure('KP_PIN_UNSUPPORTED', `the resolver "${base.resolver}" gave no pinned reference for "${before}" (got "${after}")`, {
      hint: 'only image-sources references (aliases, URLs, paths, bootstrap:, registries) can be pinned',
    });
  }
  const changed = after !== before;
  if (changed) {
    const text = await readFile(manifestPath, 'utf8');
    await writeFileAtomic(manifestPath, rewriteBaseImage(text, after));
  }
  const result: PinResult = { manifest_path: manifestPath, before, after, changed, pinned: true, digest: base.digest };
  if (options.writeLock) {
    if (!lock) {
      throw new ManifestError('KP_LOCK_MISSING', `--write-lock was given but ${lockPath} does not exist`, {
        hint: 'run `karapace build` to write the lock, then pin',
      });
    }
    const updated: LockFile = { ...lock, base: { ...lock.base, image: after, source: base.source, digest: base.digest, package_manager: base.packageManager } };
    const next = { ...updated, ...computeEnvId(updated) };
    await writeLock(lockPath, next);
    result.lock_path = lockPath;
    result.lock_updated = true;
  }
  return result;
}
