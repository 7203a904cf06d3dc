/**
 * karapace-server under hostile input: malformed paths, oversized bodies, slow clients,
 * garbage JSON and wrong hashes all get 4xx, and the server keeps serving.
 */
import test from 'ava';
import { connect } from 'node:net';
import { request } from 'node:http';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashBytes } from '@karapace/kernel';
import { READ_TOKEN, SERVER_BIN, WRITE_TOKEN, startTestServer, type TestServer } from './server-process.js';

let server: TestServer;
test.before(async () => {
  server = await startTestServer(['--max-body', '4096', '--headers-timeout', '1000', '--idle-timeout', '1500']);
});
test.after.always(async () => {
  await server?.stop();
});

const auth = { authorization: `Bearer ${WRITE_TOKEN}` };

/** A raw request with the path exactly as given (no URL normalisation). */
function raw(method: string, path: string, headers: Record<string, string | number> = {}, body?: Buffer | string): Promise<{ status: number; body: string }> {
  return rawTo(server, method, path, headers, body);
}

function rawTo(srv: TestServer, method: string, path: string, headers: Record<string, string | number> = {}, body?: Buffer | string): Promise<{ status: number; body: string }> {
  const u = new URL(srv.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers: { ...auth, ...headers } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function healthy(t: { is: (a: unknown, b: unknown) => void }) {
  const r = await fetch(`${server.url}/healthz`);
  t.is(r.status, 200);
  t.is(server.child.exitCode, null);
}

test('malformed paths get 4xx', async (t) => {
  for (const path of [
    '/v1/blobs/../../../etc/passwd',
    '/v1/blobs/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/v1/blobs/..%2f..%2ftokens.json',
    '/v1/blobs/not-a-hash',
    `/v1/blobs/${'A'.repeat(64)}`,
    '/v1/refs/..%2f..%2fx/latest',
    '/v1/refs/Bad%20Name/latest',
    '/v1/refs/UPPER/latest',
    '/v1/refs/ok/..',
    '/v1/blobs/%zz',
    '/v1/nothing-here',
  ]) {
    const r = await raw('GET', path);
    t.true(r.status >= 400 && r.status < 500, `${path} → ${r.status}`);
  }
  t.false(existsSync(join(server.dir, 'etc')));
  await healthy(t);
});

test('bodies over the limit get 413; a body that does not match its hash gets 400 and is not kept', async (t) => {
  const big = Buffer.alloc(8192, 7);
  const r = await raw('PUT', `/v1/blobs/${hashBytes(big)}`, { 'content-length': big.length }, big);
  t.is(r.status, 413);
  // Chunked (no Content-Length): cut off while streaming.
  const chunked = await raw('PUT', `/v1/blobs/${hashBytes(big)}`, { 'transfer-encoding': 'chunked' }, big);
  t.is(chunked.status, 413);
  // Far over the limit: the client is still writing when the answer comes, and must read
  // the answer rather than have its connection reset under it (EPIPE).
  const huge = Buffer.alloc(3 << 20, 7);
  for (let i = 0; i < 5; i++) {
    const r = await raw('PUT', `/v1/blobs/${hashBytes(huge)}`, { 'content-length': huge.length }, huge);
    t.is(r.status, 413);
    t.regex(r.body, /too_large/);
  }
  const json = await raw('POST', '/v1/blobs/missing', { 'content-type': 'application/json' }, JSON.stringify({ hashes: [], pad: 'x'.repeat(2 << 20) }));
  t.is(json.status, 413);

  const data = Buffer.from('hello remote');
  const wrong = hashBytes('something else');
  const mismatch = await raw('PUT', `/v1/blobs/${wrong}`, { 'content-length': data.length }, data);
  t.is(mismatch.status, 400);
  t.regex(mismatch.body, /hash mismatch/);
  t.is((await raw('HEAD', `/v1/blobs/${wrong}`)).status, 404);
  const ok = await raw('PUT', `/v1/blobs/${hashBytes(data)}`, { 'content-length': data.length }, data);
  t.is(ok.status, 201);
  await healthy(t);
});

test('garbage JSON gets 400', async (t) => {
  for (const body of ['{nope', '[]', '{"hashes": "x"}', '{"hashes": ["../etc"]}', '']) {
    const r = await raw('POST', '/v1/blobs/missing', { 'content-type': 'application/json' }, body);
    t.is(r.status, 400, body);
  }
  const ref = await raw('PUT', '/v1/refs/app/v1', { 'content-type': 'application/json', 'if-none-match': '*' }, '{"digest": 42');
  t.is(ref.status, 400);
  const badDigest = await raw('PUT', '/v1/refs/app/v1', { 'content-type': 'application/json', 'if-none-match': '*' }, '{"digest": "../x"}');
  t.is(badDigest.status, 400);
  await healthy(t);
});

test('a slow client (headers never finished) gets 408 and the server keeps serving', async (t) => {
  const u = new URL(server.url);
  const answer = await new Promise<string>((resolve) => {
    const socket = connect(Number(u.port), u.hostname, () => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'));
    let text = '';
    socket.on('data', (c) => (text += c));
    socket.on('close', () => resolve(text));
    socket.on('error', () => resolve(text));
  });
  t.regex(answer, /^HTTP\/1\.1 408/);
  // A body that stalls half-way is cut off by the idle timeout.
  const stalled = await new Promise<boolean>((resolve) => {
    const socket = connect(Number(u.port), u.hostname, () => socket.write(`PUT /v1/blobs/${'a'.repeat(64)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${WRITE_TOKEN}\r\nContent-Length: 1000\r\n\r\nabc`));
    socket.on('close', () => resolve(true));
    socket.on('error', () => resolve(true));
  });
  t.true(stalled);
  t.is(existsSync(join(server.dir, 'data/blobs/aa')), false);
  await healthy(t);
});

test('the request log has a line per request and names tokens, never their secrets', async (t) => {
  await fetch(`${server.url}/v1/refs`, { headers: auth });
  // The line is written when the response closes, which may be just after the client has it.
  const logged = () => server.log().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    .some((l) => l.path === '/v1/refs' && l.who === 'writer' && l.status === 200);
  for (let i = 0; i < 40 && !logged(); i++) await new Promise((r) => setTimeout(r, 50));
  t.true(logged());
  t.false(server.log().includes(WRITE_TOKEN));
  const unauth = await fetch(`${server.url}/v1/refs`);
  t.is(unauth.status, 401);
  t.regex(unauth.headers.get('www-authenticate') ?? '', /^Bearer/);
});

test('upload sessions: bytes sent before their hash is known are kept only under the right digest', async (t) => {
  const body = Buffer.from('streamed bytes whose hash is only known at the end');
  const hash = hashBytes(body);
  const open = async () => {
    const r = await raw('POST', '/v1/uploads', { 'content-length': 0 });
    t.is(r.status, 202);
    return JSON.parse(r.body).id as string;
  };
  // Wrong digest: refused, nothing kept, the session is gone.
  const bad = await open();
  t.is((await raw('PATCH', `/v1/uploads/${bad}`, {}, body)).status, 202);
  t.is((await raw('PUT', `/v1/uploads/${bad}?digest=${'0'.repeat(64)}`, { 'content-length': 0 })).status, 400);
  t.false(existsSync(join(server.dir, 'data/blobs', hash.slice(0, 2), hash.slice(2))));
  t.is((await raw('PUT', `/v1/uploads/${bad}?digest=${hash}`, { 'content-length': 0 })).status, 404);

  // Two PATCHes, then the right digest: stored under it.
  const good = await open();
  t.is(JSON.parse((await raw('PATCH', `/v1/uploads/${good}`, {}, body.subarray(0, 10))).body).size, 10);
  t.is(JSON.parse((await raw('PATCH', `/v1/uploads/${good}`, {}, body.subarray(10))).body).size, body.length);
  const done = await raw('PUT', `/v1/uploads/${good}?digest=${hash}`, { 'content-length': 0 });
  t.is(done.status, 201);
  t.deepEqual(JSON.parse(done.body), { hash, size: body.length, created: true });
  const got = await raw('GET', `/v1/blobs/${hash}`);
  t.is(got.body, body.toString());

  // Over the size limit (4096 here), malformed ids, and a read-only token: 4xx.
  const big = await open();
  t.is((await raw('PATCH', `/v1/uploads/${big}`, {}, Buffer.alloc(5000))).status, 413);
  t.is((await raw('PATCH', '/v1/uploads/..%2f..%2fblobs', {}, body)).status, 400);
  t.is((await raw('PATCH', `/v1/uploads/${'f'.repeat(32)}`, {}, body)).status, 404);
  t.is((await raw('POST', '/v1/uploads', { authorization: `Bearer ${READ_TOKEN}`, 'content-length': 0 })).status, 403);
  await healthy(t);
});

test('batches: /healthz offers them; a batch upload keeps nothing when one record does not match its name; a fetch answers records in order or 404', async (t) => {
  const health = (await (await fetch(`${server.url}/healthz`)).json()) as { features?: string[] };
  t.deepEqual(health.features, ['batch']);
  const record = (hash: string, bytes: string) => `${hash} ${Buffer.byteLength(bytes)}\n${bytes}`;
  const a = 'batch blob a';
  const b = 'batch blob b';
  const stored = async (h: string) => (await raw('HEAD', `/v1/blobs/${h}`)).status === 200;

  const lying = await raw('POST', '/v1/blobs/batch', { 'content-type': 'application/octet-stream' }, record(hashBytes(a), a) + record(hashBytes(b), 'not b'));
  t.is(lying.status, 400, lying.body);
  t.regex(lying.body, /digest_mismatch/);
  t.false(await stored(hashBytes(a)), 'nothing of a refused batch is kept');

  for (const body of ['garbage', `${hashBytes(a)} 999\n${a}`, `${hashBytes(a)} -1\n`]) {
    t.is((await raw('POST', '/v1/blobs/batch', {}, body)).status, 400, body);
  }
  const readOnly = await raw('POST', '/v1/blobs/batch', { authorization: `Bearer ${READ_TOKEN}` }, record(hashBytes(a), a));
  t.is(readOnly.status, 403);
  t.is((await raw('POST', '/v1/blobs/batch', {}, 'x'.repeat(5000))).status, 413);

  const ok = await raw('POST', '/v1/blobs/batch', {}, record(hashBytes(a), a) + record(hashBytes(b), b) + record(hashBytes(a), a));
  t.is(ok.status, 200, ok.body);
  t.deepEqual(JSON.parse(ok.body), { stored: 3, created: 2 });
  t.true((await stored(hashBytes(a))) && (await stored(hashBytes(b))));

  const fetched = await raw('POST', '/v1/blobs/fetch', { 'content-type': 'application/json' }, JSON.stringify({ hashes: [hashBytes(b), hashBytes(a)] }));
  t.is(fetched.status, 200);
  t.is(fetched.body, record(hashBytes(b), b) + record(hashBytes(a), a));
  const unknown = await raw('POST', '/v1/blobs/fetch', {}, JSON.stringify({ hashes: [hashBytes(a), hashBytes('nowhere')] }));
  t.is(unknown.status, 404);
  t.is((await raw('POST', '/v1/blobs/fetch', {}, JSON.stringify({ hashes: ['nothash'] }))).status, 400);
  await healthy(t);
});

const record = (hash: string, bytes: string | Buffer) => Buffer.concat([Buffer.from(`${hash} ${Buffer.byteLength(bytes)}\n`), Buffer.from(bytes)]);
const packsOf = (dir: string) => readdirSync(join(dir, 'data', 'packs')).filter((n) => n.endsWith('.pack'));

test('a batch is stored as one pack: GET, HEAD, fetch and missing serve it beside loose blobs, and it survives a restart', async (t) => {
  const own = await startTestServer();
  t.teardown(() => own.stop());
  const rawOn = (srv: TestServer, method: string, path: string, body?: Buffer | string) => rawTo(srv, method, path, {}, body);
  const blobs = Array.from({ length: 300 }, (_, i) => Buffer.from(`packed blob ${i}`));
  blobs.push(Buffer.alloc(0));
  const hashes = blobs.map((b) => hashBytes(b));
  const up = await rawOn(own, 'POST', '/v1/blobs/batch', Buffer.concat(blobs.map((b, i) => record(hashes[i]!, b))));
  t.is(up.status, 200, up.body);
  t.deepEqual(JSON.parse(up.body), { stored: 301, created: 301 });
  t.is(packsOf(own.dir).length, 1, 'one pack for the batch');
  t.deepEqual(readdirSync(join(own.dir, 'data', 'blobs')), [], 'no file per blob');
  const loose = Buffer.from('a loose blob');
  t.is((await rawOn(own, 'PUT', `/v1/blobs/${hashBytes(loose)}`, loose)).status, 201);

  const check = async (srv: TestServer) => {
    for (const i of [0, 150, 299, 300]) {
      const got = await rawOn(srv, 'GET', `/v1/blobs/${hashes[i]}`);
      t.is(got.status, 200);
      t.is(got.body, blobs[i]!.toString());
    }
    const asked = [hashes[7]!, hashBytes(loose), hashes[300]!, hashes[7]!];
    const fetched = await rawOn(srv, 'POST', '/v1/blobs/fetch', JSON.stringify({ hashes: asked }));
    t.is(fetched.status, 200);
    t.is(fetched.body, Buffer.concat([record(hashes[7]!, blobs[7]!), record(hashBytes(loose), loose), record(hashes[300]!, ''), record(hashes[7]!, blobs[7]!)]).toString());
    const missing = await rawOn(srv, 'POST', '/v1/blobs/missing', JSON.stringify({ hashes: [hashes[1], hashBytes(loose), hashBytes('nowhere')] }));
    t.deepEqual(JSON.parse(missing.body), { missing: [hashBytes('nowhere')] });
  };
  await check(own);
  // Sent again (with one new blob): only the new one is stored, in a pack of its own.
  const again = await rawOn(own, 'POST', '/v1/blobs/batch', Buffer.concat([record(hashes[5]!, blobs[5]!), record(hashBytes('new'), 'new')]));
  t.deepEqual(JSON.parse(again.body), { stored: 2, created: 1 });
  t.is(packsOf(own.dir).length, 2);
  t.is((await rawOn(own, 'POST', '/v1/blobs/batch', record(hashes[5]!, blobs[5]!))).body.trim(), '{"stored":1,"created":0}');
  t.is(packsOf(own.dir).length, 2, 'nothing new: no pack');

  await own.stop();
  const again2 = await startTestServer([], own.dir);
  t.teardown(() => again2.stop());
  await check(again2);
  const verify = spawnSync(process.execPath, [SERVER_BIN, '--dir', join(own.dir, 'data'), '--verify'], { encoding: 'utf8' });
  t.is(verify.status, 0, verify.stdout + verify.stderr);
  t.regex(verify.stdout, /^303 blobs checked, 0 bad$/m);
});

/**
 * A pack file (the store's format: kernel/src/store/packs.ts) as an attacker with the disk,
 * or a torn write, might leave it: entries as given (offsets into `data`), index hash and
 * name made to match.
 */
function craftPack(dir: string, data: Buffer, entries: { hash: string; offset: number; length: number }[]): string {
  const header = Buffer.from('KPPACK1\n');
  const index = Buffer.alloc(entries.length * 48);
  entries.forEach((e, i) => {
    index.write(e.hash, i * 48, 32, 'hex');
    index.writeBigUInt64BE(BigInt(header.length + e.offset), i * 48 + 32);
    index.writeBigUInt64BE(BigInt(e.length), i * 48 + 40);
  });
  const id = hashBytes(index);
  const trailer = Buffer.alloc(24);
  trailer.writeBigUInt64BE(BigInt(entries.length), 0);
  trailer.writeBigUInt64BE(BigInt(header.length + data.length), 8);
  trailer.write('KPINDEX\n', 16, 'latin1');
  writeFileSync(join(dir, 'data', 'packs', `${id}.pack`), Buffer.concat([header, data, index, trailer]));
  return id;
}

test('hostile packs on disk (lying sizes, overlapping ranges, duplicate hashes, truncated, bad checksum) are refused at start and their blobs are missing; a pack whose bytes lie is caught by --verify', async (t) => {
  const first = await startTestServer();
  await first.stop();
  const dir = first.dir;
  const [a, b] = ['hostile a', 'hostile b'].map((x) => Buffer.from(x));
  const [ha, hb] = [hashBytes(a!), hashBytes(b!)].sort() as [string, string];
  const byHash = new Map([[hashBytes(a!), a!], [hashBytes(b!), b!]]);
  const data = Buffer.concat([byHash.get(ha)!, byHash.get(hb)!]);
  const la = byHash.get(ha)!.length;
  const bad = [
    craftPack(dir, data, [{ hash: ha, offset: 0, length: la }, { hash: hb, offset: la, length: 100 }]), // lying size
    craftPack(dir, data, [{ hash: ha, offset: 0, length: la + 2 }, { hash: hb, offset: la, length: data.length - la }]), // overlapping
    craftPack(dir, Buffer.concat([data, data]), [{ hash: ha, offset: 0, length: la }, { hash: ha, offset: la, length: data.length - la }]), // duplicate hash
    craftPack(dir, data, [{ hash: hb, offset: la, length: data.length - la }, { hash: ha, offset: 0, length: la }]), // not sorted
    craftPack(dir, data, [{ hash: ha, offset: 0, length: la }]), // data unaccounted for
  ];
  // A well-formed pack under another name: its checksum does not name it.
  const renamed = craftPack(dir, data, [{ hash: ha, offset: 0, length: la }, { hash: hb, offset: la, length: data.length - la }]);
  const other = hashBytes('other name');
  writeFileSync(join(dir, 'data', 'packs', `${other}.pack`), readFileSync(join(dir, 'data', 'packs', `${renamed}.pack`)));
  rmSync(join(dir, 'data', 'packs', `${renamed}.pack`));
  bad.push(other);
  // The same pack cut short.
  const truncated = craftPack(dir, data, [{ hash: ha, offset: 0, length: la }, { hash: hb, offset: la, length: data.length - la }]);
  const full = readFileSync(join(dir, 'data', 'packs', `${truncated}.pack`));
  writeFileSync(join(dir, 'data', 'packs', `${truncated}.pack`), full.subarray(0, full.length - 10));
  bad.push(truncated);

  const srv = await startTestServer([], dir);
  t.teardown(() => srv.stop());
  const missing = await rawTo(srv, 'POST', '/v1/blobs/missing', {}, JSON.stringify({ hashes: [ha, hb] }));
  t.deepEqual(JSON.parse(missing.body).missing.sort(), [ha, hb]);
  t.is((await rawTo(srv, 'GET', `/v1/blobs/${ha}`)).status, 404);
  t.deepEqual(packsOf(dir), []);
  t.deepEqual(readdirSync(join(dir, 'data', 'packs', 'bad')).sort(), bad.map((id) => `${id}.pack`).sort());
  t.is(srv.log().match(/refused at start/g)?.length, bad.length, srv.log());
  // They can be sent again.
  const up = await rawTo(srv, 'POST', '/v1/blobs/batch', {}, Buffer.concat([record(ha, byHash.get(ha)!), record(hb, byHash.get(hb)!)]));
  t.deepEqual(JSON.parse(up.body), { stored: 2, created: 2 });
  t.is((await rawTo(srv, 'GET', `/v1/blobs/${hb}`)).body, byHash.get(hb)!.toString());
  await srv.stop();

  // Bytes flipped under a sound index: served as they are (the client checks every blob), reported by --verify.
  const [packed] = packsOf(dir);
  const path = join(dir, 'data', 'packs', packed!);
  const bytes = readFileSync(path);
  bytes[8] ^= 1; // the first blob's first byte, past the pack header
  writeFileSync(path, bytes);
  const verify = spawnSync(process.execPath, [SERVER_BIN, '--dir', join(dir, 'data'), '--verify'], { encoding: 'utf8' });
  t.is(verify.status, 1);
  t.regex(verify.stdout, /^bad: packed [0-9a-f]{64} \(pack [0-9a-f]{64}\) hashes to/m);
  t.regex(verify.stdout, /2 blobs checked, 1 bad/);
});

test('hostile batch uploads: lying sizes, a truncated body and duplicate hashes with other bytes keep nothing, no pack and no temporary file', async (t) => {
  const own = await startTestServer();
  t.teardown(() => own.stop());
  const a = Buffer.from('dup a');
  const ha = hashBytes(a);
  const bodies: [string, Buffer][] = [
    ['size larger than the rest', Buffer.concat([record(ha, a), Buffer.from(`${hashBytes('x')} 50\nx`)])],
    ['size smaller than the bytes', Buffer.concat([Buffer.from(`${ha} 3\n`), a])],
    ['duplicate hash, other bytes', Buffer.concat([record(ha, a), record(ha, 'not a')])],
    ['size over 2^53', Buffer.from(`${ha} 9999999999999999\n`)],
  ];
  for (const [what, body] of bodies) {
    const r = await rawTo(own, 'POST', '/v1/blobs/batch', {}, body);
    t.is(r.status, 400, what);
  }
  // Truncated: Content-Length promises more than is sent, then the client goes away.
  const u = new URL(own.url);
  await new Promise<void>((resolve) => {
    const sock = connect(Number(u.port), u.hostname, () => {
      const part = record(ha, a);
      sock.write(`POST /v1/blobs/batch HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${WRITE_TOKEN}\r\nContent-Length: ${part.length + 1000}\r\n\r\n`);
      sock.write(part, () => setTimeout(() => { sock.destroy(); resolve(); }, 200));
    });
    sock.on('error', () => resolve());
  });
  await new Promise((r) => setTimeout(r, 200));
  t.is((await rawTo(own, 'HEAD', `/v1/blobs/${ha}`)).status, 404);
  t.deepEqual(packsOf(own.dir), []);
  t.deepEqual(readdirSync(join(own.dir, 'data', 'tmp')), []);
  // The same blob twice with the same bytes is one blob.
  const twice = await rawTo(own, 'POST', '/v1/blobs/batch', {}, Buffer.concat([record(ha, a), record(ha, a)]));
  t.deepEqual(JSON.parse(twice.body), { stored: 2, created: 1 });
  t.is((await rawTo(own, 'GET', `/v1/blobs/${ha}`)).body, 'dup a');
  t.is(own.child.exitCode, null);
});

test('batches stored at once share their directory fsyncs and are all there after a restart', async (t) => {
  const own = await startTestServer();
  t.teardown(() => own.stop());
  const groups = Array.from({ length: 8 }, (_, g) => Array.from({ length: 50 }, (_, i) => Buffer.from(`group ${g} blob ${i}`)));
  const answers = await Promise.all(groups.map((blobs) => rawTo(own, 'POST', '/v1/blobs/batch', {}, Buffer.concat(blobs.map((b) => record(hashBytes(b), b))))));
  for (const a of answers) t.deepEqual(JSON.parse(a.body), { stored: 50, created: 50 });
  t.is(packsOf(own.dir).length, 8);
  await own.stop();
  const again = await startTestServer([], own.dir);
  t.teardown(() => again.stop());
  const all = groups.flat();
  const missing = await rawTo(again, 'POST', '/v1/blobs/missing', {}, JSON.stringify({ hashes: all.map((b) => hashBytes(b)) }));
  t.deepEqual(JSON.parse(missing.body), { missing: [] });
  const fetched = await rawTo(again, 'POST', '/v1/blobs/fetch', {}, JSON.stringify({ hashes: [hashBytes(all[399]!), hashBytes(all[0]!)] }));
  t.is(fetched.body, Buffer.concat([record(hashBytes(all[399]!), all[399]!), record(hashBytes(all[0]!), all[0]!)]).toString());
});
