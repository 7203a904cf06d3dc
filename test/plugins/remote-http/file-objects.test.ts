/**
 * Bundle format v3 (docs/remote-protocol.md "Layers as trees"): push and pull move layers as
 * trees and only the content objects the other side lacks. On a real karapace-server on
 * 127.0.0.1: the bytes a second push uploads (the server's request log) are about the new
 * content, a pull into an empty store reproduces the environment, and a pull into a store
 * that has the contents downloads none of them. Then a hostile remote serving those blobs,
 * rewritten self-consistently: every case is refused with a typed error and leaves the
 * store as it was.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashBytes } from '@karapace/kernel';
import { mockManifest, sandbox, type Sandbox } from '../../helpers/cli.js';
import { startHostileRemote, type HostileRemote } from './hostile-remote.js';
import { READ_TOKEN, WRITE_TOKEN, startTestServer, type TestServer } from './server-process.js';
import { storeListing } from './store-listing.js';

const BIG = 2 << 20;
const write = { env: { KARAPACE_REMOTE_TOKEN: WRITE_TOKEN } };
const read = { env: { KARAPACE_REMOTE_TOKEN: READ_TOKEN } };

let server: TestServer;
let hostile: HostileRemote;
/** The same blobs, offering batch downloads: small objects then come many to a request. */
let hostileBatch: HostileRemote;
let src: Sandbox;
let pushed: { v1: any; v2: any; beta: any };
/** Bytes the server received in uploads (PUT and PATCH bodies), per push. */
let uploaded: { v1: number; v2: number; beta: number };
let big: Buffer;

/**
 * Bytes the server read for uploads so far, from its request log (`in`: bytes read on the
 * socket while the request ran; the first chunk of a body that arrived with its head counts
 * for the request before, so a sum can fall short by up to that much per request).
 */
async function uploadedSoFar(): Promise<number> {
  const sum = () => server.log().trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
    .filter((l) => l.method === 'PUT' || l.method === 'PATCH').reduce((n, l) => n + (l.in ?? 0), 0);
  // The log is written as requests end: wait until it stops growing.
  let last = -1;
  for (let i = 0; i < 50 && sum() !== last; i++) {
    last = sum();
    await new Promise((r) => setTimeout(r, 100));
  }
  return last;
}

async function exec(box: Sandbox, env: string, script: string): Promise<void> {
  const r = await box.run(['exec', env, '--', 'sh', '-c', script]);
  if (r.code !== 0) throw new Error(r.stderr);
}

test.before(async () => {
  server = await startTestServer();
  src = sandbox('kp-objects-src-');
  // The mock may claim lower layers: beta's build then keeps a packages layer, which travels too.
  src.write('.karapacerc.json', JSON.stringify({ '@karapace/runtime-mock': { claim: ['lowerLayers'] } }));
  big = randomBytes(BIG);
  writeFileSync(join(src.dir, 'big.bin'), big);
  src.write('alpha/karapace.toml', mockManifest({ image: 'mock:objects' }));
  src.write('beta/karapace.toml', mockManifest({ image: 'mock:objects', packages: ['git'] }));
  await src.json(['build', join(src.dir, 'alpha'), '--name', 'alpha']);
  await exec(src, 'alpha', `cp ${join(src.dir, 'big.bin')} big.bin && printf one > note.txt && mkdir -p d && printf x > d/x`);
  await src.json(['commit', 'alpha', '-m', 'first']);
  const v1 = await src.json(['push', 'alpha', 'alpha@v1', '--remote', server.url], write);
  const after1 = await uploadedSoFar();
  // One file changes; a second snapshot.
  await exec(src, 'alpha', 'printf two > note.txt');
  await src.json(['commit', 'alpha', '-m', 'second']);
  const v2 = await src.json(['push', 'alpha', 'alpha@v2', '--remote', server.url], write);
  const after2 = await uploadedSoFar();
  // A second environment on the same base with most of the same files.
  await src.json(['build', join(src.dir, 'beta'), '--name', 'beta']);
  await exec(src, 'beta', `cp ${join(src.dir, 'big.bin')} big.bin && printf beta > own.txt`);
  const beta = await src.json(['push', 'beta', 'beta@v1', '--remote', server.url], write);
  const after3 = await uploadedSoFar();
  pushed = { v1, v2, beta };
  uploaded = { v1: after1, v2: after2 - after1, beta: after3 - after2 };
  hostile = await startHostileRemote(join(server.dir, 'data'));
  hostileBatch = await startHostileRemote(join(server.dir, 'data'), { batch: true });
});

test.after.always(async () => {
  await hostile?.close();
  await hostileBatch?.close();
  await server?.stop();
});

test('a second push after a one-file change, and a second env with the same base, upload about the new content', (t) => {
  const manifest = hostile.manifest(pushed.v2.digest);
  t.is(manifest.format, 'karapace.env.v3');
  t.truthy(manifest.upper.tree, 'the upper dir goes as a tree');
  t.true(manifest.layers.every((l: any) => l.object.tree), 'snapshot layers go as trees');
  t.false(hostile.blobs.has(manifest.upper.blob), 'the upper tar itself is not uploaded');
  t.true(uploaded.v1 > BIG * 0.9, `the first push uploads the big file (${uploaded.v1} bytes)`);
  t.true(pushed.v1.uploaded.bytes > BIG);
  // The new content is 3 bytes; trees, records and the manifest are a few KiB.
  t.true(uploaded.v2 < 64 * 1024, `second push: the server read ${uploaded.v2} bytes`);
  t.true(pushed.v2.uploaded.bytes < 16 * 1024, `second push uploaded ${pushed.v2.uploaded.bytes} bytes`);
  // beta's own packages layer and one new file; the base and the big file are on the server.
  t.true(uploaded.beta < 64 * 1024, `second env: the server read ${uploaded.beta} bytes`);
  t.true(pushed.beta.uploaded.bytes < 16 * 1024, `second env uploaded ${pushed.beta.uploaded.bytes} bytes`);
  t.true(pushed.v2.skipped.bytes >= BIG);
});

test('pull into an empty store reproduces env_id and layers; verify-store is clean; a second env downloads only what is new', async (t) => {
  const dst = sandbox('kp-objects-dst-');
  const pulled = await dst.json(['pull', 'alpha@v2', '--remote', server.url], read);
  t.is(pulled.env_id, pushed.v2.env_id);
  const meta = JSON.parse(readFileSync(join(dst.store, 'store', 'metadata', `${pulled.env_id}.json`), 'utf8'));
  const original = JSON.parse(readFileSync(join(src.store, 'store', 'metadata', `${pulled.env_id}.json`), 'utf8'));
  t.deepEqual(meta.snapshots.map((s: any) => s.layer), original.snapshots.map((s: any) => s.layer));
  for (const s of meta.snapshots) {
    const record = JSON.parse(readFileSync(join(dst.store, 'store', 'layers', `${s.layer}.json`), 'utf8'));
    t.truthy(record.tree, 'a pulled snapshot layer is stored as a tree');
  }
  const verify = await dst.run(['verify-store', '--json']);
  t.is(verify.code, 0, verify.stdout + verify.stderr);
  t.true(JSON.parse(verify.stdout).ok);
  const r = await dst.run(['exec', pulled.env_id, '--', 'sh', '-c', 'cat note.txt && cmp big.bin ' + join(src.dir, 'big.bin') + ' && echo same']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'twosame\n');
  // The first snapshot restores from its pulled tree.
  const restored = await dst.run(['restore', pulled.env_id, meta.snapshots[0].layer.slice(0, 12), '--json']);
  t.is(restored.code, 0, restored.stderr);
  t.is((await dst.run(['exec', pulled.env_id, '--', 'cat', 'note.txt'])).stdout, 'one');

  // beta shares the big file with alpha's snapshots, which this store now holds.
  const second = await dst.json(['pull', 'beta@v1', '--remote', server.url], read);
  t.is(second.env_id, pushed.beta.env_id);
  t.true(second.bytes < 64 * 1024, `pulled ${second.bytes} bytes`);
  t.is((await dst.run(['exec', second.env_id, '--', 'cat', 'own.txt'])).stdout, 'beta');
  // Its packages layer came as a tree too, and its files are links of their content objects, as a build's are.
  t.truthy(hostile.manifest(pushed.beta.digest).packages?.tree, 'the packages layer goes as a tree');
  const betaMeta = JSON.parse(readFileSync(join(dst.store, 'store', 'metadata', `${second.env_id}.json`), 'utf8'));
  const layerDir = join(dst.store, 'packages', betaMeta.packages_layer);
  const layer = JSON.parse(readFileSync(join(layerDir, 'layer.json'), 'utf8'));
  t.is(layer.origin, 'pull');
  t.truthy(layer.tree);
  const tree = readFileSync(join(dst.store, 'store', 'objects', layer.tree.slice(0, 2), layer.tree.slice(2)), 'utf8');
  const files = tree.split('\n').slice(1, -1).map((l) => JSON.parse(l)).filter((e) => e.type === 'file' && e.content);
  t.true(files.length > 0);
  for (const f of files) {
    const object = statSync(join(dst.store, 'store', 'objects', f.content.slice(0, 2), f.content.slice(2)));
    t.is(statSync(join(layerDir, 'root', f.path)).ino, object.ino, `${f.path} is one inode with its object`);
  }
  // gc keeps what the pulled layers reference (trees, contents, linked packages files).
  const gc = await dst.run(['gc', '--json']);
  t.is(gc.code, 0, gc.stderr);
  const again = await dst.run(['verify-store', '--json']);
  t.true(JSON.parse(again.stdout).ok, again.stdout);
  const back = await dst.run(['restore', pulled.env_id, meta.snapshots[1].layer.slice(0, 12), '--json']);
  t.is(back.code, 0, back.stderr);
  t.is((await dst.run(['exec', pulled.env_id, '--', 'cat', 'note.txt'])).stdout, 'two');
});

test('contents the pull does not keep stream from the download into the upper dir', async (t) => {
  // beta's big file is in no snapshot: it goes from its download straight into the rebuilt tar.
  const dst = sandbox('kp-objects-dst2-');
  const pulled = await dst.json(['pull', 'beta@v1', '--remote', server.url], read);
  t.true(pulled.bytes > BIG);
  const r = await dst.run(['exec', pulled.env_id, '--', 'sh', '-c', 'cmp big.bin ' + join(src.dir, 'big.bin') + ' && cat own.txt']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'beta');
  const objects = storeListing(join(dst.store, 'store', 'objects')).filter((l) => l.endsWith(` ${BIG}`));
  t.deepEqual(objects, [], 'the upper dir\'s contents are not kept as objects');
  const verify = await dst.run(['verify-store', '--json']);
  t.true(JSON.parse(verify.stdout).ok, verify.stdout);
});

// --- hostile remote -------------------------------------------------------------------

interface Tree { lines: any[] }

function treeOf(hash: string): Tree {
  const text = hostile.blobs.get(hash)!.toString('utf8');
  return { lines: text.split('\n').slice(1, -1).map((l) => JSON.parse(l)) };
}

function putTree(tree: Tree): { blob: string; size: number } {
  const bytes = Buffer.from(`karapace-tree/1\n${tree.lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
  return { blob: hostile.put(bytes), size: bytes.length };
}

/** Publishes alpha@v2's manifest with its upper tree replaced. */
function withUpperTree(tag: string, edit: (tree: Tree) => void): void {
  const m = hostile.manifest(pushed.v2.digest);
  const tree = treeOf(m.upper.tree.blob);
  edit(tree);
  m.upper.tree = putTree(tree);
  hostile.publish('alpha', tag, m);
}

async function refused(t: any, tag: string, code: string | RegExp, remote: HostileRemote = hostile): Promise<string> {
  const box = sandbox('kp-objects-hostile-');
  box.write('other/karapace.toml', mockManifest({ image: 'mock:other' }));
  await box.json(['build', join(box.dir, 'other'), '--name', 'other']);
  await box.json(['list']);
  const before = storeListing(box.store);
  const r = await box.run(['pull', `alpha@${tag}`, '--remote', remote.url, '--json']);
  t.is(r.code, 1, r.stderr);
  const err = JSON.parse(r.stderr.trim().split('\n').pop()!).error;
  if (typeof code === 'string') t.is(err.code, code, err.message);
  else t.regex(err.code, code, err.message);
  t.deepEqual(storeListing(box.store), before, 'nothing added to the store');
  return err.message as string;
}

/** The content hash of note.txt in alpha@v2's upper tree. */
function noteContent(): { hash: string; size: number } {
  const m = hostile.manifest(pushed.v2.digest);
  const e = treeOf(m.upper.tree.blob).lines.find((l) => l.path === 'note.txt');
  return { hash: e.content, size: e.size };
}

const remotes = () => [['one request per blob', hostile], ['batches', hostileBatch]] as const;

test.serial('a content object whose bytes do not match its name is refused (per blob and in batches)', async (t) => {
  const { hash } = noteContent();
  for (const [how, remote] of remotes()) {
    const real = remote.blobs.get(hash)!;
    remote.blobs.set(hash, Buffer.from('TWO'));
    try {
      remote.publish('alpha', 'mismatch', remote.manifest(pushed.v2.digest));
      t.regex(await refused(t, 'mismatch', 'KP_REMOTE_INTEGRITY', remote), /content object/, how);
    } finally {
      remote.blobs.set(hash, real);
    }
  }
  t.true(hostileBatch.requests.some((r) => r === 'POST /v1/blobs/fetch'), 'the batch remote was asked for batches');
  t.false(hostile.requests.some((r) => r === 'POST /v1/blobs/fetch'), 'the other was not');
});

test.serial('an oversized or short content object is refused (per blob and in batches)', async (t) => {
  const { hash } = noteContent();
  for (const [, remote] of remotes()) {
    const real = remote.blobs.get(hash)!;
    try {
      for (const bytes of [Buffer.concat([real, Buffer.from('more')]), real.subarray(0, 1)]) {
        remote.blobs.set(hash, bytes);
        remote.publish('alpha', 'size', remote.manifest(pushed.v2.digest));
        await refused(t, 'size', /^KP_REMOTE_(INTEGRITY|ERROR)$/, remote);
      }
    } finally {
      remote.blobs.set(hash, real);
    }
  }
});

test.serial('a remote that lacks an object its tree names is refused (per blob and in batches)', async (t) => {
  const { hash } = noteContent();
  for (const [, remote] of remotes()) {
    const real = remote.blobs.get(hash)!;
    remote.blobs.delete(hash);
    try {
      remote.publish('alpha', 'lacking', remote.manifest(pushed.v2.digest));
      await refused(t, 'lacking', /^KP_REMOTE_(NOT_FOUND|ERROR)$/, remote);
    } finally {
      remote.blobs.set(hash, real);
    }
  }
});

test.serial('a batch answer whose bytes belong to another object is refused', async (t) => {
  // The batch remote serves a piece of note.txt's content under the name of d/x (same size).
  const { hash } = noteContent();
  const m = hostileBatch.manifest(pushed.v2.digest);
  const other = treeOf(m.upper.tree.blob).lines.find((l) => l.path === 'd/x');
  const real = hostileBatch.blobs.get(other.content)!;
  hostileBatch.blobs.set(other.content, hostileBatch.blobs.get(hash)!.subarray(0, real.length));
  try {
    hostileBatch.publish('alpha', 'swapped', m);
    await refused(t, 'swapped', /^KP_REMOTE_(INTEGRITY|ERROR)$/, hostileBatch);
  } finally {
    hostileBatch.blobs.set(other.content, real);
  }
});

test('a tree with an absolute path, a .. component or a path below a symlink is refused', async (t) => {
  withUpperTree('absolute', (tree) => { tree.lines.find((l) => l.path === 'note.txt').path = '/etc/note.txt'; });
  t.regex(await refused(t, 'absolute', 'KP_REMOTE_BAD_TREE'), /absolute/);
  withUpperTree('dotdot', (tree) => { tree.lines.find((l) => l.path === 'note.txt').path = 'd/../../note.txt'; });
  t.regex(await refused(t, 'dotdot', 'KP_REMOTE_BAD_TREE'), /"\.\."/);
  withUpperTree('symlink', (tree) => {
    tree.lines.push({ gid: 0, mode: 511, path: 'zlink', target: '/tmp', type: 'symlink', uid: 0 });
    tree.lines.push({ ...tree.lines.find((l) => l.path === 'note.txt'), path: 'zlink/planted' });
  });
  t.regex(await refused(t, 'symlink', 'KP_REMOTE_BAD_TREE'), /below the symlink/);
});

test('a tree whose rebuilt tar does not match the bundle is refused', async (t) => {
  withUpperTree('retree', (tree) => { tree.lines.find((l) => l.path === 'note.txt').mode = 0o4755; });
  t.regex(await refused(t, 'retree', 'KP_REMOTE_INTEGRITY'), /rebuilt from its tree/);
  // The same for a snapshot layer, which is stored as its tree, not unpacked.
  const m = hostile.manifest(pushed.v2.digest);
  const layer = m.layers[0];
  const tree = treeOf(layer.object.tree.blob);
  tree.lines.find((l: any) => l.path === 'note.txt').mode = 0o600;
  layer.object.tree = putTree(tree);
  hostile.publish('alpha', 'relayer', m);
  t.regex(await refused(t, 'relayer', 'KP_REMOTE_INTEGRITY'), /rebuilt from its tree/);
});

test('a tree object whose bytes do not match its name is refused', async (t) => {
  const m = hostile.manifest(pushed.v2.digest);
  const bytes = Buffer.from('karapace-tree/1\n');
  const fake = hashBytes(Buffer.from('something else'));
  hostile.blobs.set(fake, bytes);
  m.upper.tree = { blob: fake, size: bytes.length };
  hostile.publish('alpha', 'faketree', m);
  await refused(t, 'faketree', 'KP_REMOTE_INTEGRITY');
});

test.serial('large contents stream in with the next one already downloading; a bad one fails the pull promptly and leaves nothing behind', async (t) => {
  // Three large files of the upper dir only (no snapshot): each goes from its download into the tar.
  const gammaDir = sandbox('kp-objects-gamma-');
  gammaDir.write('gamma/karapace.toml', mockManifest({ image: 'mock:objects', packages: ['make'] }));
  await src.json(['build', join(gammaDir.dir, 'gamma'), '--name', 'gamma']);
  const parts = [randomBytes(BIG + 1), randomBytes(BIG + 2), randomBytes(BIG + 3)];
  parts.forEach((p, i) => writeFileSync(join(gammaDir.dir, `g${i}.bin`), p));
  await exec(src, 'gamma', `for i in 0 1 2; do cp ${gammaDir.dir}/g$i.bin g$i.bin; done`);
  await src.json(['push', 'gamma', 'gamma@v1', '--remote', server.url], write);

  const dst = sandbox('kp-objects-gamma-dst-');
  const pulled = await dst.json(['pull', 'gamma@v1', '--remote', server.url], read);
  const r = await dst.run(['exec', pulled.env_id, '--', 'sh', '-c', `for i in 0 1 2; do cmp g$i.bin ${gammaDir.dir}/g$i.bin || exit 1; done`]);
  t.is(r.code, 0, r.stderr);

  const remote = await startHostileRemote(join(server.dir, 'data'));
  t.teardown(() => remote.close());
  for (const bad of [0, 2]) {
    const hash = hashBytes(parts[bad]!);
    const real = remote.blobs.get(hash)!;
    const tampered = Buffer.from(real);
    tampered[tampered.length - 1] ^= 1;
    remote.blobs.set(hash, tampered);
    try {
      const m = remote.manifest(pulled.digest);
      remote.publish('alpha', `gamma-bad-${bad}`, m);
      const started = Date.now();
      t.regex(await refused(t, `gamma-bad-${bad}`, 'KP_REMOTE_INTEGRITY', remote), /content object/);
      t.true(Date.now() - started < 20_000, 'no download left holding the process open');
    } finally {
      remote.blobs.set(hash, real);
    }
  }
  // The second object was asked for by both pulls: by the first while its first (bad) object was still being read.
  const gets = remote.requests.filter((q) => q === `GET /v1/blobs/${hashBytes(parts[1]!)}`);
  t.is(gets.length, 2, 'the next large object downloads while the one before it is read');
});
