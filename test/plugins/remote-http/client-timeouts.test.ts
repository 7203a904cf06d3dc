/**
 * The client gives up on a remote that stops answering: real servers on 127.0.0.1 that
 * accept and never answer, answer headers then stall, or trickle, against every kind of
 * request (node:http, the raw blob reader, the OCI registry client, and `karapace pull`).
 * Each must fail within its limit with KP_REMOTE_TIMEOUT naming the remote and the limit,
 * and leave nothing open.
 */
import test from 'ava';
import { createServer as createHttpServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { HttpRemoteClient } from '../../../plugins/remote-http/dist/client.js';
import { rawGet } from '../../../plugins/remote-http/dist/blob-download.js';
import { guardRequest, resolveTimeouts, checkTimeouts } from '../../../plugins/remote-http/dist/timeouts.js';
import { RegistryClient } from '../../../plugins/remote-oci/dist/registry.js';
import { sandbox } from '../../helpers/cli.js';

const HASH = 'ab'.repeat(32);
/** Short limits: every case below must end within about these. */
const FAST = { connectMs: 300, firstByteMs: 400, idleMs: 500, minBytesPerSecond: 1024 };
/** A limit plus the watcher's tick and a loaded machine's scheduling. */
const SLACK = 5000;

interface Hostile {
  url: string;
  port: number;
  /** Server-side sockets still open. */
  open(): number;
  close(): Promise<void>;
}

/** Tracks the server's sockets so a test can check the client let go of them. */
async function listen(server: Server): Promise<Hostile> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`, port,
    open: () => sockets.size,
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

/** Accepts connections, reads what is sent, never answers. */
const silent = () => listen(createNetServer((s) => s.resume()));

/** Answers every request with its headers and `first` bytes of a body of `length`, then nothing. */
function stalling(length: number, first: number): Promise<Hostile> {
  return listen(createHttpServer((_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': length });
    res.write(Buffer.alloc(first, 1));
  }));
}

/** Answers with headers, then one byte every `everyMs` (far below 1 KiB/s). */
function trickling(length: number, everyMs: number): Promise<Hostile> {
  return listen(createHttpServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': length });
    const timer = setInterval(() => res.write(Buffer.from('x')), everyMs);
    res.on('close', () => clearInterval(timer));
  }));
}

/** Sends the status line and headers one byte at a time, forever. */
function tricklingHeaders(everyMs: number): Promise<Hostile> {
  const head = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: ${'p'.repeat(10_000)}\r\n`);
  return listen(createNetServer((s) => {
    s.resume();
    let i = 0;
    const timer = setInterval(() => { if (i < head.length) s.write(head.subarray(i, ++i)); }, everyMs);
    s.on('close', () => clearInterval(timer));
  }));
}

async function settlesWithin<T>(promise: Promise<T>, ms: number): Promise<{ error: any; elapsed: number }> {
  const started = Date.now();
  let error: any;
  const limit = new Promise((_, reject) => setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms).unref());
  try {
    await Promise.race([promise, limit]);
  } catch (err) {
    error = err;
  }
  return { error, elapsed: Date.now() - started };
}

async function drain(body: AsyncIterable<Buffer>): Promise<number> {
  let n = 0;
  for await (const c of body) n += c.length;
  return n;
}

async function eventually(check: () => boolean, ms = 5000): Promise<boolean> {
  for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 20))) if (check()) return true;
  return check();
}

function isTimeout(t: any, error: any, kind: string, elapsed: number, limit: number) {
  t.truthy(error, 'it failed');
  t.is(error?.code, 'KP_REMOTE_TIMEOUT', String(error?.stack ?? error));
  t.is(error?.data?.timeout, kind);
  t.true(elapsed >= limit - 50, `gave up after ${elapsed} ms, before its ${limit} ms limit`);
  t.true(elapsed < limit + SLACK, `gave up after ${elapsed} ms (limit ${limit} ms)`);
}

test('a remote that accepts and never answers: first-byte timeout on every kind of request, named and with the setting to raise', async (t) => {
  const s = await silent();
  const client = new HttpRemoteClient(s.url, 'tok-12345678', { name: 'slowpoke', timeouts: FAST });
  try {
    for (const [what, call] of [
      ['health', () => client.health()],
      ['getRef', () => client.getRef('app', 'v1')],
      ['getBlob', () => client.getBlob(HASH)],
      ['openBlob (raw reader)', () => client.openBlob(HASH)],
      ['putBlob', () => client.putBlob(HASH, 3, Buffer.from('abc'))],
    ] as const) {
      const { error, elapsed } = await settlesWithin((call as () => Promise<unknown>)(), 20_000);
      isTimeout(t, error, 'firstByte', elapsed, FAST.firstByteMs);
      t.regex(error.message, new RegExp(`remote ${s.url.replace(/[.]/g, '\\.')} sent no answer .* within 0\\.4 s \\(first-byte timeout\\)`), what);
      t.regex(error.hint, /remotes\.slowpoke\.timeouts\.firstByteMs/, what);
    }
  } finally {
    client.close();
  }
  t.true(await eventually(() => s.open() === 0), 'the client closed its connections');
  await s.close();
});

test('a remote that sends the headers and part of the body, then stalls: idle timeout while reading, through node:http and the raw reader', async (t) => {
  const s = await stalling(4 << 20, 64 << 10);
  const client = new HttpRemoteClient(s.url, undefined, { timeouts: FAST });
  try {
    const viaHttp = await client.getBlob(HASH);
    const a = await settlesWithin(drain(viaHttp.stream), 20_000);
    isTimeout(t, a.error, 'idle', a.elapsed, FAST.idleMs);
    t.regex(a.error.message, /stalled during the download of blob abababababab: less than 1024 bytes\/s for 0\.5 s \(idle timeout\)/);
    // Not named in the config: the hint shows how to name it with a longer limit.
    t.regex(a.error.hint, /"remotes": \{"origin": \{"url": "http:\/\/127\.0\.0\.1:\d+", "timeouts": \{"idleMs": 2000\}\}\}/);

    const raw = await client.openBlob(HASH);
    const b = await settlesWithin(drain(raw), 20_000);
    isTimeout(t, b.error, 'idle', b.elapsed, FAST.idleMs);
  } finally {
    client.close();
  }
  t.true(await eventually(() => s.open() === 0), 'the client closed its connections');
  await s.close();
});

test('a remote that trickles (a byte every 40 ms) is cut off like one that went silent; so is one that trickles its headers', async (t) => {
  const s = await trickling(1 << 20, 40);
  const client = new HttpRemoteClient(s.url, undefined, { timeouts: FAST });
  try {
    const a = await settlesWithin(drain((await client.getBlob(HASH)).stream), 20_000);
    isTimeout(t, a.error, 'idle', a.elapsed, FAST.idleMs);
    const b = await settlesWithin(drain(await client.openBlob(HASH)), 20_000);
    isTimeout(t, b.error, 'idle', b.elapsed, FAST.idleMs);
  } finally {
    client.close();
  }
  t.true(await eventually(() => s.open() === 0));
  await s.close();

  const h = await tricklingHeaders(20);
  const headers = new HttpRemoteClient(h.url, undefined, { timeouts: FAST });
  try {
    const c = await settlesWithin(headers.getRef('app', 'v1'), 20_000);
    isTimeout(t, c.error, 'firstByte', c.elapsed, FAST.firstByteMs);
    const d = await settlesWithin(headers.openBlob(HASH), 20_000);
    isTimeout(t, d.error, 'firstByte', d.elapsed, FAST.firstByteMs);
  } finally {
    headers.close();
  }
  t.true(await eventually(() => h.open() === 0));
  await h.close();
});

test('a slow reader is not a stalled remote: time the client holds the body back does not count', async (t) => {
  const body = Buffer.alloc(24 << 20, 3);
  const s = await listen(createHttpServer((_req, res) => {
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  }));
  const client = new HttpRemoteClient(s.url, undefined, { timeouts: FAST });
  try {
    for (const open of [async () => (await client.getBlob(HASH)).stream, () => client.openBlob(HASH)]) {
      const stream = await open();
      // Opened, then left unread for longer than the idle limit (the pull's early download does this).
      await new Promise((r) => setTimeout(r, FAST.idleMs * 3));
      let n = 0;
      for await (const c of stream) {
        n += c.length;
        if (n < (4 << 20)) await new Promise((r) => setTimeout(r, 5));
      }
      t.is(n, body.length);
    }
  } finally {
    client.close();
    await s.close();
  }
});

test('a remote that is slow but moving is not cut off', async (t) => {
  // 64 KiB every 100 ms: far above 1 KiB/s, with pauses shorter than the idle limit.
  const s = await listen(createHttpServer((_req, res) => {
    res.writeHead(200, { 'content-length': 20 * (64 << 10) });
    res.flushHeaders();
    let sent = 0;
    const timer = setInterval(() => {
      res.write(Buffer.alloc(64 << 10, 9));
      if (++sent === 20) { clearInterval(timer); res.end(); }
    }, 100);
  }));
  // Only the idle limit is under test here (this server shares the test's loaded process).
  const client = new HttpRemoteClient(s.url, undefined, { timeouts: { ...FAST, firstByteMs: 10_000 } });
  try {
    t.is(await drain((await client.getBlob(HASH)).stream), 20 * (64 << 10));
    t.is(await drain(await client.openBlob(HASH)), 20 * (64 << 10));
  } finally {
    client.close();
    await s.close();
  }
});

test('an upload the remote stops reading: idle timeout while sending', async (t) => {
  // Reads the request head, then never reads the body: the socket buffers fill and writes stop.
  const held: Socket[] = [];
  const s = await listen(createNetServer((sock) => {
    held.push(sock);
    sock.once('data', () => sock.pause());
  }));
  const client = new HttpRemoteClient(s.url, 'tok-12345678', { timeouts: FAST });
  try {
    const size = 64 << 20;
    async function* chunks() {
      for (let i = 0; i < size; i += 1 << 20) yield Buffer.alloc(1 << 20, 5);
    }
    const { error, elapsed } = await settlesWithin(client.putBlob(HASH, size, chunks()), 20_000);
    t.is(error?.code, 'KP_REMOTE_TIMEOUT', String(error?.stack ?? error));
    t.is(error?.data?.timeout, 'idle');
    // The socket buffers take a moment to fill before the window starts counting.
    t.true(elapsed < FAST.idleMs + 2 * SLACK, `${elapsed} ms`);
  } finally {
    client.close();
  }
  // Reading again, the server sees that the client let go.
  for (const sock of held) sock.resume();
  t.true(await eventually(() => s.open() === 0));
  await s.close();
});

test('an answer declaring a size other than the expected one is refused before its body is read', async (t) => {
  const s = await listen(createHttpServer((_req, res) => {
    res.writeHead(200, { 'content-length': 5 << 20 });
    res.end(Buffer.alloc(5 << 20));
  }));
  const client = new HttpRemoteClient(s.url, undefined, { timeouts: FAST });
  try {
    await t.throwsAsync(client.openBlob(HASH, 1000), { code: 'KP_REMOTE_ERROR', message: /is 1000 bytes, but the answer declares 5242880/ } as never);
    await t.throwsAsync(client.getBlob(HASH, 1000), { code: 'KP_REMOTE_ERROR', message: /is 1000 bytes, but the answer declares 5242880/ } as never);
    t.is(await drain(await client.openBlob(HASH, 5 << 20)), 5 << 20);
  } finally {
    client.close();
    await s.close();
  }
});

test('connect timeout: a connection that never opens (the name lookup never answers) fails in time', async (t) => {
  const ctx = { remote: 'http://stuck.invalid', name: 'stuck', timeouts: resolveTimeouts(FAST) };
  const started = Date.now();
  const error = await new Promise<any>((resolve) => {
    const req = request({ host: 'stuck.invalid', port: 80, path: '/healthz', lookup: () => { /* never answers */ } });
    guardRequest(req, ctx, 'GET /healthz');
    req.on('error', resolve);
    req.on('response', () => resolve(undefined));
    req.end();
  });
  isTimeout(t, error, 'connect', Date.now() - started, FAST.connectMs);
  t.regex(error.message, /cannot connect to the remote http:\/\/stuck\.invalid within 0\.3 s \(connect timeout\)/);
  t.regex(error.hint, /remotes\.stuck\.timeouts\.connectMs/);
});

test('the OCI registry client has the same limits', async (t) => {
  const s = await silent();
  const registry = new RegistryClient(new URL(s.url), s.url, undefined, { timeouts: FAST });
  try {
    const { error, elapsed } = await settlesWithin(registry.request({ method: 'GET', path: '/v2/', scope: '' }), 20_000);
    isTimeout(t, error, 'firstByte', elapsed, FAST.firstByteMs);
  } finally {
    registry.close();
  }
  const st = await stalling(1 << 20, 1000);
  const stalled = new RegistryClient(new URL(st.url), st.url, undefined, { timeouts: FAST });
  try {
    const res = await stalled.request({ method: 'GET', path: `/v2/x/blobs/sha256:${HASH}`, scope: '' });
    const { error, elapsed } = await settlesWithin(drain(res), 20_000);
    isTimeout(t, error, 'idle', elapsed, FAST.idleMs);
  } finally {
    stalled.close();
  }
  t.true(await eventually(() => s.open() === 0 && st.open() === 0));
  await s.close();
  await st.close();
});

test('timeouts in the config are checked', (t) => {
  t.deepEqual(checkTimeouts({ idleMs: 5000 }, 'x'), { idleMs: 5000 });
  t.is(checkTimeouts(undefined, 'x'), undefined);
  for (const bad of [{ idleMs: 0 }, { idleMs: -1 }, { idleMs: '30s' }, { idle: 5 }, [], 'fast', { connectMs: 1.5 }]) {
    t.throws(() => checkTimeouts(bad, 'config remotes.r.timeouts'), { code: 'KP_REMOTE_BAD_TIMEOUT', message: /^config remotes\.r\.timeouts: / } as never, JSON.stringify(bad));
  }
  t.deepEqual(resolveTimeouts({ idleMs: 5000 }), { connectMs: 10_000, firstByteMs: 30_000, idleMs: 5000, minBytesPerSecond: 1024 });
});

test('karapace pull from a remote that stalls fails with the limit from its config, and the store stays usable', async (t) => {
  // A ref that points at a manifest blob the remote then never sends.
  const s = await listen(createHttpServer((req, res) => {
    if (req.url?.startsWith('/v1/refs/')) {
      const body = JSON.stringify({ name: 'app', tag: 'v1', digest: HASH, updated_at: new Date(0).toISOString() });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    res.writeHead(200, { 'content-length': 4096 });
    res.write('{"format":');
  }));
  const box = sandbox('kp-remote-timeout-');
  box.write('config-home/karapace/config.json', JSON.stringify({ remotes: { slow: { url: s.url, timeouts: { idleMs: 700 } } } }));
  try {
    const started = Date.now();
    const r = await box.run(['pull', 'app@v1', '--remote', 'slow', '--json'], { env: { KARAPACE_REMOTE_TOKEN: 'tok-12345678' }, timeoutMs: 20_000 });
    const elapsed = Date.now() - started;
    t.is(r.code, 1, r.stderr);
    // --json: progress lines, then the error, on stderr.
    const error = JSON.parse(r.stderr.trim().split('\n').pop()!).error;
    t.is(error.code, 'KP_REMOTE_TIMEOUT');
    t.regex(error.message, /stalled .* for 0\.7 s \(idle timeout\)/);
    t.regex(error.hint, /remotes\.slow\.timeouts\.idleMs/);
    // The CLI's start-up included: well short of waiting forever.
    t.true(elapsed < 15_000, `${elapsed} ms`);
    // Nothing holds the store: the next command runs at once.
    t.is((await box.run(['list', '--json'])).code, 0);

    box.write('config-home/karapace/config.json', JSON.stringify({ remotes: { slow: { url: s.url, timeouts: { idleMs: 'soon' } } } }));
    const bad = await box.run(['pull', 'app@v1', '--remote', 'slow'], { timeoutMs: 20_000 });
    t.is(bad.code, 2, bad.stderr);
    t.regex(bad.stderr, /remotes\.slow\.timeouts: idleMs must be a positive whole number/);
  } finally {
    await s.close();
  }
});

test('a stalled answer nobody reads yet does not take the process down', async (t) => {
  const s = await stalling(1 << 20, 100);
  const client = new HttpRemoteClient(s.url, undefined, { timeouts: FAST });
  try {
    const { stream } = await client.getBlob(HASH);
    // The limit fires while nobody listens; reading afterwards gets the error.
    await new Promise((r) => setTimeout(r, FAST.idleMs + SLACK));
    await t.throwsAsync(drain(stream), { code: 'KP_REMOTE_TIMEOUT' } as never);
  } finally {
    client.close();
    await s.close();
  }
});
