/**
 * The trust boundary against a hostile remote (docs/security-model.md): a real `karapace
 * push` to a real karapace-server, then a hostile node:http remote that serves those blobs
 * rewritten self-consistently. Every case ends with nothing written or deleted outside the
 * store, no legitimate environment affected, and a clear error where the pull is refused.
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashBytes, layerHash } from '@karapace/kernel';
import { archive, entry } from '../../kernel/layers/_tar.js';
import { mockManifest, sandbox, type Sandbox } from '../../helpers/cli.js';
import { startHostileRemote, type HostileRemote } from './hostile-remote.js';
import { READ_TOKEN, WRITE_TOKEN, startTestServer, type TestServer } from './server-process.js';
import { storeListing } from './store-listing.js';

let server: TestServer;
let hostile: HostileRemote;
let legit: { digest: string; env_id: string };

test.before(async () => {
  server = await startTestServer();
  const src = sandbox('kp-hostile-src-');
  // The mock runs commands on the host in the upper dir and cannot show lower layers, but may
  // claim to: the legit bundle then carries a packages layer, one of the objects pulled here.
  // Tar bundles (v1/v2): the cases below rewrite layer tars; v3 trees have their own (file-objects.test.ts).
  src.write('.karapacerc.json', JSON.stringify({ '@karapace/runtime-mock': { claim: ['lowerLayers'] }, '@karapace/remote-http': { bundle: 'tars' } }));
  src.write('proj/karapace.toml', mockManifest({ image: 'mock:hostile', packages: ['git'] }));
  await src.json(['build', join(src.dir, 'proj'), '--name', 'legit']);
  const r = await src.run(['exec', 'legit', '--', 'sh', '-c', 'printf legit > notes.txt']);
  if (r.code !== 0) throw new Error(r.stderr);
  await src.json(['commit', 'legit', '-m', 'first']);
  legit = await src.json(['push', 'legit', 'legit@v1', '--remote', server.url], { env: { KARAPACE_REMOTE_TOKEN: WRITE_TOKEN } });
  hostile = await startHostileRemote(join(server.dir, 'data'));
  hostile.publish('legit', 'v1', hostile.manifest(legit.digest));
});

test.after.always(async () => {
  await hostile?.close();
  await server?.stop();
});

/** A destination store that already holds an environment of its own. */
async function destination(): Promise<{ box: Sandbox; before: string[] }> {
  const box = sandbox('kp-hostile-dst-');
  box.write('other/karapace.toml', mockManifest({ image: 'mock:other' }));
  await box.json(['build', join(box.dir, 'other'), '--name', 'other']);
  // A store in use: its first list has made the running index, which refused pulls then compare against.
  await box.json(['list']);
  return { box, before: storeListing(box.store) };
}

async function refused(t: any, box: Sandbox, before: string[], reference: string, code: string | RegExp, exitCode = 1): Promise<string> {
  const r = await box.run(['pull', reference, '--remote', hostile.url, '--json']);
  t.is(r.code, exitCode, r.stderr);
  const err = JSON.parse(r.stderr.trim().split('\n').pop()!).error;
  if (typeof code === 'string') t.is(err.code, code, err.message);
  else t.regex(err.code, code);
  t.deepEqual(storeListing(box.store), before, 'nothing added to the store');
  const list = await box.json(['list']);
  t.deepEqual(list.environments.map((e: { name?: string }) => e.name), ['other']);
  return err.message as string;
}

function metadataOf(box: Sandbox, envId: string): any {
  return JSON.parse(readFileSync(join(box.store, 'store', 'metadata', `${envId}.json`), 'utf8'));
}

test('metadata is rebuilt from verified fields: no extensions, short_id, name, manifest or paths from the remote', async (t) => {
  const victimDir = mkdtempSync(join(tmpdir(), 'kp-victim-'));
  const victim = join(victimDir, 'precious.txt');
  writeFileSync(victim, 'keep me');
  const marker = join(victimDir, 'pwned');
  const m = hostile.manifest(legit.digest);
  m.env.extensions = { 'app-export': { apps: { evil: { app: 'evil', kind: 'binary', files: [victim, victimDir] } } } };
  m.env.short_id = `abc\n$(touch ${marker})/../../x`;
  m.env.name = 'evil\u001b]0;pwned\u0007';
  m.env.manifest.mounts = [{ label: 'root', host: '/', container: '/host', readOnly: false }];
  m.env.manifest.runtime.network_isolation = !m.env.manifest.runtime.network_isolation;
  m.env.manifest_path = victim;
  m.env.created_at = '1970-01-01T00:00:00Z\n';
  hostile.publish('meta', 'v1', m);

  const { box } = await destination();
  const pulled = await box.json(['pull', 'meta@v1', '--remote', hostile.url]);
  t.is(pulled.env_id, legit.env_id);
  const meta = metadataOf(box, pulled.env_id);
  t.is(meta.short_id, pulled.env_id.slice(0, 12));
  t.is(meta.extensions, undefined);
  t.is(meta.name, undefined, 'a name with control characters is not taken');
  t.deepEqual(meta.manifest.mounts, meta.lock.mounts);
  t.is(meta.manifest.runtime.network_isolation, meta.lock.network_isolation);
  t.not(meta.manifest_path, victim);
  t.regex(meta.created_at, /^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
  t.not(meta.created_at.slice(0, 4), '1970');

  // destroy and unexport touch only what this machine wrote.
  const destroyed = await box.run(['destroy', pulled.env_id]);
  t.is(destroyed.code, 0, destroyed.stderr);
  t.is(readFileSync(victim, 'utf8'), 'keep me');
  t.false(existsSync(marker));
});

test('a lock that does not give the claimed env_id is refused', async (t) => {
  const m = hostile.manifest(legit.digest);
  m.env.lock.mounts = [{ label: 'root', host: '/', container: '/host', readOnly: false }];
  m.env.lock.network_isolation = !m.env.lock.network_isolation;
  hostile.publish('identity', 'v1', m);
  const { box, before } = await destination();
  const message = await refused(t, box, before, 'identity@v1', 'KP_REMOTE_INTEGRITY');
  t.regex(message, /environment identity/);
});

test('a malformed lock or bundle field is refused, not crashed on', async (t) => {
  const { box, before } = await destination();
  for (const [tag, change] of [
    ['limits', (m: any) => { m.env.lock.resource_limits = { memory_limit_mb: '99999999999999999999' }; }],
    ['mounts', (m: any) => { m.env.lock.mounts = 'not a list'; }],
    ['key', (m: any) => { m.base.image_key = '../../../etc'; }],
    ['snap', (m: any) => { m.env.snapshots = [{ layer: m.env.snapshots[0].layer, created_at: 'yesterday\u001b[2J' }]; }],
  ] as const) {
    const m = hostile.manifest(legit.digest);
    change(m);
    hostile.publish('malformed', tag, m);
    await refused(t, box, before, `malformed@${tag}`, /^KP_REMOTE_(BAD_BUNDLE|INTEGRITY)$/);
  }
});

test('a layer record whose identity fields do not give its hash is refused', async (t) => {
  const m = hostile.manifest(legit.digest);
  const layer = m.layers[0];
  const record = JSON.parse(hostile.blobs.get(layer.record.blob)!.toString('utf8'));
  record.kind = 'base';
  record.parent = '0'.repeat(64);
  const bytes = JSON.stringify(record);
  layer.record = { blob: hostile.put(bytes), size: Buffer.byteLength(bytes) };
  hostile.publish('record', 'v1', m);
  const { box, before } = await destination();
  const message = await refused(t, box, before, 'record@v1', 'KP_REMOTE_INTEGRITY');
  t.regex(message, /record/);
});

test('a poisoned base image is refused before it is installed, and a later legitimate pull is unaffected', async (t) => {
  const m = hostile.manifest(legit.digest);
  const work = mkdtempSync(join(tmpdir(), 'kp-poison-'));
  mkdirSync(join(work, 'root'));
  execFileSync('tar', ['-xf', '-', '-C', join(work, 'root')], { input: hostile.blobs.get(m.base.blob) });
  mkdirSync(join(work, 'root', 'usr', 'bin'), { recursive: true });
  writeFileSync(join(work, 'root', 'usr', 'bin', 'evil'), '#!/bin/sh\necho poisoned\n', { mode: 0o755 });
  const tar = execFileSync('tar', ['--sort=name', '--numeric-owner', '-cf', '-', '-C', join(work, 'root'), '.'], { maxBuffer: 1 << 30 });
  m.base = { ...m.base, blob: hostile.put(tar), size: tar.length };
  m.base.image_key = 'poisoned-key';
  hostile.publish('poison', 'v1', m);

  const { box, before } = await destination();
  const message = await refused(t, box, before, 'poison@v1', 'KP_REMOTE_INTEGRITY');
  t.regex(message, /base image/);
  t.false(existsSync(join(box.store, 'images', 'poisoned-key')));

  const pulled = await box.json(['pull', 'legit@v1', '--remote', hostile.url]);
  t.is(pulled.env_id, legit.env_id);
  const r = await box.run(['exec', pulled.env_id, '--', 'sh', '-c', 'cat notes.txt; test -e /usr/bin/evil && echo POISONED || true']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'legit');
});

const asRoot = process.geteuid?.() === 0;

(asRoot ? test : test.skip)('as root: pulled content creates no device nodes or privileged xattrs; setuid files stay unreachable for other users', async (t) => {
  const m = hostile.manifest(legit.digest);
  const work = mkdtempSync(join(tmpdir(), 'kp-devices-'));
  const root = join(work, 'upper');
  mkdirSync(root);
  execFileSync('tar', ['-xf', '-', '-C', root], { input: hostile.blobs.get(m.upper.blob) });
  execFileSync('mknod', [join(root, 'disk'), 'b', '8', '0']);
  execFileSync('mknod', [join(root, 'mem'), 'c', '1', '1']);
  writeFileSync(join(root, 'redirected'), 'x');
  const xattrs = spawnSync('setfattr', ['-n', 'trusted.overlay.redirect', '-v', '/etc', join(root, 'redirected')]);
  spawnSync('setfattr', ['-n', 'security.selinux', '-v', 'system_u:object_r:shadow_t:s0', join(root, 'redirected')]);
  spawnSync('setfattr', ['-n', 'user.note', '-v', 'fine', join(root, 'redirected')]);
  writeFileSync(join(root, 'suid-shell'), '#!/bin/sh\nid\n', { mode: 0o4755 });
  const tar = execFileSync('tar', ['--format=pax', '--xattrs', '--xattrs-include=*', '--sort=name', '--numeric-owner', '-cf', '-', '-C', root, '.'], { maxBuffer: 1 << 30 });
  m.upper = { blob: hostile.put(tar), size: tar.length };
  hostile.publish('devices', 'v1', m);

  const { box } = await destination();
  const pulled = await box.json(['pull', 'devices@v1', '--remote', hostile.url]);
  const upper = join(box.store, 'env', pulled.env_id, 'upper');
  t.false(existsSync(join(upper, 'disk')), 'no block device');
  t.false(existsSync(join(upper, 'mem')), 'no character device');
  t.true(existsSync(join(upper, 'redirected')));
  if (xattrs.status === 0) {
    const attrs = spawnSync('getfattr', ['-d', '-m', '-', join(upper, 'redirected')], { encoding: 'utf8' }).stdout;
    t.false(attrs.includes('trusted.overlay'), attrs);
    t.false(attrs.includes('security.selinux'), attrs);
    t.true(attrs.includes('user.note'), attrs);
  }
  // The store root is private: another user cannot reach the setuid file.
  t.is(statSync(box.store).mode & 0o777, 0o700);
  const other = spawnSync('runuser', ['-u', 'nobody', '--', 'test', '-x', join(upper, 'suid-shell')]);
  t.not(other.status, 0, 'nobody cannot reach files in the store');
});

test('the store root of a new store is private', async (t) => {
  const box = sandbox('kp-private-');
  box.write('p/karapace.toml', mockManifest({ image: 'mock:private' }));
  await box.json(['build', join(box.dir, 'p')]);
  t.is(statSync(box.store).mode & 0o777, 0o700);
});

test('verify-store reports a store root other users could reach, and the next command makes it private', async (t) => {
  const box = sandbox('kp-exposed-');
  box.write('p/karapace.toml', mockManifest({ image: 'mock:exposed' }));
  await box.json(['build', join(box.dir, 'p')]);
  chmodSync(box.store, 0o755);
  const r = await box.run(['verify-store', '--json']);
  const report = JSON.parse(r.stdout);
  t.false(report.ok);
  t.true(report.problems.some((p: { kind: string }) => p.kind === 'permissions'), r.stdout);
  t.is(statSync(box.store).mode & 0o777, 0o700);
  const again = await box.json(['verify-store']);
  t.true(again.ok, JSON.stringify(again.problems));
});

test('declared sizes that cannot fit are refused before anything is downloaded', async (t) => {
  const m = hostile.manifest(legit.digest);
  m.upper = { ...m.upper, size: 2 ** 52 };
  hostile.publish('huge', 'v1', m);
  const { box, before } = await destination();
  const message = await refused(t, box, before, 'huge@v1', 'KP_STORE_NO_SPACE', 3);
  t.regex(message, /needs \d+ bytes/);
});

(asRoot ? test : test.skip)('as root: a pulled snapshot layer with a device node restores without it', async (t) => {
  const m = hostile.manifest(legit.digest);
  const snap = m.env.snapshots[0].layer as string;
  const layer = m.layers.find((l: { hash: string }) => l.hash === snap);
  const work = mkdtempSync(join(tmpdir(), 'kp-snapdev-'));
  execFileSync('tar', ['-xf', '-', '-C', work], { input: hostile.blobs.get(layer.object.blob) });
  execFileSync('mknod', [join(work, 'disk'), 'b', '8', '0']);
  const tar = execFileSync('tar', ['--sort=name', '--numeric-owner', '-cf', '-', '-C', work, '.']);
  const object = hostile.put(tar);
  const record = JSON.parse(hostile.blobs.get(layer.record.blob)!.toString('utf8'));
  const hash = layerHash({ kind: record.kind, object, ...(record.parent ? { parent: record.parent } : {}) });
  const recordBytes = JSON.stringify({ ...record, hash, object, size: tar.length });
  layer.hash = hash;
  layer.object = { blob: object, size: tar.length };
  layer.record = { blob: hostile.put(recordBytes), size: Buffer.byteLength(recordBytes) };
  m.env.snapshots[0].layer = hash;
  m.env.layers = m.env.layers.map((h: string) => (h === snap ? hash : h));
  hostile.publish('snapdev', 'v1', m);

  const { box } = await destination();
  const pulled = await box.json(['pull', 'snapdev@v1', '--remote', hostile.url]);
  const restored = await box.run(['restore', pulled.env_id, '--json']);
  t.is(restored.code, 0, restored.stderr);
  const upper = join(box.store, 'env', pulled.env_id, 'upper');
  t.true(existsSync(join(upper, 'notes.txt')), 'the snapshot was restored');
  t.false(existsSync(join(upper, 'disk')), 'no block device from a pulled layer');
});

test('a pulled packages layer is the tar the bundle names, kept apart from built ones: a build never reuses it', async (t) => {
  const m = hostile.manifest(legit.digest);
  t.is(m.format, 'karapace.env.v2');
  t.truthy(m.packages, 'the legit env was built with packages: its bundle carries the layer');
  const { box } = await destination();
  const pulled = await box.json(['pull', 'legit@v1', '--remote', hostile.url]);
  const meta = metadataOf(box, pulled.env_id);
  const record = JSON.parse(readFileSync(join(box.store, 'packages', meta.packages_layer, 'layer.json'), 'utf8'));
  t.is(record.origin, 'pull');
  t.is(record.blob, m.packages.blob);
  t.deepEqual(record.packages, meta.lock.resolved_packages);
  t.deepEqual(execFileSync('tar', ['-tf', '-'], { input: hostile.blobs.get(m.packages.blob) }).toString().split('\n').filter((p) => p && p !== './').map((p) => p.replace(/^\.\//, '').replace(/\/$/, '')).sort(),
    execFileSync('find', ['.', '-mindepth', '1'], { cwd: join(box.store, 'packages', meta.packages_layer, 'root') }).toString().split('\n').filter(Boolean).map((p) => p.slice(2)).sort());
  // Same base and packages, built here: installed anew, on a layer of its own.
  box.write('.karapacerc.json', JSON.stringify({ '@karapace/runtime-mock': { claim: ['lowerLayers', 'mounts'] } }));
  box.write('same/karapace.toml', mockManifest({ image: 'mock:hostile', packages: ['git'], extra: '[mounts]\nwork = "./w:/w"' }));
  mkdirSync(join(box.dir, 'same', 'w'));
  const built = await box.json(['build', join(box.dir, 'same')]);
  t.not(built.env_id, pulled.env_id);
  const builtLayer = metadataOf(box, built.env_id).packages_layer;
  t.not(builtLayer, meta.packages_layer);
  t.is(JSON.parse(readFileSync(join(box.store, 'packages', builtLayer, 'layer.json'), 'utf8')).origin, 'build');
});

test('a packages layer is checked like every blob: wrong content for its hash, an entry outside the layer, a size that cannot fit, a format that hides it', async (t) => {
  const { box, before } = await destination();
  const base = hostile.manifest(legit.digest);
  // Bytes served under a hash they do not have.
  const wrong = Buffer.from(base.packages ? hostile.blobs.get(base.upper.blob)! : '');
  const claimed = hashBytes('not the bytes served');
  hostile.blobs.set(claimed, wrong);
  const cases: [string, (m: any) => void, string | RegExp, number?][] = [
    ['content', (m) => { m.packages = { blob: claimed, size: wrong.length }; }, 'KP_REMOTE_INTEGRITY'],
    ['escape', (m) => {
      const tar = archive(entry({ name: 'etc/', type: '5', mode: 0o755 }), entry({ name: '../../escaped', mode: 0o644 }, 'out'));
      m.packages = { blob: hostile.put(tar), size: tar.length };
    }, 'KP_LAYER_REJECTED', 3],
    ['huge', (m) => { m.packages = { ...m.packages, size: 2 ** 52 }; }, 'KP_STORE_NO_SPACE', 3],
    // Refused from the answer's length, or from the bytes when the answer declares none.
    ['short', (m) => { m.packages = { ...m.packages, size: m.packages.size - 512 }; }, /^KP_REMOTE_(ERROR|INTEGRITY)$/],
    ['v1', (m) => { m.format = 'karapace.env.v1'; }, 'KP_REMOTE_BAD_BUNDLE'],
    ['hidden', (m) => { delete m.packages; }, 'KP_REMOTE_BAD_BUNDLE'],
  ];
  for (const [tag, change, code, exit] of cases) {
    const m = hostile.manifest(legit.digest);
    change(m);
    hostile.publish('packages', tag, m);
    const message = await refused(t, box, before, `packages@${tag}`, code, exit);
    t.log(`${tag}: ${message}`);
  }
  t.false(existsSync(join(box.dir, 'escaped')) || existsSync(join(box.store, 'escaped')) || existsSync(join(box.store, 'packages', 'escaped')));
});
