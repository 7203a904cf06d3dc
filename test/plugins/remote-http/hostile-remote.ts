/**
 * A hostile remote for tests: a node:http server on 127.0.0.1 that speaks the pull side of
 * the karapace protocol (GET /v1/refs/<name>/<tag>, GET /v1/blobs/<hash>) from blobs a real
 * `karapace push` stored, and lets a test rewrite them self-consistently, as a remote that
 * controls its own references can: a tampered manifest gets its own (valid) digest and a
 * tag pointing at it.
 */
import { createServer, type Server } from 'node:http';
import { hashBytes } from '@karapace/kernel';
import { serverBlobs } from './server-process.js';

export interface HostileRemote {
  url: string;
  blobs: Map<string, Buffer>;
  /** Stores bytes as a blob, returns its blake3. */
  put(bytes: Buffer | string): string;
  manifest(digest: string): any;
  /** Stores a manifest object as a blob and points name@tag at it. */
  publish(name: string, tag: string, manifest: unknown): string;
  requests: string[];
  close(): Promise<void>;
}

/**
 * Serves the blobs of `dataDir` (a karapace-server data dir, loose and packed). With `batch`, it also
 * offers batch downloads (/healthz features, POST /v1/blobs/fetch) from the same blobs.
 */
export async function startHostileRemote(dataDir: string, options: { batch?: boolean } = {}): Promise<HostileRemote> {
  const blobs = await serverBlobs(dataDir);
  const refs = new Map<string, string>();
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const ref = /^\/v1\/refs\/([^/]+)\/([^/]+)$/.exec(req.url ?? '');
    const blob = /^\/v1\/blobs\/([0-9a-f]{64})$/.exec(req.url ?? '');
    if (req.method === 'GET' && ref) {
      const digest = refs.get(`${decodeURIComponent(ref[1]!)}@${decodeURIComponent(ref[2]!)}`);
      if (!digest) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ name: ref[1], tag: ref[2], digest, updated_at: new Date().toISOString() }));
    }
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ ok: true, protocol: 'v1', features: options.batch ? ['batch'] : [] }));
    }
    if (req.method === 'POST' && req.url === '/v1/blobs/fetch' && options.batch) {
      const body: Buffer[] = [];
      req.on('data', (c: Buffer) => body.push(c));
      req.on('end', () => {
        const { hashes } = JSON.parse(Buffer.concat(body).toString('utf8')) as { hashes: string[] };
        if (hashes.some((h) => !blobs.has(h))) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"blob_unknown","message":"not here"}}');
        const out = Buffer.concat(hashes.flatMap((h) => [Buffer.from(`${h} ${blobs.get(h)!.length}\n`), blobs.get(h)!]));
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': out.length });
        res.end(out);
      });
      return;
    }
    if (req.method === 'GET' && blob) {
      const bytes = blobs.get(blob[1]!);
      if (!bytes) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
      return void res.end(bytes);
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  const put = (bytes: Buffer | string) => {
    const b = Buffer.from(bytes);
    const hash = hashBytes(b);
    blobs.set(hash, b);
    return hash;
  };
  return {
    url: `http://127.0.0.1:${address.port}`,
    blobs,
    put,
    manifest: (digest) => JSON.parse(blobs.get(digest)!.toString('utf8')),
    publish(name, tag, manifest) {
      const digest = put(JSON.stringify(manifest));
      refs.set(`${name}@${tag}`, digest);
      return digest;
    },
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
