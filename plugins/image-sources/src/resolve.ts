/** The `resolve` tap: reference → source → cached, verified rootfs. */
import type { Kernel, ResolvedBase, ResolveRequest } from '@karapace/kernel';
import type { CachedImage } from './cache.js';
import type { ResolvedOptions } from './options.js';
import { isPinnedSource, parseReference } from './reference.js';
import { ManifestError } from '@karapace/kernel';
import { resolveAlias } from './sources/alias.js';
import { resolveBootstrap } from './sources/bootstrap.js';
import { toResolved, type ResolveContext } from './sources/context.js';
import { resolveLocal } from './sources/local.js';
import { resolveOci } from './sources/oci.js';
import { resolveUrl } from './sources/url.js';

/** The schemes this plugin reads; a reference with another (`mock:`, a plugin's `myorg:`) is passed on. */
const OWN_SCHEMES = new Set(['http', 'https', 'file', 'bootstrap', 'docker', 'oci']);

/**
 * `<scheme>:…` with a scheme that is not ours: another plugin's request, so the resolve tap
 * returns undefined (the hook's contract) instead of rejecting it. `host:port/…` is a
 * registry, and a configured alias is ours whatever it looks like.
 */
export function isForeignReference(image: string, aliases: Record<string, string> = {}): boolean {
  const ref = image.trim();
  if (aliases[ref] !== undefined) return false;
  const m = /^([a-z][a-z0-9+-]*):(?!\d+(?:\/|$))/i.exec(ref);
  return m !== null && !OWN_SCHEMES.has(m[1]!.toLowerCase());
}

export async function resolveImage(kernel: Kernel | undefined, options: ResolvedOptions, request: ResolveRequest): Promise<ResolvedBase | undefined> {
  if (isForeignReference(request.image, options.aliases)) return undefined;
  const ctx: ResolveContext = { request, kernel, options };
  const ref = parseReference(request.image, { manifestDir: request.manifestDir, aliases: options.aliases });
  // Refused before anything is fetched.
  if (request.requirePinned && !isPinnedSource(ref)) {
    throw new ManifestError('KP_IMAGE_NOT_PINNED', `base image "${request.image}" is not pinned`, {
      hint: 'run `karapace pin` to rewrite it to a pinned reference (…#sha256=, …#blake3=, …@sha256:), or build with --locked against a lock that records its digest',
    });
  }
  let img: CachedImage;
  switch (ref.kind) {
    case 'alias':
      img = await resolveAlias(ctx, ref.name, ref.target);
      break;
    case 'url':
      img = await resolveUrl(ctx, ref.url, ref.pin);
      break;
    case 'path':
      img = await resolveLocal(ctx, ref.path, ref.pin);
      break;
    case 'bootstrap':
      img = await resolveBootstrap(ctx, ref.distro, ref.suite, ref.pin);
      break;
    case 'oci':
      img = await resolveOci(ctx, ref);
      break;
  }
  return { ...toResolved(ctx, img), pinned: isPinnedSource(ref) };
}
