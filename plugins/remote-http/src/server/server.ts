/**
 * The reference server (docs/remote-protocol.md): node:http over files on disk. Every
 * request is validated before it touches the disk; anything malformed is a 4xx; a failure
 * in one request never takes the process down.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { isHash, isValidName, isValidTag, digestFromEtag, etagOf, batchRecord, parseBatch, FEATURE_BATCH, MAX_BATCH, MAX_BATCH_BYTES, PROTOCOL_VERSION, type MissingResponse } from '../protocol.js';
import { hashBytes } from '@karapace/kernel';
import { authorize, type AuthConfig, type Scope } from './auth.js';
import { BlobStorage, UploadError } from './storage.js';
import { SESSION_ID, UploadSessions } from './uploads.js';
import { ConnectionGate } from './connections.js';

export interface ServerOptions {
  /** Directory holding blobs/, refs/, tmp/. */
  dir: string;
  host?: string;
  port?: number;
  auth: AuthConfig;
  /** Largest blob accepted (bytes). */
  maxBodyBytes?: number;
  /** Largest JSON body accepted (bytes). */
  maxJsonBytes?: number;
  /** A client must send its headers within this time (ms). */
  headersTimeoutMs?: number;
  /** A whole request (headers and body) must arrive within this time (ms). */
  requestTimeoutMs?: number;
  /** A connection that sends nothing for this long is closed (ms). */
  idleTimeoutMs?: number;
  /** A keep-alive connection with no request for this long is closed (ms; Node adds 1 s). */
  keepAliveTimeoutMs?: number;
  /** Connections kept at once (see connections.ts). */
  maxConnections?: number;
  /** Upload sessions one token may have open at once. */
  maxUploadsPerToken?: number;
  /** One line per request (JSON). */
  log?: (line: string) => void;
}

export const DEFAULTS: Readonly<{
  host: string; port: number; maxBodyBytes: number; maxJsonBytes: number; headersTimeoutMs: number; requestTimeoutMs: number; idleTimeoutMs: number;
  keepAliveTimeoutMs: number; maxConnections: number; maxUploadsPerToken: number;
}> = Object.freeze({
  host: '127.0.0.1',
  port: 7890,
  maxBodyBytes: 4 * 1024 ** 3,
  maxJsonBytes: 1024 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30 * 60_000,
  idleTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5000,
  maxConnections: 256,
  maxUploadsPerToken: 16,
});

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

export interface RunningServer {
  server: Server;
  url: string;
  port: number;
  storage: BlobStorage;
  uploads: UploadSessions;
  connections: ConnectionGate;
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const storage = new BlobStorage(options.dir);
  await storage.init();
  const o: Opts = { ...DEFAULTS, ...stripUndefined(options), auth: options.auth };
  const log = options.log ?? (() => {});
  for (const reason of storage.badPacks) log(JSON.stringify({ time: new Date().toISOString(), error: `refused at start, moved to packs/bad/: ${reason}` }));
  // An upload session idle for a whole request timeout is abandoned.
  const uploads = new UploadSessions(storage, o.requestTimeoutMs, o.maxUploadsPerToken);
  const connections = new ConnectionGate(o.maxConnections);
  const server = createServer({
    requestTimeout: o.requestTimeoutMs,
    // Also a connection that never sends a byte: Node counts from when it was accepted.
    headersTimeout: o.headersTimeoutMs,
    // Node checks the two timeouts above only this often (default 30 s).
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(o.headersTimeoutMs / 4))),
    keepAliveTimeout: o.keepAliveTimeoutMs,
  });
  server.timeout = o.idleTimeoutMs;
  // Before node:http's own listener: a refused connection is answered and closed here.
  server.prependListener('connection', (socket: Socket) => void connections.admit(socket));
  server.on('timeout', (socket: Socket) => socket.destroy());
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (connections.isRefused(socket)) return;
    const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const text = status === 408 ? 'Request Timeout' : status === 431 ? 'Request Header Fields Too Large' : 'Bad Request';
    // The client closed its side mid-request: there is no one to answer.
    const answered = socket.writable && err.code !== 'HPE_INVALID_EOF_STATE' && err.code !== 'ECONNRESET';
    log(JSON.stringify({ time: new Date().toISOString(), status: answered ? status : 'aborted', error: err.code ?? 'client error', remote: socket.remoteAddress }));
    // Closed once the answer is out: the server's sockets are half-open (allowHalfOpen), so
    // end() alone would wait for a client that may never close its side.
    if (answered) socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
    else socket.destroy();
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    // Kept here: an early refusal can destroy the request, which then forgets its socket.
    const socket = req.socket;
    if (connections.isRefused(socket)) return;
    connections.requestStarted(socket);
    const started = process.hrtime.bigint();
    let who = '-';
    // Socket counters, not a 'data' listener: that would start the body flowing early.
    const readBefore = socket.bytesRead;
    res.on('close', () => {
      connections.requestEnded(socket);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // The status the client was sent, or `aborted` when it was sent none.
      log(JSON.stringify({
        time: new Date().toISOString(), method: req.method, path: (req.url ?? '').slice(0, 200), status: res.headersSent ? res.statusCode : 'aborted',
        in: socket.bytesRead - readBefore, ms: Math.round(ms * 10) / 10, who, remote: socket.remoteAddress, ...(res.writableFinished ? {} : { aborted: true }),
      }));
    });
    handle(req, res, storage, uploads, o, (name) => (who = name)).catch((err: unknown) => {
      const e = err instanceof HttpError ? err
        : err instanceof UploadError ? new HttpError(err.status, err.status === 413 ? 'too_large' : 'bad_upload', err.message)
        : new HttpError(500, 'internal', 'internal server error');
      if (e.status === 500) log(JSON.stringify({ time: new Date().toISOString(), error: String((err as Error)?.stack ?? err) }));
      sendError(req, res, e);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    server,
    port,
    url: `http://${host}:${port}`,
    storage,
    uploads,
    connections,
    close: () => new Promise<void>((resolve) => {
      uploads.close();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function sendError(req: IncomingMessage, res: ServerResponse, e: HttpError): void {
  // Already answering, or the client is gone (the log then says `aborted`).
  if (res.headersSent || res.destroyed || !res.socket || res.socket.destroyed) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: { code: e.code, message: e.message } }) + '\n';
  // The body of a refused request may still be arriving. Closing now would reset the
  // connection under data the client is still sending, and the client would see EPIPE
  // instead of this answer; so the rest is read and dropped, within a bound.
  if (!req.complete) drainThenKeep(req);
  res.writeHead(e.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...e.headers,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** What a refused request may still send before its connection is cut. */
const DRAIN_LIMIT = { bytes: 8 << 20, ms: 5000 };

/**
 * Reads and drops the rest of a refused request's body (the connection stays usable once it
 * has all arrived); a client that sends more than DRAIN_LIMIT, or for longer, is cut off.
 */
function drainThenKeep(req: IncomingMessage): void {
  const socket = req.socket;
  let dropped = 0;
  const cut = () => socket.destroy();
  const timer = setTimeout(cut, DRAIN_LIMIT.ms);
  timer.unref();
  // A 'data' listener set before the answer ends keeps Node from dumping the body itself
  // (which would remove this listener and drain without a bound).
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DRAIN_LIMIT.bytes) cut();
  });
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
}

function sendJson(res: ServerResponse, status: number, data: unknown, headers: Record<string, string> = {}, head = false): void {
  const body = JSON.stringify(data) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(head ? undefined : body);
}

/** Splits the raw path into decoded segments, refusing traversal and encoded separators. */
function segments(rawUrl: string): string[] {
  const path = rawUrl.split('?')[0]!;
  if (!path.startsWith('/') || path.length > 2048) throw new HttpError(400, 'bad_path', 'malformed request path');
  const parts = path.slice(1).split('/');
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  return parts.map((p) => {
    let s: string;
    try {
      s = decodeURIComponent(p);
    } catch {
      throw new HttpError(400, 'bad_path', 'malformed percent-encoding in path');
    }
    if (s === '.' || s === '..' || s.includes('/') || s.includes('\\') || s.includes('\0')) throw new HttpError(400, 'bad_path', 'path traversal is not allowed');
    return s;
  });
}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > max) throw new HttpError(413, 'too_large', `body exceeds the limit of ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) throw new HttpError(413, 'too_large', `body exceeds the limit of ${max} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

async function readJson(req: IncomingMessage, max: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > max) throw new HttpError(413, 'too_large', `JSON body exceeds the limit of ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) throw new HttpError(413, 'too_large', `JSON body exceeds the limit of ${max} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'bad_json', 'request body is not valid JSON');
  }
}

type Opts = typeof DEFAULTS & { auth: AuthConfig };

async function handle(req: IncomingMessage, res: ServerResponse, storage: BlobStorage, uploads: UploadSessions, o: Opts, setWho: (who: string) => void): Promise<void> {
  const parts = segments(req.url ?? '');
  const method = req.method ?? 'GET';
  if (parts.length === 1 && parts[0] === 'healthz' && (method === 'GET' || method === 'HEAD')) {
    sendJson(res, 200, { ok: true, protocol: PROTOCOL_VERSION, features: [FEATURE_BATCH] }, {}, method === 'HEAD');
    return;
  }
  if (parts[0] !== PROTOCOL_VERSION) throw new HttpError(404, 'not_found', 'no such route');
  const need: Scope = method === 'PUT' || method === 'DELETE' || parts[1] === 'uploads' || (parts[1] === 'blobs' && parts[2] === 'batch') ? 'write' : 'read';
  const auth = authorize(o.auth, req.headers.authorization, need);
  if (!auth.ok) {
    throw new HttpError(auth.status, auth.status === 401 ? 'unauthorized' : 'forbidden', auth.reason,
      auth.status === 401 ? { 'www-authenticate': 'Bearer realm="karapace"' } : {});
  }
  setWho(auth.who);
  const [, kind, a, b] = parts;

  if (kind === 'blobs' && parts.length === 3 && a === 'missing') {
    if (method !== 'POST') throw new HttpError(405, 'method_not_allowed', 'use POST');
    const body = (await readJson(req, o.maxJsonBytes)) as { hashes?: unknown };
    if (!body || !Array.isArray(body.hashes) || body.hashes.length > MAX_BATCH || !body.hashes.every((h) => typeof h === 'string' && isHash(h))) {
      throw new HttpError(400, 'bad_request', `expected {"hashes": [...]} with at most ${MAX_BATCH} blake3 hashes`);
    }
    const unique = [...new Set(body.hashes as string[])];
    const sizes = await storage.blobSizes(unique);
    const missing = unique.filter((_, i) => sizes[i] === undefined);
    sendJson(res, 200, { missing } satisfies MissingResponse);
    return;
  }
  if (kind === 'blobs' && parts.length === 3 && a === 'batch') {
    if (method !== 'POST') throw new HttpError(405, 'method_not_allowed', 'use POST');
    const limit = Math.min(o.maxBodyBytes, MAX_BATCH_BYTES);
    const body = await readBody(req, limit);
    const blobs = parseBatch(body);
    if (!blobs) throw new HttpError(400, 'bad_request', `a batch is records "<blake3> <size>\\n<bytes>", at most ${MAX_BATCH}`);
    for (const b of blobs) {
      const actual = hashBytes(b.bytes);
      if (actual !== b.hash) throw new HttpError(400, 'digest_mismatch', `content hash mismatch: a record named ${b.hash} hashes to ${actual}; nothing of this batch was kept`);
    }
    const release = uploads.holdPut(auth.who);
    try {
      const created = await storage.putMany(blobs);
      sendJson(res, 200, { stored: blobs.length, created });
    } finally {
      release();
    }
    return;
  }
  if (kind === 'blobs' && parts.length === 3 && a === 'fetch') {
    if (method !== 'POST') throw new HttpError(405, 'method_not_allowed', 'use POST');
    const body = (await readJson(req, o.maxJsonBytes)) as { hashes?: unknown };
    if (!body || !Array.isArray(body.hashes) || body.hashes.length > MAX_BATCH || !body.hashes.every((h) => typeof h === 'string' && isHash(h))) {
      throw new HttpError(400, 'bad_request', `expected {"hashes": [...]} with at most ${MAX_BATCH} blake3 hashes`);
    }
    const hashes = body.hashes as string[];
    let total = 0;
    const missing: string[] = [];
    for (const [i, size] of (await storage.blobSizes(hashes)).entries()) {
      if (size === undefined) missing.push(hashes[i]!);
      else total += size + 66 + String(size).length;
    }
    if (missing.length) throw new HttpError(404, 'blob_unknown', `${missing.length} of the blobs asked for are not on this server (first: ${missing[0]})`);
    if (total > MAX_BATCH_BYTES) throw new HttpError(413, 'too_large', `the blobs asked for exceed ${MAX_BATCH_BYTES} bytes together`);
    const parts: Buffer[] = [];
    for (const [i, bytes] of (await storage.readBlobs(hashes)).entries()) parts.push(...batchRecord(hashes[i]!, bytes));
    const out = Buffer.concat(parts);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': out.length });
    res.end(out);
    return;
  }
  if (kind === 'blobs' && parts.length === 3) {
    if (!isHash(a!)) throw new HttpError(400, 'bad_hash', 'a blob is named by its blake3 hash (64 lowercase hex digits)');
    return blobRoute(req, res, storage, uploads, o, method, a!, auth.who);
  }
  if (kind === 'uploads') return uploadRoute(req, res, uploads, o, method, parts.slice(2), auth.who);
  if (kind === 'refs' && parts.length === 2) {
    if (method !== 'GET') throw new HttpError(405, 'method_not_allowed', 'use GET');
    sendJson(res, 200, { refs: await storage.listRefs() });
    return;
  }
  if (kind === 'refs' && parts.length === 4) {
    if (!isValidName(a!) || !isValidTag(b!)) throw new HttpError(400, 'bad_reference', 'malformed reference name or tag');
    return refRoute(req, res, storage, o, method, a!, b!);
  }
  throw new HttpError(404, 'not_found', 'no such route');
}

async function blobRoute(req: IncomingMessage, res: ServerResponse, storage: BlobStorage, uploads: UploadSessions, o: Opts, method: string, hash: string, who: string): Promise<void> {
  if (method === 'GET' || method === 'HEAD') {
    const size = await storage.blobSize(hash);
    if (size === undefined) throw new HttpError(404, 'blob_unknown', `blob ${hash} is not on this server`);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size, etag: etagOf(hash) });
    if (method === 'HEAD') {
      res.end();
      return;
    }
    await pipeline(storage.openBlob(hash), res);
    return;
  }
  if (method === 'PUT') {
    const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    if (declared !== undefined && !(declared >= 0)) throw new HttpError(400, 'bad_request', 'malformed Content-Length');
    if (declared !== undefined && declared > o.maxBodyBytes) throw new HttpError(413, 'too_large', `body exceeds the limit of ${o.maxBodyBytes} bytes`);
    if ((await storage.blobSize(hash)) !== undefined) {
      // Already here: no need to keep the body.
      if (!req.complete) drainThenKeep(req);
      sendJson(res, 200, { hash, created: false });
      return;
    }
    const release = uploads.holdPut(who);
    try {
      const created = await storage.putBlob(hash, req, o.maxBodyBytes);
      sendJson(res, created ? 201 : 200, { hash, created });
    } finally {
      release();
    }
    return;
  }
  throw new HttpError(405, 'method_not_allowed', 'use HEAD, GET or PUT');
}

async function refRoute(req: IncomingMessage, res: ServerResponse, storage: BlobStorage, o: Opts, method: string, name: string, tag: string): Promise<void> {
  if (method === 'GET' || method === 'HEAD') {
    const ref = await storage.getRef(name, tag);
    if (!ref) throw new HttpError(404, 'ref_unknown', `no reference ${name}@${tag}`);
    sendJson(res, 200, ref, { etag: etagOf(ref.digest) }, method === 'HEAD');
    return;
  }
  if (method !== 'PUT') throw new HttpError(405, 'method_not_allowed', 'use GET, HEAD or PUT');
  const ifMatch = req.headers['if-match'];
  const ifNoneMatch = req.headers['if-none-match'];
  let expected: string | null;
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== '*') throw new HttpError(400, 'bad_precondition', 'If-None-Match must be "*" (create only)');
    expected = null;
  } else if (ifMatch !== undefined) {
    const d = digestFromEtag(ifMatch);
    if (!d) throw new HttpError(400, 'bad_precondition', 'If-Match must be "<blake3 hash>" or *');
    expected = d;
  } else {
    throw new HttpError(428, 'precondition_required', 'updating a reference needs If-Match: "<old digest>" or If-None-Match: * (compare-and-swap)');
  }
  const body = (await readJson(req, o.maxJsonBytes)) as { digest?: unknown };
  if (!body || typeof body.digest !== 'string' || !isHash(body.digest)) throw new HttpError(400, 'bad_request', 'expected {"digest": "<blake3 hash>"}');
  if ((await storage.blobSize(body.digest)) === undefined) {
    throw new HttpError(409, 'blob_unknown', `blob ${body.digest} is not on this server: upload the bundle before the reference`);
  }
  const result = await storage.swapRef(name, tag, body.digest, expected);
  if (!result.ok) {
    throw new HttpError(412, 'stale_reference', result.current
      ? `${name}@${tag} is now ${result.current.digest}; it changed since you read it`
      : `${name}@${tag} does not exist`, result.current ? { etag: etagOf(result.current.digest) } : {});
  }
  sendJson(res, result.created ? 201 : 200, result.record, { etag: etagOf(result.record.digest) });
}

function declaredLength(req: IncomingMessage, max: number): void {
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  if (declared !== undefined && !(declared >= 0)) throw new HttpError(400, 'bad_request', 'malformed Content-Length');
  if (declared !== undefined && declared > max) throw new HttpError(413, 'too_large', `body exceeds the limit of ${max} bytes`);
}

/** Upload sessions (docs/remote-protocol.md): POST opens, PATCH appends, PUT ?digest= commits, DELETE drops. */
async function uploadRoute(req: IncomingMessage, res: ServerResponse, uploads: UploadSessions, o: Opts, method: string, rest: string[], who: string): Promise<void> {
  if (rest.length === 0) {
    if (method !== 'POST') throw new HttpError(405, 'method_not_allowed', 'use POST to open an upload');
    const id = uploads.open(who);
    sendJson(res, 202, { id }, { location: `/${PROTOCOL_VERSION}/uploads/${id}` });
    return;
  }
  const id = rest[0]!;
  if (rest.length !== 1 || !SESSION_ID.test(id)) throw new HttpError(400, 'bad_path', 'an upload is named by its 32-hex-digit id');
  if (method === 'PATCH') {
    declaredLength(req, o.maxBodyBytes);
    const size = await uploads.append(id, who, req, o.maxBodyBytes);
    sendJson(res, 202, { id, size }, { location: `/${PROTOCOL_VERSION}/uploads/${id}` });
    return;
  }
  if (method === 'PUT') {
    const digest = new URL(req.url ?? '/', 'http://x').searchParams.get('digest') ?? '';
    if (!isHash(digest)) throw new HttpError(400, 'bad_hash', 'commit with ?digest=<blake3 hash of the uploaded bytes>');
    if (Number(req.headers['content-length'] ?? 0) !== 0 || req.headers['transfer-encoding']) throw new HttpError(400, 'bad_request', 'a commit has no body: send the bytes with PATCH');
    const { created, size } = await uploads.commit(id, who, digest);
    sendJson(res, created ? 201 : 200, { hash: digest, size, created }, { location: `/${PROTOCOL_VERSION}/blobs/${digest}` });
    return;
  }
  if (method === 'DELETE') {
    if (!(await uploads.abort(id, who))) throw new HttpError(404, 'upload_unknown', `no upload session ${id}`);
    res.writeHead(204).end();
    return;
  }
  throw new HttpError(405, 'method_not_allowed', 'use PATCH, PUT or DELETE on an upload');
}
