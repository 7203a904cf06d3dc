/**
 * Host mounts under the security policy (DESIGN §7): each `[mounts]` entry is resolved —
 * `~` to the invoking user's home, relative paths against the manifest's directory, then
 * `..` and symlinks via realpath — and must land under an allowed prefix (relative paths
 * may also stay inside the manifest's directory). Everything is checked before anything runs.
 */
import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { ManifestError } from '../errors.js';
import type { SecurityPolicy } from '../config/types.js';
import type { MountSpec } from '../manifest/types.js';
import type { InvokingUser } from './environment.js';

export interface ResolvedMount {
  label: string;
  /** Real absolute host path. */
  source: string;
  /** Absolute path inside the environment. */
  target: string;
  readOnly: boolean;
  isDirectory: boolean;
}

/** Paths inside the environment that a mount may not cover. */
const RESERVED_TARGETS = ['/proc', '/sys', '/dev'];

function within(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(prefix.endsWith(sep) ? prefix : prefix + sep);
}

function real(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

export function resolveMount(spec: MountSpec, manifestDir: string, policy: Pick<SecurityPolicy, 'allowedMountPrefixes'>, user: InvokingUser): ResolvedMount {
  const fail = (message: string, hint: string) =>
    new ManifestError('KP_MOUNT_REFUSED', `mount "${spec.label}" (${spec.host}:${spec.container}) refused: ${message}`, { hint, data: { label: spec.label, host: spec.host } });
  const relative = !isAbsolute(spec.host) && !spec.host.startsWith('~');
  const expanded = spec.host === '~' ? user.home : spec.host.startsWith('~/') ? join(user.home, spec.host.slice(2)) : resolve(manifestDir, spec.host);
  if (spec.host.startsWith('~') && spec.host !== '~' && !spec.host.startsWith('~/')) {
    throw fail('"~user" paths are not supported', 'write the path as ~/… or an absolute path');
  }
  const source = real(expanded);
  if (!source) throw fail(`${expanded} does not exist`, 'create it first, or fix the path in [mounts]');
  const prefixes = policy.allowedMountPrefixes.map((p) => real(p) ?? resolve(p));
  const manifestReal = real(manifestDir) ?? manifestDir;
  const allowed = prefixes.some((p) => within(source, p)) || (relative && within(source, manifestReal));
  if (!allowed) {
    throw fail(
      `${source} is outside the allowed prefixes (${policy.allowedMountPrefixes.join(', ')}${relative ? ', or the manifest\'s directory' : ''})`,
      'mount something under an allowed prefix, or add the prefix to `security.allowedMountPrefixes` in your config',
    );
  }
  if (RESERVED_TARGETS.some((r) => within(spec.container, r)) || spec.container === '/') {
    throw fail(`the container path ${spec.container} is reserved`, 'mount somewhere else, e.g. /workspace');
  }
  return { label: spec.label, source, target: spec.container, readOnly: spec.readOnly, isDirectory: statSync(source).isDirectory() };
}

export function resolveMounts(mounts: MountSpec[], manifestDir: string, policy: Pick<SecurityPolicy, 'allowedMountPrefixes'>, user: InvokingUser): ResolvedMount[] {
  return mounts.map((m) => resolveMount(m, manifestDir, policy, user));
}
