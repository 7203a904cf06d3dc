/**
 * Large blobs are read straight off the socket (blob-download.ts): plain 200 answers with a
 * Content-Length only; anything else goes back to node:http. Real servers on 127.0.0.1.
 */
import test from 'ava';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { RawBody, Slabs, plainLength, rawGet } from '../../../plugins/remote-http/dist/blob-download.js';
import { HttpRemoteClient } from '../../../plugins/remote-http/dist/client.js';
import { hashBytes } from '@karapace/kernel';
import { join } from 'node:path';
import { mockManifest, sandbox } from '../../helpers/cli.js';
import { READ_TOKEN, WRITE_TOKEN, startTestServer } from './server-process.js';

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, url, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('response heads: only a plain 200 with one Content-Length is taken', (t) => {
  t.is(plainLength('HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\nContent-Length: 1234'), 1234);
  t.is(plainLength('HTTP/1.0 200 OK\r\nContent-Length: 0'), 0);
  t.is(plainLength('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5'), 5);
  t.is(plainLength('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6'), undefined);
  t.is(plainLength('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked'), undefined);
  t.is(plainLength('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked'), undefined);
  t.is(plainLength('HTTP/1.1 200 OK\r\ncontent-type: x'), undefined);
  t.is(plainLength('HTTP/1.1 404 Not Found\r\nContent-Length: 10'), undefined);
  t.is(plainLength('HTTP/1.1 206 Partial Content\r\nContent-Length: 10'), undefined);
  t.is(plainLength('HTTP/1.1 200 OK\r\nContent-Length: -1'), undefined);
  t.is(plainLength('HTTP/1.1 200 OK\r\nContent-Length: 12abc'), undefined);
  t.is(plainLength('HTTP/1.1 200 OK\r\nX-A: b\r\n folded'), undefined);
  t.is(plainLength('HTTP/2 200\r\nContent-Length: 1'), undefined);
});

test('a large body arrives whole and in order, with the request headers sent, also to a slow reader', async (t) => {
  t.timeout(30_000);
  const body = randomBytes(40 << 20);
  let seen: IncomingMessage['headers'] | undefined;
  const s = await serve((req, res) => {
    seen = req.headers;
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  });
  try {
    const fast = await rawGet(new URL(`${s.url}/v1/blobs/abc?x=1`), { authorization: 'Bearer secret' });
    t.truthy(fast);
    const parts: Buffer[] = [];
    let n = 0;
    let previous: { view: Buffer; copy: Buffer } | undefined;
    let intact = true;
    // Slow at first: more than the reader queues (16 MiB) is sent, so it must pause and resume.
    for await (const c of fast!) {
      const copy = Buffer.from(c);
      parts.push(copy);
      if (n++ < 5) await new Promise((r) => setTimeout(r, 60));
      else await new Promise((r) => setTimeout(r, 3));
      // Memory is reused (reads went on meanwhile), but never that of the chunk before the one asked for last.
      if (previous && !previous.view.equals(previous.copy)) intact = false;
      if (!c.equals(copy)) intact = false;
      previous = { view: c, copy };
    }
    t.true(intact);
    const got = Buffer.concat(parts);
    t.is(got.length, body.length);
    t.is(sha(got), sha(body));
    t.is(seen?.authorization, 'Bearer secret');
    t.is(seen?.host, new URL(s.url).host);
  } finally {
    await s.close();
  }
});

test('anything but a plain 200 (an error status, chunked framing, a refused connection, unsendable headers) is left to node:http', async (t) => {
  const s = await serve((req, res) => {
    if (req.url === '/missing') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"no"}}');
    } else {
      res.writeHead(200);
      res.write('chunked ');
      res.end('body');
    }
  });
  try {
    t.is(await rawGet(new URL(`${s.url}/missing`), {}), undefined);
    t.is(await rawGet(new URL(`${s.url}/chunked`), {}), undefined);
    t.is(await rawGet(new URL(`${s.url}/x`), { authorization: 'Bearer a\r\nX-Injected: 1' }), undefined);
    t.is(await rawGet(new URL(`https://127.0.0.1:1/x`), {}), undefined);
  } finally {
    await s.close();
  }
  // The port is closed now: connection refused.
  t.is(await rawGet(new URL(`${s.url}/x`), {}), undefined);
});

test('a connection dropped in the middle of a body is an error, not a short blob', async (t) => {
  const s = await serve((_req, res) => {
    res.writeHead(200, { 'content-length': 10 << 20 });
    res.write(randomBytes(1 << 20), () => res.socket?.destroy());
  });
  try {
    const fast = await rawGet(new URL(`${s.url}/x`), {});
    t.truthy(fast);
    await t.throwsAsync(async () => {
      for await (const _ of fast!) { /* read until it fails */ }
    }, { message: /aborted|ECONNRESET/ });
  } finally {
    await s.close();
  }
});

test('a client reads large blobs of a karapace-server this way, and gets the usual errors for missing ones and bad tokens', async (t) => {
  const server = await startTestServer();
  try {
    const blob = randomBytes(6 << 20);
    const hash = hashBytes(blob);
    const writer = new HttpRemoteClient(server.url, WRITE_TOKEN);
    await writer.putBlob(hash, blob.length, blob);
    const parts: Buffer[] = [];
    for await (const c of await writer.openBlob(hash)) parts.push(Buffer.from(c));
    t.is(hashBytes(Buffer.concat(parts)), hash);
    // The same errors as every other request (node:http answers them).
    await t.throwsAsync(writer.openBlob('0'.repeat(64)), { code: 'KP_REMOTE_NOT_FOUND' } as never);
    const stranger = new HttpRemoteClient(server.url, 'not-a-token');
    await t.throwsAsync(stranger.openBlob(hash), { code: 'KP_REMOTE_UNAUTHORIZED' } as never);
    writer.close();
    stranger.close();
  } finally {
    await server.stop();
  }
});

test('a pull whose early upper-dir download is not used (the local name is taken) fails promptly and cleanly; then it pulls', async (t) => {
  const server = await startTestServer();
  try {
    const src = sandbox('kp-remote-early-');
    src.write('proj/karapace.toml', mockManifest({ image: 'mock:early' }));
    await src.json(['build', join(src.dir, 'proj'), '--name', 'early']);
    const wrote = await src.run(['exec', 'early', '--', 'sh', '-c', 'head -c 24000000 /dev/urandom > big.bin']);
    t.is(wrote.code, 0, wrote.stderr);
    await src.json(['push', 'early', 'early@v1', '--remote', server.url], { env: { KARAPACE_REMOTE_TOKEN: WRITE_TOKEN } });

    const dst = sandbox('kp-remote-early-dst-');
    dst.write('proj/karapace.toml', mockManifest({ image: 'mock:other' }));
    await dst.json(['build', join(dst.dir, 'proj'), '--name', 'taken']);
    const token = { KARAPACE_REMOTE_TOKEN: READ_TOKEN };
    const started = Date.now();
    const refused = await dst.run(['pull', 'early@v1', '--remote', server.url, '--name', 'taken'], { env: token, timeoutMs: 30_000 });
    t.is(refused.code, 2, refused.stderr);
    t.regex(refused.stderr, /taken/);
    t.true(Date.now() - started < 25_000, 'the unused download does not keep the process alive');
    t.is((await dst.json(['list'])).environments.length, 1);

    const pulled = await dst.json(['pull', 'early@v1', '--remote', server.url, '--name', 'mine'], { env: token });
    t.false(pulled.cached);
    const read = await dst.run(['exec', 'mine', '--', 'sh', '-c', 'wc -c < big.bin']);
    t.is(read.stdout.trim(), '24000000');
  } finally {
    await server.stop();
  }
});

test('read memory is reused, but never a chunk the consumer may still hold (the one before the one it asked for last)', async (t) => {
  const slabs = new Slabs();
  const socket = { destroy() {}, resume() {} };
  const total = 48 << 20;
  const body = new RawBody(socket as never, total, slabs);
  const stamps = new Map<Buffer, number>();
  const seen = new Set<ArrayBufferLike>();
  let produced = 0;
  // One socket read, filled with its own stamp: all the room the slab has left, or 1 MiB.
  const read = () => {
    if (produced >= total) return;
    const room = slabs.next().length;
    const slab = slabs.current;
    const chunk = slabs.took(Math.min(stamps.size % 3 === 2 ? 1 << 20 : room, total - produced));
    const stamp = (stamps.size % 250) + 1;
    chunk.fill(stamp);
    stamps.set(chunk, stamp);
    seen.add(chunk.buffer);
    produced += chunk.length;
    body.push(chunk, slab);
  };
  read();
  const held: { chunk: Buffer; stamp: number }[] = [];
  let overwritten = 0;
  for await (const c of body) {
    // Its stamp as it arrived (the last chunk is a copy, not a chunk `read` made).
    held.push({ chunk: c, stamp: stamps.get(c) ?? c[0]! });
    // More reads land while the consumer holds this chunk and the one before it.
    read();
    for (const h of held.slice(-2)) if (!h.chunk.equals(Buffer.alloc(h.chunk.length, h.stamp))) overwritten++;
  }
  t.is(overwritten, 0);
  t.true(held.length > 10);
  // 48 MiB went through a handful of 4 MiB slabs.
  t.true(seen.size <= 6, `${seen.size} slabs`);

  // A download read to its end hands its slabs on: the next one reads into the same memory,
  // and the first one's last chunk (a copy) is not touched by it.
  const last = held[held.length - 1]!;
  const next = new Slabs();
  t.true(seen.has(next.current.buf.buffer), 'the next download starts in a slab of the last one');
  next.next().fill(0xee);
  t.true(last.chunk.equals(Buffer.alloc(last.chunk.length, last.stamp)));
});
