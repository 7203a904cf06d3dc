/** A static HTTP server on 127.0.0.1 for image-server tests (Range support, request log). */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExecutionContext } from 'ava';

export interface StaticServer {
  url: string;
  requests: { path: string; range?: string }[];
  files: Map<string, Buffer | string>;
  /** Paths whose next response is cut after this many bytes (once). */
  cutOnce: Map<string, number>;
}

export async function staticServer(t: ExecutionContext): Promise<StaticServer> {
  const files = new Map<string, Buffer | string>();
  const requests: StaticServer['requests'] = [];
  const cutOnce = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push({ path, ...(req.headers.range ? { range: req.headers.range } : {}) });
    let body = files.get(path);
    if (body === undefined && path.endsWith('/')) {
      // A directory listing like Apache's/nginx's autoindex.
      const children = new Set<string>();
      for (const p of files.keys()) if (p.startsWith(path) && p !== path) children.add(p.slice(path.length).split('/')[0]! + (p.slice(path.length).includes('/') ? '/' : ''));
      if (children.size) body = `<html><body>${[...children].map((c) => `<a href="${encodeURIComponent(c.replace(/\/$/, '')) + (c.endsWith('/') ? '/' : '')}">${c}</a>`).join('\n')}</body></html>`;
    }
    if (body === undefined) {
      res.writeHead(404).end('not found');
      return;
    }
    const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    if (start > buf.length) {
      res.writeHead(416).end();
      return;
    }
    const slice = buf.subarray(start);
    res.writeHead(m ? 206 : 200, { 'content-length': slice.length, 'accept-ranges': 'bytes', ...(m ? { 'content-range': `bytes ${start}-${buf.length - 1}/${buf.length}` } : {}) });
    const cut = cutOnce.get(path);
    if (cut !== undefined) {
      cutOnce.delete(path);
      res.write(slice.subarray(0, cut), () => res.destroy());
      return;
    }
    res.end(slice);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, files, cutOnce };
}
