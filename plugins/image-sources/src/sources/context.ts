/** What every resolver gets: the request, the kernel (progress), the options. */
import type { Kernel, ResolvedBase, ResolveRequest } from '@karapace/kernel';
import type { CachedImage } from '../cache.js';
import type { ResolvedOptions } from '../options.js';

export interface ResolveContext {
  request: ResolveRequest;
  kernel?: Kernel;
  options: ResolvedOptions;
}

export const RESOLVER_NAME = 'image-sources';

export function toResolved(ctx: ResolveContext, img: CachedImage): ResolvedBase {
  return {
    reference: ctx.request.image,
    source: img.record.source,
    digest: img.digest,
    rootfs: img.rootfs,
    packageManager: img.record.package_manager,
    resolver: RESOLVER_NAME,
    ...(img.verifying ? { verifying: img.verifying } : {}),
  };
}
