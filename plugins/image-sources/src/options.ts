/** Plugin options (config: `"@karapace/image-sources": { … }`) and their defaults. */
import type { KarapaceConfig } from '@karapace/kernel';

export interface ImageSourcesOptions {
  /** Image server for aliases (simplestreams index or LXC directory layout). Config `images.server` also sets it. */
  server?: string;
  /** Debian apt mirror for `bootstrap:debian/…` (default: the host's own, host-sources.ts). */
  mirror?: string;
  /** Ubuntu apt mirror for `bootstrap:ubuntu/…` (default: none, mmdebstrap picks the suite's archive). */
  ubuntuMirror?: string;
  /** mmdebstrap variant (default minbase). */
  variant?: string;
  /** Registries reached over plain http (default: localhost, 127.0.0.1, ::1). */
  insecureRegistries?: string[];
  /** Registry credentials by host (for the token exchange): `{ username, password }`. */
  registryAuth?: Record<string, { username: string; password: string }>;
  /** Image architecture (default: this machine's). */
  arch?: string;
}

export interface ResolvedOptions {
  server: string;
  /** Unset: the host's Debian archive, else mmdebstrap's own default. */
  mirror?: string;
  /** Unset: mmdebstrap picks the archive for the suite itself. */
  ubuntuMirror?: string;
  variant: string;
  insecureRegistries: string[];
  registryAuth: Record<string, { username: string; password: string }>;
  arch?: string;
  aliases: Record<string, string>;
}

export const DEFAULT_SERVER = 'https://images.linuxcontainers.org';

export function resolveOptions(options: ImageSourcesOptions, config: KarapaceConfig): ResolvedOptions {
  return {
    server: (options.server ?? config.images?.server ?? DEFAULT_SERVER).replace(/\/+$/, ''),
    ...(options.mirror ? { mirror: options.mirror } : {}),
    ...(options.ubuntuMirror ? { ubuntuMirror: options.ubuntuMirror } : {}),
    variant: options.variant ?? 'minbase',
    insecureRegistries: options.insecureRegistries ?? ['localhost', '127.0.0.1', '[::1]'],
    registryAuth: options.registryAuth ?? {},
    ...(options.arch ? { arch: options.arch } : {}),
    aliases: config.images?.aliases ?? {},
  };
}

export function validateOptions(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) return 'expected an object';
  const o = value as Record<string, unknown>;
  const known = ['server', 'mirror', 'ubuntuMirror', 'variant', 'insecureRegistries', 'registryAuth', 'arch'];
  for (const key of Object.keys(o)) if (!known.includes(key)) return `unknown option "${key}" (known: ${known.join(', ')})`;
  for (const key of ['server', 'mirror', 'ubuntuMirror']) {
    if (o[key] !== undefined && (typeof o[key] !== 'string' || !/^https?:\/\//.test(o[key] as string))) return `"${key}" must be an http(s) URL`;
  }
  for (const key of ['variant', 'arch']) if (o[key] !== undefined && typeof o[key] !== 'string') return `"${key}" must be a string`;
  if (o.insecureRegistries !== undefined && (!Array.isArray(o.insecureRegistries) || o.insecureRegistries.some((r) => typeof r !== 'string'))) {
    return '"insecureRegistries" must be a list of host[:port] strings';
  }
  return undefined;
}
