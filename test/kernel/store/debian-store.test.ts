/**
 * Storage on the real path (issue 18): a Debian bookworm minbase (mmdebstrap, cached) +
 * packages = ["hello"], built on the namespace backend through the CLI. One environment
 * serves every test in this file (they run in order).
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createEngine, hashBytes } from '@karapace/kernel';
import { APT_CONFIG_FILE } from '@karapace/image-sources';
import { sandbox, type Sandbox } from '../../helpers/cli.js';
import { serverBlobs, startTestServer, WRITE_TOKEN, type TestServer } from '../../plugins/remote-http/server-process.js';
import { debianRootfsTarball, debianRootfsUnavailable } from '../../helpers/debian-rootfs.js';

const probe = await createEngine({ cwd: process.cwd(), env: { ...process.env, KARAPACE_STORE: '/nonexistent-kp-probe' } });
const why = !probe.kernel.backends.includes('namespace')
  ? 'the "namespace" backend is not registered (@karapace/runtime-namespace not built)'
  : debianRootfsUnavailable();
if (why) console.error(`debian store tests skipped: ${why}`);
const serial = why ? test.skip : test.serial;
const xattr = createRequire(import.meta.url)('@napi-rs/xattr') as typeof import('@napi-rs/xattr');

let box: Sandbox;
let envId = '';
let upper = '';

test.before(async () => {
  if (why) return;
  box = sandbox('kp-debian-store-');
  box.write('dev/karapace.toml', `manifest_version = 1
[base]
image = "${debianRootfsTarball()}"
[system]
packages = ["hello"]
[runtime]
backend = "namespace"
`);
  const built = await box.run(['build', '--name', 'dev', '--json'], { cwd: join(box.dir, 'dev'), timeoutMs: 600_000 });
  if (built.code !== 0) throw new Error(`build failed: ${built.stderr.split('\n').filter((l) => !l.startsWith('{"progress"')).join('\n')}`);
  envId = JSON.parse(built.stdout).env_id;
  upper = join(box.store, 'env', envId, 'upper');
});
test.after.always(() => {
  if (box) rmSync(box.dir, { recursive: true, force: true });
});

/** Paths under `dir` (relative) that are not overlay whiteouts (0/0 character devices). */
function realEntries(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    let names: string[];
    try {
      names = readdirSync(join(dir, rel));
    } catch {
      return;
    }
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      const st = lstatSync(join(dir, r));
      if (st.isCharacterDevice() && st.rdev === 0) continue;
      out.push(r);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

let layer = '';

serial('a build\'s packages land in a read-only packages layer: the upper dir is empty and diff prints nothing', async (t) => {
  const meta = JSON.parse(readFileSync(join(box.store, 'store', 'metadata', `${envId}.json`), 'utf8'));
  t.regex(meta.packages_layer, /^[0-9a-f]{16}-[0-9a-f]{8}$/);
  layer = join(box.store, 'packages', meta.packages_layer, 'root');
  // The install happened: hello's files are in the packages layer, not in the upper dir.
  t.true(lstatSync(join(layer, 'usr/bin/hello')).isFile());
  t.deepEqual(realEntries(upper), []);
  // Caches are gone; the package lists stay, compressed (apt's config, written by the build, is in the layer too).
  t.deepEqual(realEntries(join(layer, 'var/cache/apt/archives')).filter((p) => p.endsWith('.deb')), []);
  t.deepEqual(realEntries(join(layer, 'var/cache/apt')).filter((p) => p.endsWith('.bin')), []);
  t.regex(readFileSync(join(layer, APT_CONFIG_FILE), 'utf8'), /^Acquire::GzipIndexes "true";$/m);
  const lists = realEntries(join(layer, 'var/lib/apt/lists'));
  const indexes = lists.filter((p) => /_(Packages|Translation-[^/]*)(\.[a-z0-9]+)?$/.test(p));
  t.true(indexes.some((p) => /_Packages\.lz4$/.test(p)), lists.join(' '));
  t.deepEqual(indexes.filter((p) => !p.endsWith('.lz4')), [], 'every index is kept compressed');
  const kib = (dir: string) => Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]);
  const listsKib = kib(join(layer, 'var/lib/apt/lists'));
  const layerKib = kib(layer);
  t.log(`packages layer after the build: ${layerKib} KiB, of which the package lists ${listsKib} KiB`);
  // Uncompressed, with translations, bookworm's main lists are about 80 MiB.
  t.true(listsKib < 32 * 1024, `lists are ${listsKib} KiB`);
  // hello and dpkg's bookkeeping are a few MiB.
  t.true(layerKib - listsKib < 8 * 1024, `packages layer without its lists is ${layerKib - listsKib} KiB`);
  const diff = await box.json(['diff', 'dev']);
  t.deepEqual([diff.added, diff.modified, diff.removed], [[], [], []]);
  // The env sees the packages (and the base) through it.
  t.is((await box.run(['exec', 'dev', '--', 'hello'])).stdout.trim(), 'Hello, world!');
});

serial('a second env with the same base and packages runs on the same packages layer: no install, under 1 MiB of new disk', async (t) => {
  box.write('second/karapace.toml', `manifest_version = 1
[base]
image = "${debianRootfsTarball()}"
[system]
packages = ["hello"]
[mounts]
work = "./work:/work"
[runtime]
backend = "namespace"
`);
  box.write('second/work/.keep', '');
  const du = () => Number(execFileSync('du', ['-sk', box.store], { encoding: 'utf8' }).split('\t')[0]);
  const before = du();
  const built = await box.run(['build', '--name', 'second', '--json'], { cwd: join(box.dir, 'second'), timeoutMs: 600_000 });
  t.is(built.code, 0, built.stderr);
  const second = JSON.parse(built.stdout);
  t.not(second.env_id, envId);
  t.deepEqual(second.packages, JSON.parse(readFileSync(join(box.store, 'store', 'metadata', `${envId}.json`), 'utf8')).lock.resolved_packages);
  const grew = du() - before;
  t.log(`second build: store grew ${grew} KiB`);
  t.true(grew <= 1024, `grew ${grew} KiB`);
  const meta = JSON.parse(readFileSync(join(box.store, 'store', 'metadata', `${second.env_id}.json`), 'utf8'));
  t.is(join(box.store, 'packages', meta.packages_layer, 'root'), layer);
  t.is(readdirSync(join(box.store, 'packages')).length, 1);
  // One file on disk: both envs see the packages layer's inode.
  const inode = String(lstatSync(join(layer, 'usr/bin/hello')).ino);
  for (const name of ['dev', 'second']) {
    const r = await box.run(['exec', name, '--', 'stat', '-c', '%i', '/usr/bin/hello']);
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout.trim(), inode, name);
  }
  const diff = await box.json(['diff', 'second']);
  t.deepEqual([diff.added, diff.modified, diff.removed], [[], [], []]);
});

/** Bytes of the blobs a karapace-server holds (loose and packed). */
async function serverBytes(server: TestServer): Promise<number> {
  let n = 0;
  for (const b of (await serverBlobs(join(server.dir, 'data'))).values()) n += b.length;
  return n;
}

serial('pushing a second env on the same packages layer uploads only its own blobs; a pull runs it on the pulled layer', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.stop());
  const env = { KARAPACE_REMOTE_TOKEN: WRITE_TOKEN };
  const first = await box.json(['push', 'dev', 'dev@v1', '--remote', server.url], { env });
  const afterFirst = await serverBytes(server);
  const second = await box.json(['push', 'second', 'second@v1', '--remote', server.url], { env });
  const grew = (await serverBytes(server)) - afterFirst;
  t.log(`first push: ${first.uploaded.bytes} bytes; second: ${second.uploaded.bytes} uploaded, ${second.skipped.bytes} skipped; the server grew ${grew} bytes`);
  // The base and the packages layer are the first push's blobs: the second sends its (empty) upper dir and its manifest.
  t.true(second.skipped.bytes > 100 * 1024 * 1024, 'the base and the packages layer were not sent again');
  t.true(second.uploaded.bytes <= 64 * 1024, `uploaded ${second.uploaded.bytes} bytes`);
  // An upper dir not pushed before is streamed; the server keeps only what it lacked (dev's upper dir was empty too).
  t.true(grew <= second.uploaded.bytes, `the server grew ${grew} bytes`);

  const other = sandbox('kp-debian-pull-');
  t.teardown(() => rmSync(other.dir, { recursive: true, force: true }));
  other.write('work/.keep', ''); // the env's mount, relative to where it is pulled
  const pulled = await other.json(['pull', 'second@v1', '--remote', server.url], { env });
  const meta = JSON.parse(readFileSync(join(other.store, 'store', 'metadata', `${pulled.env_id}.json`), 'utf8'));
  t.is(JSON.parse(readFileSync(join(other.store, 'packages', meta.packages_layer, 'layer.json'), 'utf8')).origin, 'pull');
  const hello = await other.run(['exec', pulled.env_id, '--', 'hello']);
  t.is(hello.code, 0, hello.stderr);
  t.is(hello.stdout.trim(), 'Hello, world!');
  const diff = await other.json(['diff', pulled.env_id]);
  t.deepEqual([diff.added, diff.modified, diff.removed], [[], [], []]);
});

serial('gc keeps a packages layer an env still runs on', async (t) => {
  await box.json(['destroy', 'second']);
  t.false((await box.json(['gc'])).removed.some((c: { kind: string }) => c.kind === 'packages'));
  t.true(lstatSync(layer).isDirectory());
});

async function sh(script: string): Promise<string> {
  const r = await box.run(['exec', 'dev', '--', 'sh', '-c', script]);
  if (r.code !== 0) throw new Error(`exec failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** Objects in the store: hash → size. */
function objects(): Map<string, number> {
  const dir = join(box.store, 'store', 'objects');
  const out = new Map<string, number>();
  for (const s of readdirSync(dir)) for (const r of readdirSync(join(dir, s))) out.set(s + r, lstatSync(join(dir, s, r)).size);
  return out;
}
const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

const MiB = 1 << 20;
const commits: { layer: string; tree: string }[] = [];

serial('three one-file commits each grow the store by about the file\'s size', async (t) => {
  const first = await box.json(['commit', 'dev', '-m', 'after build']);
  t.false(first.unchanged);
  t.log(`first commit: ${first.layer.size} bytes as a tar, ${first.added.bytes} bytes stored`);
  for (let i = 1; i <= 3; i++) {
    const before = total(objects());
    await sh(`head -c ${MiB} /dev/urandom > /srv/data`);
    const c = await box.json(['commit', 'dev', '-m', `data ${i}`]);
    const growth = total(objects()) - before;
    t.log(`commit ${i}: store grew ${growth} bytes for a ${MiB}-byte file (tar ${c.layer.size} bytes)`);
    t.true(growth >= MiB && growth <= MiB + 64 * 1024, `grew ${growth} bytes`);
    t.is(c.added.bytes, growth);
    commits.push({ layer: c.layer.hash, tree: c.layer.tree });
  }
  const unchanged = await box.json(['commit', 'dev']);
  t.true(unchanged.unchanged);
});

serial('removing a snapshot frees exactly its unique objects', async (t) => {
  const before = objects();
  const snaps = (await box.json(['snapshots', 'dev'])).snapshots;
  const victim = snaps.findIndex((s: { layer: string }) => s.layer === commits[1]!.layer) + 1;
  const data = hashBytes(readFileSync(join(upper, 'srv/data')));
  const rm = await box.json(['snapshots', 'rm', 'dev', String(victim)]);
  const after = objects();
  const gone = [...before.keys()].filter((h) => !after.has(h));
  // Its tree and the second data file, which no other snapshot holds.
  t.is(gone.length, 2);
  t.true(gone.includes(commits[1]!.tree));
  t.is(rm.freed.objects, 2);
  t.is(rm.freed.bytes, total(before) - total(after));
  t.true(rm.freed.bytes >= MiB);
  t.false(gone.includes(data), 'the current data file is kept');
  t.true(after.has(data));
  t.true((await box.json(['verify-store'])).ok);
});

/**
 * Path → type, mode, owner, links, xattrs, content or target, for every entry of the upper
 * dir. Not overlayfs's private bookkeeping (origin, impure: not data, never stored) and not
 * the link count of whiteouts (the unpacker may make them links of one node).
 */
function describe(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const n of readdirSync(join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const p = join(dir, r);
      const st = lstatSync(p);
      const xs = st.isSymbolicLink() ? '' : xattr.listAttributesSync(p).filter((k) => !/^(trusted|user)\.overlay\.(origin|impure|redirect|metacopy)$/.test(k))
        .sort().map((k) => `${k}=${xattr.getAttributeSync(p, k)?.toString('hex')}`).join(',');
      const links = st.isCharacterDevice() && st.rdev === 0 ? '-' : String(st.nlink);
      const body = st.isFile() ? readFileSync(p).subarray(0, 64).toString('hex') : st.isSymbolicLink() ? readlinkSync(p) : st.isCharacterDevice() ? `c${st.rdev}` : '';
      out.push(`${r} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${links} ${xs} ${body}`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

serial('restore round-trips owners, modes, xattrs, hardlinks and deletions', async (t) => {
  await sh([
    'mkdir -p /srv/app && echo conf > /srv/app/conf && chmod 640 /srv/app/conf && chown 1000:1000 /srv/app/conf',
    'ln /srv/app/conf /srv/app/hard && ln -s app/conf /srv/link',
    'echo x > /srv/suid && chown 2:3 /srv/suid && chmod 4755 /srv/suid',
    'rm /etc/issue && rm -r /usr/share/doc/hello',
  ].join(' && '));
  xattr.setAttributeSync(join(upper, 'srv/app/conf'), 'user.note', Buffer.from([0, 0xff, 0x10]));
  const before = describe(upper);
  await box.json(['commit', 'dev', '-m', 'shaped']);
  await sh('echo changed > /srv/app/conf && rm /srv/app/hard /srv/suid && echo back > /etc/issue && echo new > /srv/new');
  t.notDeepEqual(describe(upper), before);
  const r = await box.json(['restore', 'dev']);
  t.deepEqual(r.warnings, []);
  t.deepEqual(describe(upper), before);
  // What the environment sees: the deletions hold, owners and modes are as committed.
  t.is((await sh('test -e /etc/issue && echo present || echo gone; test -e /usr/share/doc/hello && echo present || echo gone')).trim(), 'gone\ngone');
  t.is((await sh('stat -c "%u:%g %a %h" /srv/app/conf /srv/suid')).trim(), '1000:1000 640 2\n2:3 4755 1');
});

/** The content object of a file's bytes. */
function objectOf(file: string): string {
  const h = hashBytes(readFileSync(file));
  return join(box.store, 'store', 'objects', h.slice(0, 2), h.slice(2));
}

serial('a packages layer\'s files are its content objects, on disk once; its own tar is unchanged', async (t) => {
  const meta = JSON.parse(readFileSync(join(box.store, 'store', 'metadata', `${envId}.json`), 'utf8'));
  const record = JSON.parse(readFileSync(join(box.store, 'packages', meta.packages_layer, 'layer.json'), 'utf8'));
  t.regex(record.tree, /^[0-9a-f]{64}$/);
  // Linking changed no byte of the layer's tar (no new hard links inside it, same entries).
  const { packTree, StreamHasher } = await import('@karapace/kernel');
  const tar = new StreamHasher();
  for await (const c of packTree(layer, {})) tar.update(c);
  t.deepEqual({ hash: tar.digest(), size: tar.size }, record.tar);
  const hello = join(layer, 'usr/bin/hello');
  t.is(lstatSync(objectOf(hello)).ino, lstatSync(hello).ino);
  // du counts an inode once: the objects add only the tree and the few files left as copies.
  const kib = (...dirs: string[]) => Number(execFileSync('du', ['-skc', ...dirs], { encoding: 'utf8' }).trim().split('\n').at(-1)!.split('\t')[0]);
  const objects = join(box.store, 'store', 'objects');
  const layerKib = kib(layer);
  const extra = kib(layer, objects) - layerKib;
  t.log(`packages layer ${layerKib} KiB; the object store adds ${extra} KiB beside it (snapshots included)`);
  t.true(extra < layerKib / 4 + 4 * 1024, `objects add ${extra} KiB`);
});

serial('a rebuild\'s packages layer shares its unchanged files with the old layer: one inode', async (t) => {
  box.write('third/karapace.toml', `manifest_version = 1
[base]
image = "${debianRootfsTarball()}"
[system]
packages = ["hello"]
[mounts]
third = "./w:/w"
[runtime]
backend = "namespace"
`);
  box.write('third/w/.keep', '');
  const cwd = join(box.dir, 'third');
  t.is((await box.run(['build', '--name', 'third'], { cwd, timeoutMs: 600_000 })).code, 0);
  const rebuilt = await box.run(['rebuild', 'karapace.toml'], { cwd, timeoutMs: 600_000 });
  t.is(rebuilt.code, 0, rebuilt.stderr);
  const id = JSON.parse((await box.run(['list', '--json'])).stdout).environments.find((e: { name?: string }) => e.name === 'third').env_id;
  const fresh = JSON.parse(readFileSync(join(box.store, 'store', 'metadata', `${id}.json`), 'utf8')).packages_layer;
  const freshRoot = join(box.store, 'packages', fresh, 'root');
  t.not(freshRoot, layer);
  t.is(lstatSync(join(freshRoot, 'usr/bin/hello')).ino, lstatSync(join(layer, 'usr/bin/hello')).ino);
  const r = await box.run(['exec', 'third', '--', 'hello']);
  t.is(r.stdout.trim(), 'Hello, world!', r.stderr);
});

serial('writing to a packages-layer file in an env never changes its object; a change on the host is a corrupt object for verify-store', async (t) => {
  const hello = join(layer, 'usr/bin/hello');
  const object = objectOf(hello);
  const original = readFileSync(hello);
  await sh('echo appended >> /usr/bin/hello && chmod 700 /usr/bin/hello');
  // Copied up: the env's file is in its upper dir, a new inode; the layer and the object are as they were.
  t.not(lstatSync(join(upper, 'usr/bin/hello')).ino, lstatSync(object).ino);
  t.true(readFileSync(hello).equals(original));
  t.true(readFileSync(object).equals(original));
  t.true((await box.json(['verify-store'])).ok);
  // Written in place on the host (what nothing in karapace does): verify-store names the object.
  writeFileSync(hello, Buffer.concat([original, Buffer.from('tampered')]));
  const bad = await box.run(['verify-store', '--json']);
  t.not(bad.code, 0);
  const problems = JSON.parse(bad.stdout).problems as { kind: string; path: string }[];
  t.true(problems.some((p) => p.kind === 'object' && p.path === object), bad.stdout);
  writeFileSync(hello, original);
  t.true((await box.json(['verify-store'])).ok);
});

serial('gc removes a packages layer with the last env that ran on it, and the objects only it used', async (t) => {
  t.true(lstatSync(layer).isDirectory());
  const helloObject = objectOf(join(layer, 'usr/bin/hello'));
  await box.json(['destroy', 'dev']);
  const gc = await box.json(['gc']);
  t.deepEqual(gc.removed.filter((c: { kind: string }) => c.kind === 'packages').length, 1);
  t.deepEqual(readdirSync(join(box.store, 'packages')).length, 1);
  // Still the rebuilt layer's.
  t.true(existsSync(helloObject));
  await box.json(['destroy', 'third']);
  const last = await box.json(['gc']);
  t.true(last.removed.some((c: { kind: string; path: string }) => c.kind === 'object' && c.path === helloObject));
  t.deepEqual(readdirSync(join(box.store, 'packages')), []);
  t.false(existsSync(helloObject));
  t.true((await box.json(['verify-store'])).ok);
});
