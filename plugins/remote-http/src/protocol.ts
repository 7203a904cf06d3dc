/**
 * The remote protocol's names and shapes (docs/remote-protocol.md), shared by the client
 * and the server so both validate exactly the same way.
 */
import { isHash } from '@karapace/kernel';

export const PROTOCOL_VERSION = 'v1';

/** Repository names: what a `name@tag` reference starts with. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,127}$/;
/** Tags: never a hash-looking `blake3:` prefix, which names a digest instead. */
export const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

export interface RefName {
  name: string;
  tag: string;
}

/** What a reference points to (`GET /v1/refs/<name>/<tag>`). */
export interface RefRecord {
  name: string;
  tag: string;
  /** blake3 of the environment's bundle manifest blob. */
  digest: string;
  updated_at: string;
}

export interface MissingRequest {
  hashes: string[];
}
export interface MissingResponse {
  missing: string[];
}

export const MAX_BATCH = 10_000;

export function isValidName(name: string): boolean {
  return NAME_PATTERN.test(name) && !name.includes('..');
}

export function isValidTag(tag: string): boolean {
  return TAG_PATTERN.test(tag);
}

export { isHash };

/**
 * Parses `name@tag` or `name@blake3:<hash>` (a digest). A bare name means `name@latest`.
 * Returns undefined for anything malformed.
 */
export function parseReference(ref: string): { name: string; tag?: string; digest?: string } | undefined {
  const at = ref.lastIndexOf('@');
  const name = at < 0 ? ref : ref.slice(0, at);
  const rest = at < 0 ? 'latest' : ref.slice(at + 1);
  if (!isValidName(name)) return undefined;
  if (rest.startsWith('blake3:')) {
    const digest = rest.slice('blake3:'.length);
    return isHash(digest) ? { name, digest } : undefined;
  }
  return isValidTag(rest) ? { name, tag: rest } : undefined;
}

/** ETag value for a digest: the strong-validator form `"<hash>"`. */
export function etagOf(digest: string): string {
  return `"${digest}"`;
}

/** Reads an If-Match / ETag header back into a digest (or `*`). */
export function digestFromEtag(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (v === '*') return '*';
  const m = /^(?:W\/)?"([0-9a-f]{64})"$/.exec(v) ?? /^([0-9a-f]{64})$/.exec(v);
  return m?.[1];
}
