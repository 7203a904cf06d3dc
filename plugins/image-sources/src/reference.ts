/**
 * Parses a `[base] image` reference into the source that serves it. Like Yarn's resolvers,
 * each kind is recognised by its shape; an unrecognised reference is a clear error that
 * lists the accepted forms.
 *
 *   debian/bookworm, ubuntu/24.04, rolling, arch …      alias (image server)
 *   https://host/rootfs.tar.xz[#sha256=<hex>|#blake3=<hex>]   URL (pin = archive digest)
 *   ./rootfs.tar, /srv/rootfs/, file:///x.tar.gz[#…]    local tarball or directory
 *   bootstrap:debian/bookworm[#blake3=<tree digest>]    mmdebstrap from an apt mirror
 *   registry.example/repo:tag, host:5000/r@sha256:<hex>  OCI registry (docker:// optional)
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManifestError } from '@karapace/kernel';
import { ALIASES, BOOTSTRAP_DISTROS, type AliasTarget } from './aliases.js';

export interface Pin {
  algorithm: 'sha256' | 'blake3';
  hex: string;
}

export type SourceRef =
  | { kind: 'alias'; name: string; target: AliasTarget }
  | { kind: 'url'; url: string; pin?: Pin }
  | { kind: 'path'; path: string; pin?: Pin }
  | { kind: 'bootstrap'; distro: string; suite: string; pin?: Pin }
  | { kind: 'oci'; registry: string; repository: string; tag?: string; digest?: string };

function badReference(image: string, why: string): ManifestError {
  return new ManifestError('KP_IMAGE_REFERENCE', `base image "${image}": ${why}`, {
    hint: 'use an alias (debian/bookworm, ubuntu/24.04, fedora/41, arch, rolling …), an http(s) URL, a local path, bootstrap:debian/<suite> or a registry reference (host/repo:tag)',
    data: { image },
  });
}

/** Splits a `#sha256=` / `#blake3=` pin off a reference. */
export function splitPin(image: string, ref: string): { rest: string; pin?: Pin } {
  const hash = ref.lastIndexOf('#');
  if (hash < 0) return { rest: ref };
  const m = /^(sha256|blake3)=([0-9a-f]{64})$/.exec(ref.slice(hash + 1));
  if (!m) throw badReference(image, `"${ref.slice(hash)}" is not a pin (expected #sha256=<64 hex> or #blake3=<64 hex>)`);
  return { rest: ref.slice(0, hash), pin: { algorithm: m[1] as Pin['algorithm'], hex: m[2]! } };
}

const OCI_REF = /^([a-z0-9.-]+(?::\d+)?)\/([a-z0-9._/-]+?)(?::([A-Za-z0-9_][A-Za-z0-9._-]{0,127}))?(?:@(sha256:[0-9a-f]{64}))?$/;

export function parseOciReference(image: string, ref: string): SourceRef & { kind: 'oci' } {
  let rest = ref.replace(/^(docker|oci):\/\//, '');
  // Docker Hub shorthand: "debian:bookworm" only with an explicit docker:// prefix.
  if (!rest.includes('/') || !/[.:]|^localhost\//.test(rest.split('/')[0]!)) {
    if (ref === rest) throw badReference(image, 'not a registry reference');
    rest = `docker.io/${rest.includes('/') ? rest : `library/${rest}`}`;
  }
  const m = OCI_REF.exec(rest);
  if (!m) throw badReference(image, 'malformed registry reference (expected host/repository[:tag][@sha256:<hex>])');
  const [, registry, repository, tag, digest] = m;
  return { kind: 'oci', registry: registry!, repository: repository!, ...(tag ? { tag } : {}), ...(digest ? { digest } : !tag ? { tag: 'latest' } : {}) };
}

export interface ParseContext {
  manifestDir: string;
  /** Extra aliases from config (`images.aliases`): name → any reference. */
  aliases?: Record<string, string>;
}

export function parseReference(image: string, ctx: ParseContext, depth = 0): SourceRef {
  const ref = image.trim();
  if (!ref) throw badReference(image, 'empty');
  const configured = ctx.aliases?.[ref];
  if (configured !== undefined) {
    if (depth > 8) throw badReference(image, 'alias loop in config images.aliases');
    return parseReference(configured, ctx, depth + 1);
  }
  const alias = ALIASES[ref.toLowerCase()];
  if (alias) return { kind: 'alias', name: ref.toLowerCase(), target: alias };
  if (/^https?:\/\//i.test(ref)) {
    const { rest, pin } = splitPin(image, ref);
    try {
      new URL(rest);
    } catch {
      throw badReference(image, 'malformed URL');
    }
    return { kind: 'url', url: rest, ...(pin ? { pin } : {}) };
  }
  if (ref.startsWith('bootstrap:')) {
    const { rest, pin } = splitPin(image, ref.slice('bootstrap:'.length));
    const [distro, suite = distro === 'ubuntu' ? 'noble' : 'bookworm', extra] = rest.split('/');
    const known = distro ? BOOTSTRAP_DISTROS[distro] : undefined;
    if (!known || extra !== undefined) throw badReference(image, `bootstrap supports ${Object.keys(BOOTSTRAP_DISTROS).map((d) => `${d}/<suite>`).join(', ')}`);
    const canonical = known.suites[suite];
    if (!canonical) throw badReference(image, `unknown ${distro} suite "${suite}" (known: ${Object.keys(known.suites).join(', ')})`);
    return { kind: 'bootstrap', distro: distro!, suite: canonical, ...(pin ? { pin } : {}) };
  }
  if (ref.startsWith('file:')) {
    const { rest, pin } = splitPin(image, ref);
    return { kind: 'path', path: rest.startsWith('file://') ? fileURLToPath(rest) : resolve(ctx.manifestDir, rest.slice(5)), ...(pin ? { pin } : {}) };
  }
  if (/^(docker|oci):\/\//.test(ref)) return parseOciReference(image, ref);
  if (ref.startsWith('/') || ref.startsWith('./') || ref.startsWith('../') || ref.startsWith('~/')) {
    const { rest, pin } = splitPin(image, ref);
    const path = rest.startsWith('~/') ? resolve(homedir(), rest.slice(2)) : isAbsolute(rest) ? rest : resolve(ctx.manifestDir, rest);
    return { kind: 'path', path, ...(pin ? { pin } : {}) };
  }
  const first = ref.split('/')[0]!;
  if (ref.includes('/') && (/[.:]/.test(first) || first === 'localhost')) return parseOciReference(image, ref);
  const { rest, pin } = splitPin(image, ref);
  if (existsSync(resolve(ctx.manifestDir, rest))) return { kind: 'path', path: resolve(ctx.manifestDir, rest), ...(pin ? { pin } : {}) };
  throw badReference(image, 'not a known alias, URL, path, bootstrap: or registry reference');
}

/**
 * Whether a parsed reference names exactly one image: a `#sha256=`/`#blake3=` pin or an
 * `@sha256:` registry digest. The one definition of "pinned": every form it accepts is
 * verified by the source that fetches it (url.ts, local.ts, bootstrap.ts, oci.ts).
 */
export function isPinnedSource(ref: SourceRef): boolean {
  return ref.kind === 'oci' ? ref.digest !== undefined : ref.kind !== 'alias' && ref.pin !== undefined;
}

/** isPinnedSource for a reference as written (what `pin` and --require-pinned-image ask). */
export function isPinnedReference(image: string, ctx: ParseContext = { manifestDir: process.cwd() }): boolean {
  try {
    return isPinnedSource(parseReference(image, ctx));
  } catch {
    return false;
  }
}
