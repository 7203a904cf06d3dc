/**
 * A server from before batch transfers: a real karapace-server behind a node:http proxy on
 * 127.0.0.1 whose /healthz names no features (as older servers answer) and which refuses the
 * batch routes. Push and pull of bundle v3 then move every blob with a request of its own,
 * and the result is the same environment.
 */
import test from 'ava';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import { mockManifest, sandbox } from '../../helpers/cli.js';
import { READ_TOKEN, WRITE_TOKEN, startTestServer, type TestServer } from './server-process.js';

let server: TestServer;
let proxy: Server;
let url: string;
const seen: string[] = [];

test.before(async () => {
  server = await startTestServer();
  const target = new URL(server.url);
  proxy = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url === '/healthz') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true,"protocol":"v1"}');
    if (req.url === '/v1/blobs/batch' || req.url === '/v1/blobs/fetch') return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"not_found","message":"no such route"}}');
    const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
});

test.after.always(async () => {
  await new Promise((resolve) => proxy?.close(resolve));
  await server?.stop();
});

test('push and pull of bundle v3 through a server without batches: a request per blob, the same environment', async (t) => {
  const src = sandbox('kp-old-server-src-');
  src.write('proj/karapace.toml', mockManifest({ image: 'mock:old-server' }));
  await src.json(['build', join(src.dir, 'proj'), '--name', 'old']);
  const wrote = await src.run(['exec', 'old', '--', 'sh', '-c', 'mkdir -p d && for i in 1 2 3 4 5; do echo $i > d/f$i; done']);
  t.is(wrote.code, 0, wrote.stderr);
  const pushed = await src.json(['push', 'old', 'old@v1', '--remote', url], { env: { KARAPACE_REMOTE_TOKEN: WRITE_TOKEN } });
  t.true(pushed.uploaded.blobs >= 6, 'the tree and the five contents, at least');
  t.false(seen.some((r) => r.startsWith('POST /v1/blobs/batch')), 'no batch was tried');
  t.true(seen.filter((r) => r.startsWith('PUT /v1/blobs/')).length >= 6);

  const dst = sandbox('kp-old-server-dst-');
  const pulled = await dst.json(['pull', 'old@v1', '--remote', url], { env: { KARAPACE_REMOTE_TOKEN: READ_TOKEN } });
  t.is(pulled.env_id, pushed.env_id);
  t.false(seen.some((r) => r.startsWith('POST /v1/blobs/fetch')), 'no batch was asked for');
  const r = await dst.run(['exec', pulled.env_id, '--', 'sh', '-c', 'cat d/f1 d/f5']);
  t.is(r.stdout, '1\n5\n');
});
