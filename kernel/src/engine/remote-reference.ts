/**
 * Remote references (`name@tag`, `name@blake3:<digest>`): the one definition the push and
 * pull operations, every remote plugin and the karapace-server validate against.
 */
import { UsageError, type KarapaceError } from '../errors.js';
import { isHash } from '../hash.js';

/** Repository names: what a `name@tag` reference starts with. */
export const REMOTE_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,127}$/;
/** Tags: never a hash-looking `blake3:` prefix, which names a digest instead. */
export const REMOTE_TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

export function isValidRemoteName(name: string): boolean {
  return REMOTE_NAME_PATTERN.test(name) && !name.includes('..');
}

export function isValidRemoteTag(tag: string): boolean {
  return REMOTE_TAG_PATTERN.test(tag);
}

/**
 * Parses `name@tag` or `name@blake3:<hash>` (a digest). A bare name means `name@latest`.
 * Returns undefined for anything malformed.
 */
export function parseRemoteReference(ref: string): { name: string; tag?: string; digest?: string } | undefined {
  const at = ref.lastIndexOf('@');
  const name = at < 0 ? ref : ref.slice(0, at);
  const rest = at < 0 ? 'latest' : ref.slice(at + 1);
  if (!isValidRemoteName(name)) return undefined;
  if (rest.startsWith('blake3:')) {
    const digest = rest.slice('blake3:'.length);
    return isHash(digest) ? { name, digest } : undefined;
  }
  return isValidRemoteTag(rest) ? { name, tag: rest } : undefined;
}

export function badReference(ref: string): KarapaceError {
  return new UsageError('KP_REMOTE_BAD_REFERENCE', `"${ref}" is not a remote reference`, {
    hint: 'use name@tag (e.g. dev@v1) or name@blake3:<digest>; names are lowercase letters, digits, ".", "_" and "-"',
  });
}
