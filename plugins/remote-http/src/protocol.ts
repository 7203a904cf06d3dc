/**
 * The remote protocol's names and shapes (docs/remote-protocol.md), shared by the client
 * and the server so both validate exactly the same way.
 */
import { isHash } from '@karapace/kernel';

export const PROTOCOL_VERSION = 'v1';

/** Names, tags and references are the kernel's (kernel/src/engine/remote-reference.ts). */
export {
  REMOTE_NAME_PATTERN as NAME_PATTERN, REMOTE_TAG_PATTERN as TAG_PATTERN,
  isValidRemoteName as isValidName, isValidRemoteTag as isValidTag, parseRemoteReference as parseReference,
} from '@karapace/kernel';

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

export { isHash };

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
