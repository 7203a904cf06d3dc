/**
 * A pull as an unprivileged user with full subordinate-id mapping (issue 18): the pulled
 * packages layer and upper dir are unpacked inside the env's id mapping, so their owners
 * inside are what a local build gives (root's files are root's, not the user's), and a
 * pull that fails after such an unpack leaves nothing behind, though the user cannot
 * remove those files on the host.
 */
import test from 'ava';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { debianRootfsTarball, debianRootfsUnavailable } from '../../helpers/debian-rootfs.js';
import { startTestServer, WRITE_TOKEN, READ_TOKEN, type TestServer } from '../remote-http/server-process.js';
import { startHostileRemote } from '../remote-http/hostile-remote.js';
import { buildEnv, identitiesUnavailable, imageSourcesMissing, identity, manifest, project, subidIdentity, type Project } from './harness.js';

const missing = identitiesUnavailable() ?? debianRootfsUnavailable() ?? imageSourcesMissing();
if (missing) console.warn(`runtime-namespace pull-owners tests skipped: ${missing}`);
const t = missing ? test.skip : test.serial;

const projects: Project[] = [];
let server: TestServer | undefined;
test.after.always(async () => {
  await server?.stop();
  for (const p of projects) p.cleanup();
});

function metadata(store: string, envId: string): { packages_layer?: string } {
  return JSON.parse(readFileSync(join(store, 'store', 'metadata', `${envId}.json`), 'utf8'));
}

const listing = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);

t('a subid user\'s pull runs on layers whose owners are as a local build makes them; a failed pull leaves nothing', async (tt) => {
  // Pushed by root: the tars carry the owners the env sees.
  const src = project(identity('root'));
  projects.push(src);
  src.write('karapace.toml', manifest(debianRootfsTarball(), '[system]\npackages = ["hello"]\n'));
  const built = await buildEnv(src);
  const shape = await src.run(['exec', built.shortId, '--', 'sh', '-c',
    'mkdir -p /srv/x && echo hi > /srv/x/root-file && chmod 600 /srv/x/root-file && echo u > /srv/x/user-file && chown 1000:1000 /srv/x/user-file']);
  tt.is(shape.code, 0, shape.stderr);
  server = await startTestServer();
  src.env.KARAPACE_REMOTE_TOKEN = WRITE_TOKEN;
  const pushed = await src.run(['push', built.shortId, 'dev@v1', '--remote', server.url, '--json']);
  tt.is(pushed.code, 0, pushed.stderr);
  const digest = JSON.parse(pushed.stdout).digest as string;

  const who = subidIdentity();
  const dst = project(who);
  projects.push(dst);
  dst.env.KARAPACE_REMOTE_TOKEN = READ_TOKEN;

  // Hostile first: the packages layer's bytes differ from its hash. It is unpacked (inside the
  // mapping, under subordinate ids) before the hash is known to be wrong; then all of it goes.
  const hostile = await startHostileRemote(join(server.dir, 'data'));
  tt.teardown(() => hostile.close());
  const m = hostile.manifest(digest);
  tt.truthy(m.packages?.tree, 'the bundle carries a packages layer, as a tree (bundle v3)');
  // The last file content of the layer (its tree's order): the rest of the layer unpacks first.
  const tree = hostile.blobs.get(m.packages.tree.blob)!.toString('utf8').split('\n').slice(1, -1).map((l) => JSON.parse(l));
  const last = tree.filter((e) => e.content && e.size > 64).pop();
  const tampered = Buffer.from(hostile.blobs.get(last.content)!);
  tampered[tampered.length - 10] = tampered[tampered.length - 10]! ^ 0xff;
  hostile.blobs.set(last.content, tampered);
  hostile.publish('dev', 'bad', m);
  const bad = await dst.run(['pull', 'dev@bad', '--remote', hostile.url, '--json']);
  tt.not(bad.code, 0);
  tt.regex(bad.stdout + bad.stderr, /KP_REMOTE_INTEGRITY/);
  tt.deepEqual(listing(join(dst.store, 'store', 'staging')).filter((n) => n.startsWith('pull-')), []);
  tt.deepEqual(listing(join(dst.store, 'packages')), []);
  tt.deepEqual(listing(join(dst.store, 'env')), []);

  const pulled = await dst.run(['pull', 'dev@v1', '--remote', server.url, '--json']);
  tt.is(pulled.code, 0, pulled.stderr);
  const envId = JSON.parse(pulled.stdout).env_id as string;
  const layer = metadata(dst.store, envId).packages_layer!;
  tt.truthy(layer);
  // On the host: root inside is the first subordinate id, as for a package install by this user.
  tt.is(lstatSync(join(dst.store, 'packages', layer, 'root', 'usr/bin/hello')).uid, who.subuid);
  tt.is(lstatSync(join(dst.store, 'env', envId, 'upper', 'srv/x/root-file')).uid, who.subuid);
  const inside = await dst.run(['exec', envId, '--', 'stat', '-c', '%U:%G %a', '/usr/bin/hello', '/srv/x/root-file']);
  tt.is(inside.code, 0, inside.stderr);
  tt.deepEqual(inside.stdout.trim().split('\n'), ['root:root 755', 'root:root 600']);
  const other = await dst.run(['exec', envId, '--', 'stat', '-c', '%u:%g', '/srv/x/user-file']);
  tt.is(other.stdout.trim(), '1000:1000');
  const asRoot = await dst.run(['exec', '--root', envId, '--', 'sh', '-c', 'cat /srv/x/root-file; hello']);
  tt.is(asRoot.code, 0, asRoot.stderr);
  tt.deepEqual(asRoot.stdout.trim().split('\n'), ['hi', 'Hello, world!']);
  const diff = await dst.run(['diff', envId, '--json']);
  tt.is(diff.code, 0, diff.stderr);
  // The user's changes only, as on the source: the packages layer is below them.
  const d = JSON.parse(diff.stdout);
  tt.deepEqual([d.added, d.modified, d.removed], [['srv/x', 'srv/x/root-file', 'srv/x/user-file'], [], []]);

  // Gone again through the mapping: destroy and gc leave no packages layer behind.
  tt.is((await dst.run(['destroy', envId])).code, 0);
  const gc = await dst.run(['gc', '--json']);
  tt.is(gc.code, 0, gc.stderr);
  tt.deepEqual(listing(join(dst.store, 'packages')), []);
  const verify = await dst.run(['verify-store', '--json']);
  tt.true(JSON.parse(verify.stdout).ok, verify.stdout);
});

t('a subid user\'s push packs its packages layer and upper dir inside its mapping: a root pull sees root\'s files as root\'s, private ones included', async (tt) => {
  const who = subidIdentity();
  const src = project(who);
  projects.push(src);
  src.write('karapace.toml', manifest(debianRootfsTarball(), '[system]\npackages = ["hello"]\n'));
  const built = await buildEnv(src);
  // Files of subordinate ids on the host, one in a directory the user cannot list.
  const shape = await src.run(['exec', '--root', built.shortId, '--', 'sh', '-c',
    'mkdir -m 700 /srv/private && echo secret > /srv/private/s && echo u > /srv/user-file && chown 1000:1000 /srv/user-file']);
  tt.is(shape.code, 0, shape.stderr);
  server ??= await startTestServer();
  src.env.KARAPACE_REMOTE_TOKEN = WRITE_TOKEN;
  const pushed = await src.run(['push', built.shortId, 'sub@v1', '--remote', server.url, '--json']);
  tt.is(pushed.code, 0, pushed.stderr);

  const dst = project(identity('root'));
  projects.push(dst);
  dst.env.KARAPACE_REMOTE_TOKEN = READ_TOKEN;
  const pulled = await dst.run(['pull', 'sub@v1', '--remote', server.url, '--json']);
  tt.is(pulled.code, 0, pulled.stderr);
  const envId = JSON.parse(pulled.stdout).env_id as string;
  const inside = await dst.run(['exec', envId, '--', 'sh', '-c', "stat -c '%U:%G %a' /usr/bin/hello /srv/private /srv/private/s; stat -c '%u:%g' /srv/user-file; cat /srv/private/s; hello"]);
  tt.is(inside.code, 0, inside.stderr);
  tt.deepEqual(inside.stdout.trim().split('\n'), ['root:root 755', 'root:root 700', 'root:root 644', '1000:1000', 'secret', 'Hello, world!']);
  // Pushed again unchanged: the packages layer's hash came from its cache, the upper dir's from a mapped pack; nothing new is sent.
  const again = await src.run(['push', built.shortId, 'sub@v2', '--remote', server.url, '--json']);
  tt.is(again.code, 0, again.stderr);
  tt.is(JSON.parse(again.stdout).uploaded.bytes < 64 * 1024, true, again.stdout);
});
