/**
 * Aliases through an image server (images.linuxcontainers.org or a mirror):
 *   1. simplestreams: streams/v1/index.json → its image-downloads products file →
 *      product `os:release:arch:default` → newest version → the `root.tar.xz` item (path,
 *      sha256);
 *   2. otherwise the plain directory layout: images/<os>/<release>/<arch>/default/<build>/
 *      rootfs.tar.xz (newest build by name), checked against the build's SHA256SUMS.
 * Either way the download is verified against the published sha256, which is what the
 * pinned reference (`pin`) and the lock record.
 */
import { RuntimeFailure } from '@karapace/kernel';
import { cachedForReference, type CachedImage } from '../cache.js';
import { serverArch } from '../aliases.js';
import { fetchJson, fetchOk, httpError, offlineError } from '../http.js';
import type { AliasTarget } from '../aliases.js';
import { log } from '../progress.js';
import type { ResolveContext } from './context.js';
import { resolveUrl } from './url.js';

export interface AliasLocation {
  url: string;
  sha256?: string;
  /** The build (version) chosen. */
  build: string;
  via: 'simplestreams' | 'directory';
}

interface StreamsIndex {
  index?: Record<string, { datatype?: string; path?: string; products?: string[] }>;
}
interface StreamsProducts {
  products?: Record<string, { versions?: Record<string, { items?: Record<string, { ftype?: string; path?: string; sha256?: string; size?: number }> }> }>;
}

function notFound(target: AliasTarget, server: string, arch: string): RuntimeFailure {
  return new RuntimeFailure('KP_IMAGE_NOT_FOUND', `the image server ${server} has no ${target.os}/${target.release} image for ${arch}`, {
    hint: 'check the alias, or set config `images.server` to a mirror that carries it',
    data: { server, os: target.os, release: target.release, arch },
  });
}

/** Finds the newest root.tar.xz for the target via simplestreams; undefined when the server has no index. */
export async function locateSimplestreams(server: string, target: AliasTarget, arch: string): Promise<AliasLocation | undefined> {
  const res = await fetchOk(`${server}/streams/v1/index.json`);
  if (res.status === 404) {
    await res.body?.cancel();
    return undefined;
  }
  if (!res.ok) throw httpError(`${server}/streams/v1/index.json`, `HTTP ${res.status}`);
  const index = (await res.json().catch(() => ({}))) as StreamsIndex;
  const product = `${target.os}:${target.release}:${arch}:default`;
  const entries = Object.values(index.index ?? {}).filter((e) => e.datatype === 'image-downloads' && e.path);
  for (const entry of entries) {
    if (entry.products && !entry.products.includes(product)) continue;
    const products = await fetchJson<StreamsProducts>(`${server}/${entry.path}`);
    const versions = products.products?.[product]?.versions ?? {};
    for (const build of Object.keys(versions).sort().reverse()) {
      const items = versions[build]!.items ?? {};
      const item = Object.values(items).find((i) => i.ftype === 'root.tar.xz') ?? items['root.tar.xz'];
      if (item?.path) return { url: `${server}/${item.path.replace(/^\/+/, '')}`, ...(item.sha256 ? { sha256: item.sha256 } : {}), build, via: 'simplestreams' };
    }
  }
  return undefined;
}

/** Finds the newest build in the LXC directory layout. */
export async function locateDirectory(server: string, target: AliasTarget, arch: string): Promise<AliasLocation | undefined> {
  const base = `${server}/images/${target.os}/${target.release}/${arch}/default/`;
  const res = await fetchOk(base);
  if (res.status === 404) {
    await res.body?.cancel();
    return undefined;
  }
  if (!res.ok) throw httpError(base, `HTTP ${res.status}`);
  const html = await res.text();
  const builds = new Set<string>();
  for (const m of html.matchAll(/href="([^"?#]+)\/?"/g)) {
    const name = decodeURIComponent(m[1]!.replace(/\/$/, '').split('/').pop()!);
    if (/^\d{8}(_\d{2}:\d{2})?$/.test(name)) builds.add(name);
  }
  const build = [...builds].sort().pop();
  if (!build) return undefined;
  const dir = `${base}${encodeURIComponent(build).replace(/%3A/g, ':')}/`;
  let sha256: string | undefined;
  const sums = await fetchOk(`${dir}SHA256SUMS`);
  if (sums.ok) {
    const line = (await sums.text()).split('\n').find((l) => /\s\*?rootfs\.tar\.xz$/.test(l.trim()));
    sha256 = line?.trim().split(/\s+/)[0];
  } else {
    await sums.body?.cancel();
  }
  return { url: `${dir}rootfs.tar.xz`, ...(sha256 ? { sha256 } : {}), build, via: 'directory' };
}

export async function locateAlias(server: string, target: AliasTarget, arch: string): Promise<AliasLocation> {
  const loc = (await locateSimplestreams(server, target, arch)) ?? (await locateDirectory(server, target, arch));
  if (!loc) throw notFound(target, server, arch);
  return loc;
}

export async function resolveAlias(ctx: ResolveContext, name: string, target: AliasTarget): Promise<CachedImage> {
  const arch = ctx.options.arch ?? serverArch();
  // Offline, or a lock that pins the digest: a cached image of this alias will do.
  if (ctx.request.offline || ctx.request.expectedDigest) {
    const cached = await cachedForReference(ctx.kernel, ctx.request.imagesDir, ctx.request.image, ctx.request.expectedDigest);
    if (cached) return cached;
    if (ctx.request.offline) throw offlineError(`the image for alias "${name}"`);
  }
  const loc = await locateAlias(ctx.options.server, target, arch);
  log(ctx.kernel, 'info', `${name}: ${target.os}/${target.release} build ${loc.build} (${loc.via}) from ${ctx.options.server}`);
  if (!loc.sha256) log(ctx.kernel, 'warn', `${loc.url} has no published sha256; its digest is recorded but could not be verified`);
  return resolveUrl(ctx, loc.url, loc.sha256 ? { algorithm: 'sha256', hex: loc.sha256 } : undefined, 'alias');
}
