/**
 * push/pull beyond the first transfer: a changed environment sends only its upper dir,
 * snapshots travel and can be restored after a pull, and a pull killed at any step is
 * rolled back by the next command (real CLI, real karapace-server on 127.0.0.1).
 */
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { mockManifest, sandbox, type Sandbox } from '../../helpers/cli.js';
import { READ_TOKEN, WRITE_TOKEN, startTestServer, type TestServer } from './server-process.js';

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(async () => {
  await server?.stop();
});

const writer = { env: { KARAPACE_REMOTE_TOKEN: WRITE_TOKEN } };
const reader = { env: { KARAPACE_REMOTE_TOKEN: READ_TOKEN } };

async function sh(box: Sandbox, env: string, script: string): Promise<string> {
  const r = await box.run(['exec', env, '--', 'sh', '-c', script]);
  if (r.code !== 0) throw new Error(`exec ${script}: ${r.stderr}`);
  return r.stdout;
}

async function built(name: string): Promise<Sandbox> {
  const box = sandbox('kp-remote-life-');
  box.write('proj/karapace.toml', mockManifest({ image: `mock:${name}`, packages: ['git'] }));
  await box.json(['build', join(box.dir, 'proj'), '--name', name]);
  return box;
}

test('a changed environment pushes only its new upper dir; the pull sees the change', async (t) => {
  const src = await built('golf');
  await sh(src, 'golf', 'printf one > state.txt');
  const first = await src.json(['push', 'golf', 'golf@v1', '--remote', server.url], writer);
  await sh(src, 'golf', 'printf two > state.txt && mkdir -p more && printf x > more/file');
  const second = await src.json(['push', 'golf', 'golf@v2', '--remote', server.url], writer);
  // The upper dir's tree, its two new file contents and the manifest; the base is already there.
  t.is(second.uploaded.blobs, 4);
  t.true(second.skipped.blobs >= 1);
  t.not(second.digest, first.digest);
  const third = await src.json(['push', 'golf', 'golf@v2', '--remote', server.url], writer);
  t.is(third.uploaded.blobs, 0);
  t.true(third.unchanged);

  const dst = sandbox('kp-remote-life-dst-');
  await dst.json(['pull', 'golf@v2', '--remote', server.url], reader);
  t.is(await sh(dst, 'golf', 'cat state.txt more/file'), 'twox');
});

test('snapshots travel with the environment and can be restored after a pull', async (t) => {
  const src = await built('hotel');
  await sh(src, 'hotel', 'printf snapshot-one > version.txt');
  const committed = await src.json(['commit', 'hotel', '-m', 'first']);
  await sh(src, 'hotel', 'printf after-snapshot > version.txt && printf new > extra.txt');
  await src.json(['push', 'hotel', 'hotel@v1', '--remote', server.url], writer);

  const dst = sandbox('kp-remote-life-dst-');
  await dst.json(['pull', 'hotel@v1', '--remote', server.url], reader);
  t.is(await sh(dst, 'hotel', 'cat version.txt'), 'after-snapshot');
  const snaps = await dst.json(['snapshots', 'hotel']);
  const list = (snaps.snapshots ?? snaps) as { layer: string; message?: string }[];
  t.is(list.length, 1);
  t.is(list[0]!.layer, committed.layer.hash);
  const restored = await dst.json(['restore', 'hotel']);
  t.is(restored.restored.layer, committed.layer.hash);
  t.is(await sh(dst, 'hotel', 'cat version.txt'), 'snapshot-one');
  t.false(existsSync(join(dst.store, 'env', restored.env_id, 'upper', 'extra.txt')));
  const verified = await dst.json(['verify-store']);
  t.true(verified.ok, JSON.stringify(verified.problems));
});

test('a pull killed at any step is rolled back by the next command', async (t) => {
  const src = await built('india');
  await sh(src, 'india', 'printf data > data.txt');
  await src.json(['commit', 'india']);
  await src.json(['push', 'india', 'india@v1', '--remote', server.url], writer);

  const dst = sandbox('kp-remote-life-dst-');
  dst.write('other/karapace.toml', mockManifest({ image: 'mock:other' }));
  await dst.json(['build', join(dst.dir, 'other'), '--name', 'other']);
  const images = readdirSync(join(dst.store, 'images')).sort();
  for (const point of ['pull:downloading', 'pull:staged', 'pull:moved-image', 'pull:moved-env', 'pull:metadata']) {
    const killed = await dst.run(['pull', 'india@v1', '--remote', server.url], { env: { ...reader.env, KARAPACE_TEST_CRASH_AT: point } });
    t.is(killed.code, 128, `${point}: ${killed.stderr}`);
    // The next command takes the lock, rolls the pull back, and finds a healthy store.
    const verified = await dst.json(['verify-store']);
    t.true(verified.ok, `${point}: ${JSON.stringify(verified.problems)}`);
    const list = await dst.json(['list']);
    t.deepEqual(list.environments.map((e: { name?: string }) => e.name), ['other'], point);
    t.deepEqual(readdirSync(join(dst.store, 'store', 'staging')), [], point);
    t.deepEqual(readdirSync(join(dst.store, 'store', 'wal')).filter((n) => n.endsWith('.json')), [], point);
    t.deepEqual(readdirSync(join(dst.store, 'images')).sort(), images, point);
    t.deepEqual(readdirSync(join(dst.store, 'env')).length, 1, point);
  }
  // And a pull that is left alone completes.
  await dst.json(['pull', 'india@v1', '--remote', server.url], reader);
  t.is(await sh(dst, 'india', 'cat data.txt'), 'data');
});
