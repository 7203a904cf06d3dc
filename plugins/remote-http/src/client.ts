/**
 * The HTTP client for the protocol in docs/remote-protocol.md. node:http with a keep-alive
 * agent: blobs stream straight from disk to the socket and back.
 */
import * as http from 'node:http';
import type { ClientRequest, IncomingMessage } from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import { KarapaceError, type RemoteTimeoutConfig } from '@karapace/kernel';
import { rawGet, type BlobBody } from './blob-download.js';
import { guardRequest, resolveTimeouts, type TimeoutContext } from './timeouts.js';
import { batchRecord, etagOf, parseBatch, type MissingResponse, type RefRecord } from './protocol.js';
import { forbidden, notFound, protocolError, refConflict, safeUrl, unauthorized, unreachable } from './errors.js';

export interface RequestOptions {
  method: string;
  path: string;
  headers?: Record<string, string | number>;
  /** A Readable is piped; other async iterables are written chunk by chunk (see writeEach). */
  body?: Buffer | Readable | AsyncIterable<Buffer>;
  /** What the request is for, in timeout messages (default: method and path). */
  what?: string;
}

export interface ClientOptions {
  /** The remote's name in config `remotes` (timeout messages say which setting to raise). */
  name?: string;
  /** Unset fields keep DEFAULT_TIMEOUTS. */
  timeouts?: RemoteTimeoutConfig;
}

function isReadable(body: unknown): body is Readable {
  return typeof (body as Readable).pipe === 'function';
}

/**
 * Writes each chunk and waits until the socket has taken it before asking for the next, so
 * a source may hand out the same buffer again (packTree's reuseBuffers: no fresh 4 MiB
 * buffer per chunk to fault in and collect).
 */
async function writeEach(chunks: AsyncIterable<Buffer>, req: ClientRequest): Promise<void> {
  let closed: ((err: Error) => void) | undefined;
  req.once('close', () => closed?.(new Error('the connection closed while the body was being sent')));
  try {
    for await (const chunk of chunks) {
      await new Promise<void>((resolve, reject) => {
        closed = reject;
        req.write(chunk, (err) => (err ? reject(err) : resolve()));
      });
    }
    closed = undefined;
    req.end();
  } catch (err) {
    req.destroy(err as Error);
  }
}

export class HttpRemoteClient {
  readonly kind = 'karapace-http';
  readonly url: string;
  /** The URL as it may be printed. */
  readonly display: string;
  private readonly base: URL;
  // Kept off the enumerable fields so a logged or JSON-printed client never shows it.
  readonly #token?: string;
  private readonly agent: http.Agent;
  /** The limits every request runs under (timeouts.ts). */
  readonly limits: TimeoutContext;

  constructor(url: string, token?: string, options: ClientOptions = {}) {
    this.base = new URL(url.replace(/\/+$/, '') + '/');
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') throw new Error(`unsupported URL scheme ${this.base.protocol}`);
    this.url = url;
    this.display = safeUrl(url);
    this.#token = token;
    this.limits = { remote: this.display, name: options.name, timeouts: resolveTimeouts(options.timeouts) };
    const Agent = this.base.protocol === 'https:' ? https.Agent : http.Agent;
    this.agent = new Agent({ keepAlive: true, maxSockets: 8 });
  }

  get hasToken(): boolean {
    return this.#token !== undefined;
  }

  close(): void {
    this.agent.destroy();
  }

  toJSON(): Record<string, unknown> {
    return { kind: this.kind, url: this.display };
  }

  /** Sends a request; resolves with the response (body unread). Network errors become KP_REMOTE_UNREACHABLE. */
  request(options: RequestOptions): Promise<IncomingMessage> {
    const target = new URL(options.path.replace(/^\//, ''), this.base);
    const mod = target.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(target, {
        method: options.method,
        agent: this.agent,
        headers: { ...(this.#token ? { authorization: `Bearer ${this.#token}` } : {}), ...(options.headers ?? {}) },
      });
      guardRequest(req, this.limits, options.what ?? `${options.method} ${target.pathname}`);
      req.on('response', resolve);
      // A body that fails (e.g. the tree changed while it was packed) reports its own error.
      req.on('error', (err: Error) => reject(err instanceof KarapaceError ? err : unreachable(this.display, err)));
      const body = options.body;
      if (!body) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else if (isReadable(body)) {
        body.on('error', (err) => req.destroy(err));
        body.pipe(req);
      } else void writeEach(body, req);
    });
  }

  private async text(res: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of res) {
      size += (c as Buffer).length;
      if (size <= 1 << 20) chunks.push(c as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  private async json<T>(res: IncomingMessage): Promise<T> {
    const text = await this.text(res);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw protocolError(this.display, res.statusCode ?? 0, 'the answer is not JSON');
    }
  }

  /** Turns a non-2xx answer into the matching error. */
  async fail(res: IncomingMessage, what: string): Promise<never> {
    const status = res.statusCode ?? 0;
    const text = await this.text(res).catch(() => '');
    let message = text.trim().slice(0, 300) || res.statusMessage || 'no details';
    try {
      message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message;
    } catch { /* not JSON */ }
    if (status === 401) throw unauthorized(this.display, this.hasToken);
    if (status === 403) throw forbidden(this.display, message);
    if (status === 404) throw notFound(this.display, what);
    if (status === 409 || status === 412) throw refConflict(this.display, what, message);
    throw protocolError(this.display, status, message);
  }

  async health(): Promise<void> {
    const res = await this.request({ method: 'GET', path: '/healthz' });
    if (res.statusCode !== 200) await this.fail(res, 'health check');
    res.resume();
  }

  /** The batch call: which of these blobs does the remote lack? */
  async missing(hashes: string[]): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < hashes.length; i += 5000) {
      const body = Buffer.from(JSON.stringify({ hashes: hashes.slice(i, i + 5000) }));
      const res = await this.request({ method: 'POST', path: '/v1/blobs/missing', what: 'the blob query', body, headers: { 'content-type': 'application/json', 'content-length': body.length } });
      if (res.statusCode !== 200) await this.fail(res, 'blob query');
      out.push(...(await this.json<MissingResponse>(res)).missing);
    }
    return out;
  }

  async hasBlob(hash: string): Promise<boolean> {
    const res = await this.request({ method: 'HEAD', path: `/v1/blobs/${hash}` });
    res.resume();
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    return this.fail(res, `blob ${hash}`);
  }

  #features?: Promise<Set<string>>;

  /** What the server offers beyond protocol v1 (`features` in /healthz; none from older servers). */
  features(): Promise<Set<string>> {
    this.#features ??= (async () => {
      const res = await this.request({ method: 'GET', path: '/healthz', what: 'the health check' });
      if (res.statusCode !== 200) {
        res.resume();
        return new Set<string>();
      }
      const body = await this.json<{ features?: unknown }>(res).catch(() => ({ features: undefined }));
      return new Set(Array.isArray(body.features) ? body.features.filter((f): f is string => typeof f === 'string') : []);
    })();
    return this.#features;
  }

  /** Uploads small blobs in one request (feature `batch`); the server checks every hash before keeping any. */
  async putBatch(blobs: { hash: string; bytes: Buffer }[]): Promise<void> {
    const body = Buffer.concat(blobs.flatMap((b) => batchRecord(b.hash, b.bytes)));
    const res = await this.request({ method: 'POST', path: '/v1/blobs/batch', what: `a batch upload of ${blobs.length} blobs`, body, headers: { 'content-type': 'application/octet-stream', 'content-length': body.length } });
    if (res.statusCode !== 200) await this.fail(res, `a batch of ${blobs.length} blobs`);
    res.resume();
  }

  /**
   * Downloads small blobs in one request (feature `batch`), in the order asked; unverified
   * (the caller checks each). A record of another name or size than asked is refused.
   */
  async fetchBatch(refs: { hash: string; size: number }[]): Promise<Buffer[]> {
    const expected = refs.reduce((n, r) => n + r.size + 66 + String(r.size).length, 0);
    const body = Buffer.from(JSON.stringify({ hashes: refs.map((r) => r.hash) }));
    const res = await this.request({ method: 'POST', path: '/v1/blobs/fetch', what: `a batch download of ${refs.length} blobs`, body, headers: { 'content-type': 'application/json', 'content-length': body.length } });
    if (res.statusCode !== 200) await this.fail(res, `a batch of ${refs.length} blobs`);
    const declared = Number(res.headers['content-length'] ?? NaN);
    if (declared !== expected) {
      res.destroy();
      throw protocolError(this.display, 200, `a batch of ${refs.length} blobs should be ${expected} bytes, the answer declares ${declared}: refused before reading it`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of res) {
      size += (c as Buffer).length;
      if (size > expected) {
        res.destroy();
        break;
      }
      chunks.push(c as Buffer);
    }
    const records = parseBatch(Buffer.concat(chunks), refs.length);
    if (!records || records.length !== refs.length || records.some((r, i) => r.hash !== refs[i]!.hash || r.bytes.length !== refs[i]!.size)) {
      throw protocolError(this.display, 200, `the answer to a batch of ${refs.length} blobs is not the records asked for`);
    }
    return records.map((r) => r.bytes);
  }

  /** Uploads a blob; the server checks its hash before keeping it. */
  async putBlob(hash: string, size: number, body: Readable | Buffer | AsyncIterable<Buffer>): Promise<void> {
    const res = await this.request({ method: 'PUT', path: `/v1/blobs/${hash}`, what: `the upload of blob ${hash.slice(0, 12)}`, body, headers: { 'content-type': 'application/octet-stream', 'content-length': size } });
    if (res.statusCode !== 200 && res.statusCode !== 201) await this.fail(res, `blob ${hash}`);
    res.resume();
  }

  /**
   * Uploads a blob whose hash is only known once it has been read: the body goes into an
   * upload session, then `digestOf()` (called after the body ended) names it. The server
   * keeps it only if the bytes hash to that name.
   */
  async uploadStreamed(body: Readable | AsyncIterable<Buffer>, digestOf: () => string): Promise<{ hash: string; size: number; created: boolean }> {
    const opened = await this.request({ method: 'POST', path: '/v1/uploads', headers: { 'content-length': 0 } });
    if (opened.statusCode !== 202) await this.fail(opened, 'upload session');
    const { id } = await this.json<{ id: string }>(opened);
    const path = `/v1/uploads/${encodeURIComponent(id)}`;
    try {
      const sent = await this.request({ method: 'PATCH', path, what: 'a streamed upload', body, headers: { 'content-type': 'application/octet-stream' } });
      if (sent.statusCode !== 202) await this.fail(sent, `upload ${id}`);
      sent.resume();
      const hash = digestOf();
      const done = await this.request({ method: 'PUT', path: `${path}?digest=${hash}`, what: `the commit of blob ${hash.slice(0, 12)}`, headers: { 'content-length': 0 } });
      if (done.statusCode !== 201 && done.statusCode !== 200) await this.fail(done, `blob ${hash}`);
      return await this.json<{ hash: string; size: number; created: boolean }>(done);
    } catch (err) {
      // Best effort: the server also drops sessions left idle.
      await this.request({ method: 'DELETE', path }).then((r) => r.resume(), () => undefined);
      throw err;
    }
  }

  /** Opens a blob for reading. The caller verifies its hash. */
  async getBlob(hash: string, expectedSize?: number): Promise<{ stream: IncomingMessage; size?: number }> {
    const res = await this.request({ method: 'GET', path: `/v1/blobs/${hash}`, what: `the download of blob ${hash.slice(0, 12)}` });
    if (res.statusCode !== 200) await this.fail(res, `blob ${hash}`);
    const len = res.headers['content-length'];
    const size = len === undefined ? undefined : Number(len);
    if (expectedSize !== undefined && size !== undefined && size !== expectedSize) {
      res.destroy();
      throw this.wrongSize(hash, size, expectedSize);
    }
    return { stream: res, size };
  }

  private wrongSize(hash: string, declared: number, expected: number): KarapaceError {
    return protocolError(this.display, 200, `blob ${hash.slice(0, 12)} is ${expected} bytes, but the answer declares ${declared}: refused before reading it`);
  }

  /**
   * Opens a large blob for reading: straight off the socket over http: (blob-download.ts),
   * through node:http otherwise or when the answer is not a plain 200. The caller verifies its hash.
   */
  async openBlob(hash: string, expectedSize?: number): Promise<BlobBody> {
    const raw = await rawGet(new URL(`v1/blobs/${hash}`, this.base), this.#token ? { authorization: `Bearer ${this.#token}` } : {}, {
      context: this.limits, what: `the download of blob ${hash.slice(0, 12)}`, expectedSize, wrongSize: (declared) => this.wrongSize(hash, declared, expectedSize!),
    });
    return raw ?? (await this.getBlob(hash, expectedSize)).stream;
  }

  async getRef(name: string, tag: string): Promise<RefRecord | undefined> {
    const res = await this.request({ method: 'GET', path: `/v1/refs/${encodeURIComponent(name)}/${encodeURIComponent(tag)}` });
    if (res.statusCode === 404) {
      res.resume();
      return undefined;
    }
    if (res.statusCode !== 200) await this.fail(res, `${name}@${tag}`);
    return this.json<RefRecord>(res);
  }

  /**
   * Points `name@tag` at `digest` if it still points at `expected` (undefined = must not
   * exist yet). A concurrent change makes this fail with KP_REMOTE_REF_CONFLICT.
   */
  async putRef(name: string, tag: string, digest: string, expected: string | undefined): Promise<RefRecord> {
    const body = Buffer.from(JSON.stringify({ digest }));
    const res = await this.request({
      method: 'PUT',
      path: `/v1/refs/${encodeURIComponent(name)}/${encodeURIComponent(tag)}`,
      body,
      headers: { 'content-type': 'application/json', 'content-length': body.length, ...(expected ? { 'if-match': etagOf(expected) } : { 'if-none-match': '*' }) },
    });
    if (res.statusCode !== 200 && res.statusCode !== 201) await this.fail(res, `${name}@${tag}`);
    return this.json<RefRecord>(res);
  }
}
