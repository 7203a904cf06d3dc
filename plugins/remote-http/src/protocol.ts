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

/**
 * Batch transfers (feature `batch` in /healthz): many small blobs in one request.
 * `POST /v1/blobs/batch` uploads, `POST /v1/blobs/fetch` (`{"hashes": [...]}`) downloads,
 * both as records `<blake3> <size>\n<size bytes>` one after the other.
 */
export const FEATURE_BATCH = 'batch';
/** Largest batch body either way. */
export const MAX_BATCH_BYTES = 64 << 20;

/** Frames blobs as batch records. */
export function batchRecord(hash: string, bytes: Buffer): Buffer[] {
  return [Buffer.from(`${hash} ${bytes.length}\n`), bytes];
}

/** Splits a batch body into its records; undefined when it is malformed. */
export function parseBatch(body: Buffer, max = MAX_BATCH): { hash: string; bytes: Buffer }[] | undefined {
  const out: { hash: string; bytes: Buffer }[] = [];
  let at = 0;
  while (at < body.length) {
    if (out.length >= max) return undefined;
    const nl = body.indexOf(0x0a, at);
    if (nl < 0 || nl - at > 64 + 1 + 20) return undefined;
    const m = /^([0-9a-f]{64}) (0|[1-9][0-9]{0,15})$/.exec(body.subarray(at, nl).toString('latin1'));
    if (!m) return undefined;
    const size = Number(m[2]);
    if (nl + 1 + size > body.length) return undefined;
    out.push({ hash: m[1]!, bytes: body.subarray(nl + 1, nl + 1 + size) });
    at = nl + 1 + size;
  }
  return out;
}

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
