/**
 * Push and pull of layers whose content objects lie in packs (issue 18: a full-tree commit
 * writes one pack): on a real karapace-server on 127.0.0.1, a push uploads packed objects
 * from their ranges of the pack (small ones in batches, a large one streamed), a pull into
 * an empty store gives back the same files, and a second env with the same files and one
 * more moves only that one.
 */
import test from 'ava';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { hashBytes } from '@karapace/kernel';
import { mockManifest, sandbox, type Sandbox } from '../../helpers/cli.js';
import { READ_TOKEN, WRITE_TOKEN, startTestServer, type TestServer } from './server-process.js';

const write = { env: { KARAPACE_REMOTE_TOKEN: WRITE_TOKEN } };
const read = { env: { KARAPACE_REMOTE_TOKEN: READ_TOKEN } };

let server: TestServer;
const boxes: Sandbox[] = [];

test.before(async () => {
  server = await startTestServer();
});

test.after.always(async () => {
  await server?.stop();
  for (const b of boxes) rmSync(b.dir, { recursive: true, force: true });
});

function box(prefix: string): Sandbox {
  const b = sandbox(prefix);
  boxes.push(b);
  return b;
}

async function sh(b: Sandbox, env: string, script: string): Promise<string> {
  const r = await b.run(['exec', env, '--', 'sh', '-c', script]);
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout;
}

const packsOf = (b: Sandbox) => readdirSync(join(b.store, 'store', 'packs')).filter((n) => n.endsWith('.pack'));

test('packed objects are pushed from their packs and pulled back whole; a second env with one more file moves only it', async (t) => {
  const src = box('kp-packed-src-');
  src.write('alpha/karapace.toml', mockManifest({ image: 'mock:packed' }));
  await src.json(['build', join(src.dir, 'alpha'), '--name', 'alpha']);
  // 300 small files and a large one (streamed, not batched): more than a pack's threshold.
  await sh(src, 'alpha', 'mkdir -p many && for i in $(seq 1 300); do printf "file %s %0900d" $i $i > many/f$i; done && head -c 3145728 /dev/urandom > big.bin');
  await src.json(['commit', 'alpha']);
  t.is(packsOf(src).length, 1, 'the commit wrote one pack');
  const digest = (b: Sandbox, env: string) => sh(b, env, 'cat many/* big.bin | sha256sum');
  const want = await digest(src, 'alpha');
  const v1 = await src.json(['push', 'alpha', 'alpha@v1', '--remote', server.url], write);
  t.true(v1.uploaded.bytes > 3145728 + 300 * 900);

  const dst = box('kp-packed-dst-');
  const pulled = await dst.json(['pull', 'alpha@v1', '--remote', server.url], read);
  t.is(pulled.env_id, v1.env_id);
  t.is(await digest(dst, pulled.env_id), want);
  t.true(JSON.parse((await dst.run(['verify-store', '--json'])).stdout).ok);

  // A second env with the same files and one more: its push and pull move about that one.
  src.write('beta/karapace.toml', mockManifest({ image: 'mock:packed', packages: ['git'] }));
  await src.json(['build', join(src.dir, 'beta'), '--name', 'beta']);
  const upperA = join(src.store, 'env', v1.env_id, 'upper');
  await sh(src, 'beta', `cp -r ${upperA}/many ${upperA}/big.bin . && printf beta > own.txt`);
  await src.json(['commit', 'beta']);
  const beta = await src.json(['push', 'beta', 'beta@v1', '--remote', server.url], write);
  t.true(beta.uploaded.bytes < 64 * 1024, `second env uploaded ${beta.uploaded.bytes} bytes`);
  const second = await dst.json(['pull', 'beta@v1', '--remote', server.url], read);
  // Its trees (300 entries each) and its packages layer; not the 3.4 MB of contents dst has.
  t.true(second.bytes < 256 * 1024, `second env downloaded ${second.bytes} bytes`);
  t.is(await digest(dst, second.env_id), want);
  t.is(await sh(dst, second.env_id, 'cat own.txt'), 'beta');
  t.is(hashBytes(readFileSync(join(upperA, 'big.bin'))), hashBytes(Buffer.from(await sh(dst, second.env_id, 'base64 -w0 big.bin'), 'base64')));
  t.is((await dst.run(['restore', second.env_id, '1'])).code, 0);
  t.is(await digest(dst, second.env_id), want);
  t.true(JSON.parse((await dst.run(['verify-store', '--json'])).stdout).ok);
});
