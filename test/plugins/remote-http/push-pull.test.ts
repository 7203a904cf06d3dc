/**
 * push/pull through the real CLI against a real karapace-server on 127.0.0.1, with
 * environments built by the mock backend.
 */
import test from 'ava';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mockManifest, sandbox, type Sandbox } from '../../helpers/cli.js';
import { READ_TOKEN, WRITE_TOKEN, startTestServer, type TestServer } from './server-process.js';
import { storeListing } from './store-listing.js';

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(async () => {
  await server?.stop();
});

const withToken = (token: string) => ({ env: { KARAPACE_REMOTE_TOKEN: token } });

async function builtEnv(name: string): Promise<Sandbox> {
  const box = sandbox('kp-remote-');
  box.write('proj/karapace.toml', mockManifest({ image: `mock:${name}`, packages: ['git', 'make'] }));
  await box.json(['build', join(box.dir, 'proj'), '--name', name]);
  // Something written inside the environment (its upper dir) must travel too.
  const r = await box.run(['exec', name, '--', 'sh', '-c', `printf 'state of ${name}\\n' > notes.txt`]);
  if (r.code !== 0) throw new Error(r.stderr);
  return box;
}

const READ_CMD = ['sh', '-c', 'cat var/lib/karapace-mock/packages/git var/lib/karapace-mock/packages/make notes.txt'];

test('push → pull into an empty store → exec gives the same result; a second push uploads nothing', async (t) => {
  const src = await builtEnv('alpha');
  const before = await src.run(['exec', 'alpha', '--', ...READ_CMD]);
  t.is(before.code, 0, before.stderr);

  const pushed = await src.json(['push', 'alpha', 'alpha@v1', '--remote', server.url], withToken(WRITE_TOKEN));
  t.true(pushed.uploaded.blobs >= 3);
  t.is(pushed.reference, 'alpha@v1');

  const again = await src.json(['push', 'alpha', 'alpha@v1', '--remote', server.url], withToken(WRITE_TOKEN));
  t.is(again.uploaded.blobs, 0);
  t.is(again.uploaded.bytes, 0);
  t.true(again.unchanged);
  t.is(again.digest, pushed.digest);

  const dst = sandbox('kp-remote-dst-');
  const pulled = await dst.json(['pull', 'alpha@v1', '--remote', server.url], withToken(READ_TOKEN));
  t.is(pulled.env_id, pushed.env_id);
  t.false(pulled.cached);
  const after = await dst.run(['exec', 'alpha', '--', ...READ_CMD]);
  t.is(after.code, 0, after.stderr);
  t.is(after.stdout, before.stdout);

  // The base travelled with it: its rootfs exists locally, under the puller's own store.
  const meta = await dst.json(['inspect', 'alpha']);
  t.true(meta.base.rootfs.startsWith(dst.store));
  t.true(existsSync(join(meta.base.rootfs, 'etc/os-release')));
  t.is(readFileSync(join(meta.base.rootfs, '..', 'digest'), 'utf8').trim(), meta.base.digest);

  // Pulling again is a no-op; pulling by digest names the same environment.
  const byDigest = await dst.json(['pull', `alpha@blake3:${pushed.digest}`, '--remote', server.url], withToken(READ_TOKEN));
  t.true(byDigest.cached);
});

test('a blob tampered on the server makes pull fail with an integrity error and leaves the store as it was', async (t) => {
  const src = await builtEnv('bravo');
  const pushed = await src.json(['push', 'bravo', 'bravo@v1', '--remote', server.url], withToken(WRITE_TOKEN));
  const manifest = JSON.parse(readFileSync(join(server.dir, 'data/blobs', pushed.digest.slice(0, 2), pushed.digest.slice(2)), 'utf8'));
  t.is(manifest.format, 'karapace.env.v3');
  // The upper dir went as a tree and content objects: the file's content is a blob of its
  // own, loose or in the pack of the batch it went up in (tampered in place: the pack's index stays sound).
  const blobs = join(server.dir, 'data/blobs');
  const packs = join(server.dir, 'data/packs');
  const upper = [
    ...readdirSync(blobs).flatMap((d) => readdirSync(join(blobs, d)).map((f) => join(blobs, d, f))),
    ...readdirSync(packs).filter((f) => f.endsWith('.pack')).map((f) => join(packs, f)),
  ].find((p) => readFileSync(p).includes('state of bravo') && !p.endsWith(pushed.digest.slice(2)))!;
  const bytes = readFileSync(upper);
  const at = bytes.indexOf('state of bravo');
  t.true(at >= 0);
  bytes[at] = 'X'.charCodeAt(0);
  chmodSync(upper, 0o644);
  writeFileSync(upper, bytes);

  const dst = sandbox('kp-remote-dst-');
  dst.write('other/karapace.toml', mockManifest({ image: 'mock:other' }));
  await dst.json(['build', join(dst.dir, 'other'), '--name', 'other']);
  const listing = storeListing(dst.store);

  const r = await dst.run(['pull', 'bravo@v1', '--remote', server.url, '--json'], withToken(READ_TOKEN));
  t.is(r.code, 1);
  const err = JSON.parse(r.stderr.trim().split('\n').pop()!).error;
  t.is(err.code, 'KP_REMOTE_INTEGRITY');
  t.deepEqual(storeListing(dst.store), listing);
  const list = await dst.json(['list']);
  t.deepEqual(list.environments.map((e: { name?: string }) => e.name), ['other']);
});

test('push without a token is refused (401) with a clear message; a wrong token is never printed', async (t) => {
  const src = await builtEnv('charlie');
  const r = await src.run(['push', 'charlie', '--remote', server.url]);
  t.is(r.code, 1);
  t.regex(r.stderr, /refused the request \(401\).*none was given/);
  t.regex(r.stderr, /hint: set KARAPACE_REMOTE_TOKEN/);

  const secret = 'kp-wrong-token-must-not-leak';
  const wrong = await src.run(['push', 'charlie', '--remote', server.url, '--trace', '--verbose'], withToken(secret));
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /401.*not accepted/);
  t.false(wrong.stderr.includes(secret));
  t.false(wrong.stdout.includes(secret));
  t.false(server.log().includes(secret));
  t.false(server.log().includes(WRITE_TOKEN));
});

test('a read-only token cannot push (403)', async (t) => {
  const src = await builtEnv('delta');
  const r = await src.run(['push', 'delta', 'delta@v1', '--remote', server.url, '--json'], withToken(READ_TOKEN));
  t.is(r.code, 1);
  const err = JSON.parse(r.stderr.trim().split('\n').pop()!).error;
  t.is(err.code, 'KP_REMOTE_FORBIDDEN');
  t.regex(err.message, /403/);
  const ref = await fetch(`${server.url}/v1/refs/delta/v1`, { headers: { authorization: `Bearer ${READ_TOKEN}` } });
  t.is(ref.status, 404);
});

test('concurrent pushes of two tags both survive; a stale tag update is refused', async (t) => {
  const src = await builtEnv('echo');
  const [a, b] = await Promise.all([
    src.json(['push', 'echo', 'echo@one', '--remote', server.url], withToken(WRITE_TOKEN)),
    src.json(['push', 'echo', 'echo@two', '--remote', server.url], withToken(WRITE_TOKEN)),
  ]);
  const auth = { authorization: `Bearer ${WRITE_TOKEN}` };
  const list = (await (await fetch(`${server.url}/v1/refs`, { headers: auth })).json()) as { refs: { name: string; tag: string; digest: string }[] };
  const echo = list.refs.filter((r) => r.name === 'echo').map((r) => `${r.tag}=${r.digest}`).sort();
  t.deepEqual(echo, [`one=${a.digest}`, `two=${b.digest}`]);

  // Compare-and-swap: an update naming an old digest is refused with 412.
  const stale = await fetch(`${server.url}/v1/refs/echo/one`, {
    method: 'PUT', headers: { ...auth, 'content-type': 'application/json', 'if-match': `"${'0'.repeat(64)}"` },
    body: JSON.stringify({ digest: a.digest }),
  });
  t.is(stale.status, 412);
  const create = await fetch(`${server.url}/v1/refs/echo/one`, {
    method: 'PUT', headers: { ...auth, 'content-type': 'application/json', 'if-none-match': '*' }, body: JSON.stringify({ digest: a.digest }),
  });
  t.is(create.status, 412);
  const noPrecondition = await fetch(`${server.url}/v1/refs/echo/one`, {
    method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ digest: a.digest }),
  });
  t.is(noPrecondition.status, 428);
});

test('remotes and tokens come from config', async (t) => {
  const src = await builtEnv('foxtrot');
  src.write('.karapacerc.json', JSON.stringify({ remotes: { team: { url: server.url, tokenEnv: 'TEAM_TOKEN' } }, defaultRemote: 'team' }));
  const pushed = await src.json(['push', 'foxtrot'], { env: { TEAM_TOKEN: WRITE_TOKEN } });
  t.is(pushed.reference, 'foxtrot@latest');
  const viaFlag = await src.json(['push', 'foxtrot', 'foxtrot@flag', '--token-env', 'MY_TOKEN'], { env: { MY_TOKEN: WRITE_TOKEN } });
  t.is(viaFlag.digest, pushed.digest);
  const unknown = await src.run(['push', 'foxtrot', '--remote', 'nope']);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /no remote named "nope".*\n.*team/);
});
