/**
 * karapace-server's limits, on real sockets on 127.0.0.1: connections that never send a
 * byte or sit idle are closed on time, a client holding 1,100 idle sockets does not lock
 * others out, a full server answers 503 at once, one token cannot take every upload
 * session, one blob is created once however many commit it together, and the request log
 * says what was actually sent, without throwing.
 */
import test from 'ava';
import { connect, type Socket } from 'node:net';
import { request } from 'node:http';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { hashBytes } from '@karapace/kernel';
import { startServer, tokenEntry, type RunningServer } from '../../../plugins/remote-http/dist/server/index.js';
import { HttpRemoteClient } from '../../../plugins/remote-http/dist/client.js';
import { WRITE_TOKEN, startTestServer } from './server-process.js';

const TOKEN_A = 'token-a-0123456789';
const TOKEN_B = 'token-b-0123456789';

async function serve(options: Partial<Parameters<typeof startServer>[0]> = {}): Promise<RunningServer & { log: string[] }> {
  const log: string[] = [];
  const running = await startServer({
    dir: mkdtempSync(join(tmpdir(), 'kp-srv-limits-')), port: 0,
    auth: { tokens: [tokenEntry('a', TOKEN_A, 'rw'), tokenEntry('b', TOKEN_B, 'rw')], anonymousRead: true },
    log: (line) => log.push(line), ...options,
  });
  return Object.assign(running, { log });
}

/** Raw HTTP request; resolves with status, headers and body. */
function call(url: string, method: string, path: string, headers: Record<string, string | number> = {}, body?: Buffer | string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, agent: false, headers }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/**
 * Opens `n` connections that never send a byte; each records how long it lived, from its
 * connect to its close (the client reads, so it sees the server's FIN). They are opened in
 * batches, each waiting until the server has accepted it: a connection still in the
 * kernel's accept queue when that queue overflows is completed on the client's side only,
 * and the server cannot close what it never saw.
 */
async function idleSockets(server: RunningServer, n: number): Promise<{ sockets: Socket[]; closedAfter: number[] }> {
  const sockets: Socket[] = [];
  const closedAfter: number[] = [];
  let accepted = 0;
  const count = () => accepted++;
  server.server.on('connection', count);
  try {
    for (let opened = 0; opened < n;) {
      const batch = Math.min(100, n - opened);
      await Promise.all(Array.from({ length: batch }, () => new Promise<void>((resolve) => {
        const s = connect(server.port, '127.0.0.1');
        let connected = Date.now();
        sockets.push(s);
        s.on('error', () => {});
        s.resume();
        s.once('connect', () => { connected = Date.now(); resolve(); });
        s.once('close', () => { closedAfter.push(Date.now() - connected); resolve(); });
      })));
      opened += batch;
      if (!(await until(() => accepted >= opened, 10_000))) throw new Error(`the server accepted ${accepted} of ${opened} connections in 10 s`);
    }
  } finally {
    server.server.off('connection', count);
  }
  return { sockets, closedAfter };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (check()) return true;
  return check();
}

function fdLimit(): number {
  try {
    return Number(/Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? Infinity);
  } catch {
    return Infinity;
  }
}

test.serial('a connection that never sends a byte is closed by the server after the headers timeout, even if the client never reads; a keep-alive one after its timeout', async (t) => {
  const server = await serve({ headersTimeoutMs: 600, keepAliveTimeoutMs: 500 });
  try {
    const serverClosed: number[] = [];
    const accepted = Date.now();
    server.server.on('connection', (s: Socket) => s.once('close', () => serverClosed.push(Date.now() - accepted)));
    // Never reads: it would never notice a mere FIN, so the server must close its own side.
    const silent = connect(server.port, '127.0.0.1');
    silent.on('error', () => {});
    t.true(await until(() => serverClosed.length === 1, 5000), 'the server closed the silent connection');
    t.log(`silent connection closed by the server after ${serverClosed[0]} ms (headers timeout 600 ms)`);
    t.true(serverClosed[0]! >= 550, `${serverClosed[0]} ms`);
    silent.destroy();

    const kept = connect(server.port, '127.0.0.1', () => kept.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
    let answered = 0;
    kept.on('data', () => { if (!answered) answered = Date.now(); });
    kept.on('error', () => {});
    t.true(await until(() => serverClosed.length === 2, 5000), 'the server closed the idle keep-alive connection');
    const idleFor = accepted + serverClosed[1]! - answered;
    t.log(`keep-alive connection closed ${idleFor} ms after its last answer (keep-alive timeout 500 ms; Node adds 1 s)`);
    t.true(idleFor >= 450 && idleFor < 500 + 1000 + 1500, `${idleFor} ms`);
    kept.destroy();
  } finally {
    await server.close();
  }
});

test.serial('1,100 idle sockets against a cap of 50: legitimate requests are served at once, never more than 50 are kept, the kept ones close after the headers timeout', async (t) => {
  t.true(fdLimit() > 2 * 1100 + 200, `this test needs more than ${2 * 1100 + 200} open files (ulimit -n), has ${fdLimit()}`);
  const server = await serve({ headersTimeoutMs: 1000, maxConnections: 50 });
  let most = 0;
  const watch = setInterval(() => { most = Math.max(most, server.connections.size); }, 5);
  let idle: Awaited<ReturnType<typeof idleSockets>> | undefined;
  try {
    idle = await idleSockets(server, 1100);
    const client = new HttpRemoteClient(server.url, TOKEN_A);
    const started = Date.now();
    const blob = randomBytes(3 << 20);
    await client.health();
    await client.putBlob(hashBytes(blob), blob.length, blob);
    let got = 0;
    for await (const c of await client.openBlob(hashBytes(blob), blob.length)) got += c.length;
    const served = Date.now() - started;
    client.close();
    t.is(got, blob.length);
    t.log(`health, a 3 MiB upload and its download took ${served} ms while 1,100 idle sockets were opened; ${server.connections.evicted} idle ones closed to make room`);
    t.true(served < 5000, `${served} ms`);
    t.true(await until(() => idle!.closedAfter.length === 1100, 20_000), `${idle.closedAfter.length} of 1100 closed`);
    const last = Math.max(...idle.closedAfter);
    t.log(`all 1,100 closed, the last ${last} ms after it connected (headers timeout 1000 ms; median ${median(idle.closedAfter)} ms); at most ${most} kept at once`);
    t.true(most <= 50, `${most} kept`);
    t.true(last < 1000 + 3000, `${last} ms`);
    t.is(server.connections.refusedCount, 0);
  } finally {
    // A socket the server did not close must not keep server.close() (and the run) waiting.
    clearInterval(watch);
    for (const s of idle?.sockets ?? []) s.destroy();
    await server.close();
  }
});

test.serial('1,100 idle sockets under the cap are all closed after the headers timeout while requests go on', async (t) => {
  t.true(fdLimit() > 2 * 1100 + 200, `this test needs more than ${2 * 1100 + 200} open files (ulimit -n), has ${fdLimit()}`);
  const server = await serve({ headersTimeoutMs: 1000, maxConnections: 2000 });
  let idle: Awaited<ReturnType<typeof idleSockets>> | undefined;
  try {
    idle = await idleSockets(server, 1100);
    const started = Date.now();
    t.is((await call(server.url, 'GET', '/healthz')).status, 200);
    t.true(Date.now() - started < 2000);
    t.true(await until(() => idle!.closedAfter.length === 1100, 20_000), `${idle.closedAfter.length} of 1100 closed`);
    const first = Math.min(...idle.closedAfter);
    const last = Math.max(...idle.closedAfter);
    t.log(`1,100 silent sockets closed ${first} to ${last} ms (median ${median(idle.closedAfter)} ms) after they connected (headers timeout 1000 ms, checked every 250 ms; client and server share this process)`);
    t.true(first >= 900, `${first} ms`);
    t.true(last < 1000 + 3000, `${last} ms`);
    t.is(server.connections.size, 0);
  } finally {
    for (const s of idle?.sockets ?? []) s.destroy();
    await server.close();
  }
});

test.serial('when every connection is inside a request, a new one gets a clean 503 at once; once one ends, requests are served again', async (t) => {
  const server = await serve({ maxConnections: 3 });
  const busy: Socket[] = [];
  try {
    // Three uploads that stall half-way: inside a request, so never closed to make room.
    for (let i = 0; i < 3; i++) {
      const s = connect(server.port, '127.0.0.1', () => s.write(`PUT /v1/blobs/${'c'.repeat(64)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN_A}\r\nContent-Length: 1000\r\n\r\nabc`));
      s.on('error', () => {});
      busy.push(s);
    }
    t.true(await until(() => server.connections.size === 3 && server.log.length === 0, 3000));
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    const refused = await call(server.url, 'GET', '/healthz');
    const took = Date.now() - started;
    t.is(refused.status, 503);
    t.is(refused.headers['retry-after'], '1');
    t.regex(JSON.parse(refused.body).error.message, /connection limit \(3, every one inside a request\)/);
    t.log(`503 after ${took} ms`);
    t.true(took < 1500, `${took} ms`);
    busy.pop()!.destroy();
    t.true(await until(() => server.connections.size === 2, 3000));
    t.is((await call(server.url, 'GET', '/healthz')).status, 200);
  } finally {
    for (const s of busy) s.destroy();
    await server.close();
  }
});

test.serial('one token may hold only so many upload sessions (429 saying so); other tokens are not affected', async (t) => {
  const server = await serve({ maxUploadsPerToken: 2 });
  try {
    const open = (token: string) => call(server.url, 'POST', '/v1/uploads', { ...bearer(token), 'content-length': 0 });
    const first = await open(TOKEN_A);
    t.is(first.status, 202);
    t.is((await open(TOKEN_A)).status, 202);
    const third = await open(TOKEN_A);
    t.is(third.status, 429);
    t.regex(JSON.parse(third.body).error.message, /token "a" already has 2 uploads in progress \(at most 2 per token\)/);
    t.is((await open(TOKEN_B)).status, 202);
    const id = JSON.parse(first.body).id as string;
    t.is((await call(server.url, 'DELETE', `/v1/uploads/${id}`, bearer(TOKEN_A))).status, 204);
    t.is((await open(TOKEN_A)).status, 202);
  } finally {
    await server.close();
  }
});

test.serial('plain blob PUTs streaming in count against the same per-token cap as upload sessions', async (t) => {
  const server = await serve({ maxUploadsPerToken: 2 });
  const stalled: Socket[] = [];
  try {
    // Two blob PUTs that stall half-way hold both of token a's slots.
    for (const fill of ['d', 'e']) {
      const s = connect(server.port, '127.0.0.1', () => s.write(`PUT /v1/blobs/${fill.repeat(64)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN_A}\r\nContent-Length: 1000\r\n\r\nabc`));
      s.on('error', () => {});
      stalled.push(s);
    }
    const blob = randomBytes(1024);
    const put = (token: string) => call(server.url, 'PUT', `/v1/blobs/${hashBytes(blob)}`, { ...bearer(token), 'content-length': blob.length }, blob);
    const refused = async () => {
      const r = await put(TOKEN_A);
      return r.status === 429 && /token "a" already has 2 uploads in progress/.test(JSON.parse(r.body).error.message);
    };
    t.true(await until(() => server.connections.size === 2, 3000));
    // Until both stalled PUTs have reached the handler, a third may still get in.
    let third = false;
    for (let i = 0; i < 50 && !(third = await refused()); i++) await new Promise((r) => setTimeout(r, 20));
    t.true(third, 'a third upload by the same token is refused while two stream in');
    t.is((await call(server.url, 'POST', '/v1/uploads', { ...bearer(TOKEN_A), 'content-length': 0 })).status, 429);
    t.is((await put(TOKEN_B)).status, 201, 'another token is not affected');
    for (const s of stalled.splice(0)) s.destroy();
    t.true(await until(() => server.connections.size === 0, 3000));
    const again = await put(TOKEN_A);
    t.is(again.status, 200, 'the slots are given back when the stalled uploads end');
  } finally {
    for (const s of stalled) s.destroy();
    await server.close();
  }
});

test.serial('several clients committing the same blob at once: exactly one created: true', async (t) => {
  const server = await serve();
  try {
    const body = randomBytes(256 << 10);
    const hash = hashBytes(body);
    // Eight upload sessions with the same bytes, committed together.
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const opened = await call(server.url, 'POST', '/v1/uploads', { ...bearer(TOKEN_A), 'content-length': 0 });
      const id = JSON.parse(opened.body).id as string;
      t.is((await call(server.url, 'PATCH', `/v1/uploads/${id}`, bearer(TOKEN_A), body)).status, 202);
      ids.push(id);
    }
    const commits = await Promise.all(ids.map((id) => call(server.url, 'PUT', `/v1/uploads/${id}?digest=${hash}`, { ...bearer(TOKEN_A), 'content-length': 0 })));
    t.deepEqual(commits.map((c) => c.status).sort(), [200, 200, 200, 200, 200, 200, 200, 201]);
    t.is(commits.filter((c) => JSON.parse(c.body).created === true).length, 1);

    // The same with direct PUTs of another blob.
    const other = randomBytes(256 << 10);
    const puts = await Promise.all(Array.from({ length: 8 }, () => call(server.url, 'PUT', `/v1/blobs/${hashBytes(other)}`, { ...bearer(TOKEN_A), 'content-length': other.length }, other)));
    t.is(puts.filter((p) => p.status === 201).length, 1, puts.map((p) => p.status).join(' '));
    t.is(puts.filter((p) => JSON.parse(p.body).created === true).length, 1);

    // One session committed twice at once: one commit, the other finds no session.
    const opened = await call(server.url, 'POST', '/v1/uploads', { ...bearer(TOKEN_A), 'content-length': 0 });
    const id = JSON.parse(opened.body).id as string;
    const third = randomBytes(1000);
    await call(server.url, 'PATCH', `/v1/uploads/${id}`, bearer(TOKEN_A), third);
    const twice = await Promise.all([0, 1].map(() => call(server.url, 'PUT', `/v1/uploads/${id}?digest=${hashBytes(third)}`, { ...bearer(TOKEN_A), 'content-length': 0 })));
    t.deepEqual(twice.map((c) => c.status).sort(), [201, 404]);
  } finally {
    await server.close();
  }
});

test.serial('the request log of karapace-server: an aborted upload is logged as aborted, an early 413 does not throw, each request has exactly one line', async (t) => {
  const server = await startTestServer(['--max-body', '4096']);
  try {
    const lines = () => server.log().trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    // An upload whose client goes away half-way.
    await new Promise<void>((resolve) => {
      const s = connect(Number(new URL(server.url).port), '127.0.0.1', () => {
        s.write(`PUT /v1/blobs/${'d'.repeat(64)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${WRITE_TOKEN}\r\nContent-Length: 3000\r\n\r\nabc`);
        setTimeout(() => { s.destroy(); resolve(); }, 300);
      });
      s.on('error', () => {});
    });
    t.true(await until(() => lines().some((l) => l.path === `/v1/blobs/${'d'.repeat(64)}`), 5000));
    const aborted = lines().filter((l) => l.path === `/v1/blobs/${'d'.repeat(64)}`);
    t.is(aborted.length, 1);
    t.is(aborted[0]!.status, 'aborted');
    t.is(aborted[0]!.aborted, true);

    // Bodies refused early while they are still arriving: JSON (streamed), a blob, an upload.
    const big = Buffer.alloc(2 << 20, 32);
    const refusals = [
      ['POST', '/v1/blobs/missing'],
      ['PUT', `/v1/blobs/${'e'.repeat(64)}`],
      ['PUT', '/v1/refs/app/v1'],
    ] as const;
    for (const [method, path] of refusals) {
      const r = await call(server.url, method, path, { ...bearer(WRITE_TOKEN), 'transfer-encoding': 'chunked', 'if-none-match': '*' }, big).catch((err: NodeJS.ErrnoException) => ({ status: err.code }));
      // The answer is 413; a client still sending may see its connection reset instead.
      t.true(r.status === 413 || r.status === 'ECONNRESET' || r.status === 'EPIPE', `${method} ${path}: ${r.status}`);
    }
    t.is((await call(server.url, 'GET', '/healthz')).status, 200);
    await new Promise((r) => setTimeout(r, 300));
    const all = lines();
    t.deepEqual(all.filter((l) => 'error' in l && !('status' in l)), [], 'no exception was logged');
    for (const [method, path] of refusals) {
      const mine = all.filter((l) => l.method === method && l.path === path);
      t.is(mine.length, 1, `${method} ${path}`);
      t.is(mine[0]!.status, 413, `${method} ${path}`);
    }
    t.false(all.some((l) => l.status === 200 && l.aborted), 'nothing aborted is logged as 200');
    t.is(server.child.exitCode, null);
  } finally {
    await server.stop();
  }
});
