/**
 * Packs (issue 18): a commit of many new files writes them into one pack file, through the
 * real CLI on the mock backend (its upper dir is the environment's root). Restore gives back
 * owners, modes, xattrs, hard links and deletions from packed objects; `snapshots rm` and gc
 * free exactly the dead objects inside packs (du of the packs); verify-store names a flipped
 * byte, a truncated pack and a damaged index; a commit killed after its pack is written
 * leaves a store that gc cleans and that commits again; a layer's identity (its tar) is the
 * same packed or loose.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashBytes, ingestTar, packTree, putObject, readObjectSync, serializeTree, storeLayout, treeTar } from '@karapace/kernel';
import { mockManifest, sandbox, type Sandbox } from '../../helpers/cli.js';
import { collectChunks, isRoot, tempDir } from '../../helpers/tree-fixture.js';

async function env(t: { teardown(fn: () => void): void }): Promise<{ box: Sandbox; upper: string }> {
  const box = sandbox('kp-packs-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  box.write('dev/karapace.toml', mockManifest({ packages: ['git'] }));
  const built = await box.json(['build', '--name', 'dev'], { cwd: join(box.dir, 'dev') });
  return { box, upper: join(box.store, 'env', built.env_id, 'upper') };
}

const packsDir = (box: Sandbox) => join(box.store, 'store', 'packs');
const packs = (box: Sandbox) => readdirSync(packsDir(box), { withFileTypes: true }).filter((d) => d.name.endsWith('.pack')).map((d) => d.name).sort();
const looseObjects = (box: Sandbox) => {
  const dir = join(box.store, 'store', 'objects');
  return readdirSync(dir).flatMap((s) => readdirSync(join(dir, s)).map((r) => s + r));
};
const packBytes = (box: Sandbox) => packs(box).reduce((n, p) => n + statSync(join(packsDir(box), p)).size, 0);
const du = (dir: string) => Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);

/** `n` files of distinct content under `dir`, `tag` in each; their contents' total size. */
function files(dir: string, n: number, tag: string): { bytes: number; hashes: string[] } {
  mkdirSync(dir, { recursive: true });
  let bytes = 0;
  const hashes: string[] = [];
  for (let i = 0; i < n; i++) {
    const content = Buffer.alloc(1000 + i, i % 251);
    content.write(`${tag} ${i}\n`);
    writeFileSync(join(dir, `f${i}`), content);
    bytes += content.length;
    hashes.push(hashBytes(content));
  }
  return { bytes, hashes };
}

/** The tree: path, type, mode, owner, size, content, link target, xattrs, and which paths share an inode. */
const DIGEST = `
import os, sys, hashlib
root = sys.argv[1]; inodes = {}; out = []
for d, dirs, files in os.walk(root):
    dirs.sort()
    for n in sorted(dirs + files):
        p = os.path.join(d, n); st = os.lstat(p); rel = os.path.relpath(p, root)
        first = inodes.setdefault(st.st_ino, rel)
        body = hashlib.sha256(open(p, 'rb').read()).hexdigest() if os.path.isfile(p) and not os.path.islink(p) else (os.readlink(p) if os.path.islink(p) else '')
        xa = sorted((k, os.getxattr(p, k, follow_symlinks=False)) for k in os.listxattr(p, follow_symlinks=False))
        out.append(repr((rel, st.st_mode, st.st_uid, st.st_gid, body, xa, first)))
sys.stdout.write(hashlib.sha256('\\n'.join(out).encode()).hexdigest())
`;
function treeDigest(dir: string): string {
  return execFileSync('python3', ['-c', DIGEST, dir], { encoding: 'utf8' });
}

test('a commit of many new files writes one pack; restore gives back owners, modes, xattrs, hard links and deletions from it', async (t) => {
  const { box, upper } = await env(t);
  files(join(upper, 'many'), 400, 'one');
  writeFileSync(join(upper, 'gone-later'), 'deleted after snapshot 1\n');
  writeFileSync(join(upper, 'mode'), 'mode 640\n');
  chmodSync(join(upper, 'mode'), 0o640);
  linkSync(join(upper, 'many', 'f1'), join(upper, 'hardlink'));
  writeFileSync(join(upper, 'xattr'), 'with an xattr\n');
  execFileSync('python3', ['-c', `import os; os.setxattr(${JSON.stringify(join(upper, 'xattr'))}, 'user.kp', b'packed')`]);
  if (isRoot) chownSync(join(upper, 'mode'), 1234, 5678);
  const s1 = await box.json(['commit', 'dev']);
  t.is(packs(box).length, 1, 'one pack');
  t.deepEqual(looseObjects(box), [s1.layer.tree], 'nothing else loose: only the tree');
  const digest1 = treeDigest(upper);

  rmSync(join(upper, 'gone-later'));
  rmSync(join(upper, 'many'), { recursive: true });
  writeFileSync(join(upper, 'after'), 'in snapshot 2\n');
  const s2 = await box.json(['commit', 'dev']);
  t.is(packs(box).length, 1, 'a small commit adds no pack');
  const digest2 = treeDigest(upper);

  t.is((await box.run(['restore', 'dev', '1'])).code, 0);
  t.is(treeDigest(upper), digest1);
  t.is(statSync(join(upper, 'hardlink')).ino, statSync(join(upper, 'many', 'f1')).ino);
  t.is(statSync(join(upper, 'mode')).mode & 0o777, 0o640);
  if (isRoot) t.is(statSync(join(upper, 'mode')).uid, 1234);
  t.is(execFileSync('python3', ['-c', `import os,sys; sys.stdout.write(os.getxattr(${JSON.stringify(join(upper, 'xattr'))}, 'user.kp').decode())`], { encoding: 'utf8' }), 'packed');
  t.is(readFileSync(join(upper, 'gone-later'), 'utf8'), 'deleted after snapshot 1\n');
  t.is((await box.run(['restore', 'dev', '2'])).code, 0);
  t.is(treeDigest(upper), digest2);
  t.false(readdirSync(upper).includes('gone-later'));
  t.not(s1.layer.hash, s2.layer.hash);
  t.true((await box.json(['verify-store'])).ok);
});

test('a layer packed or loose is the same layer: the same tar, the same tree; the packed one gives the tar back byte for byte', async (t) => {
  const root = tempDir(t, 'kp-packs-same-');
  files(root, 300, 'same');
  // Objects larger than half a write slab go straight to the file, between small ones.
  for (const [i, size] of [3 << 20, 5 << 20, (2 << 20) + 1, 9 << 20].entries()) {
    const big = Buffer.alloc(size, 7 + i);
    big.write(`big ${i}`);
    writeFileSync(join(root, `f${i * 70 + 5}-big`), big);
  }
  const tar = await collectChunks(packTree(root));
  const a = storeLayout(tempDir(t, 'kp-packs-a-'));
  const packed = await ingestTar(a, packTree(root));
  const loose = await ingestTar(storeLayout(tempDir(t, 'kp-packs-b-')), packTree(root), undefined, { pack: false });
  t.is(packed.tarHash, loose.tarHash);
  t.deepEqual(packed.entries, loose.entries);
  t.is(packed.written.filter((p) => p.endsWith('.pack')).length, 1);
  t.is(loose.written.filter((p) => p.endsWith('.pack')).length, 0);
  const tree = await putObject(a, serializeTree(packed.entries));
  t.true((await collectChunks(treeTar(a, tree, { hash: packed.tarHash, size: packed.tarSize }))).equals(tar));
  for (const e of packed.entries) if (e.content) t.is(hashBytes(readObjectSync(a, e.content)), e.content);
});

test('snapshots rm and gc free exactly the dead objects inside packs (du of the packs)', async (t) => {
  const { box, upper } = await env(t);
  files(join(upper, 'shared'), 300, 'shared');
  const s1 = await box.json(['commit', 'dev']);
  const only2 = files(join(upper, 'only2'), 300, 'only in 2');
  const s2 = await box.json(['commit', 'dev']);
  rmSync(join(upper, 'only2'), { recursive: true });
  writeFileSync(join(upper, 'small'), 'three\n');
  await box.json(['commit', 'dev']);
  t.is(packs(box).length, 2);
  const before = packBytes(box);
  const beforeDu = du(packsDir(box));

  const rm = await box.json(['snapshots', 'rm', 'dev', '2']);
  // Its 300 unique contents (all in the second pack) and its tree (loose).
  t.is(rm.freed.objects, 301);
  t.true(rm.freed.bytes > only2.bytes);
  t.is(packs(box).length, 1, 'the pack that held only snapshot 2\'s contents is gone');
  t.is(before - packBytes(box), only2.bytes + 300 * 48 + 8 + 24);
  t.true(beforeDu - du(packsDir(box)) >= only2.bytes);
  t.true((await box.json(['verify-store'])).ok);
  t.deepEqual((await box.json(['gc', '--dry-run'])).removed.filter((c: { kind: string }) => c.kind !== 'staging'), []);

  // A pack partly dead: once snapshots 1 and 3 are gone, half of the shared pack is only
  // theirs (those files changed in snapshot 4, loose: fewer than a pack's worth).
  for (let i = 0; i < 150; i++) writeFileSync(join(upper, 'shared', `f${i}`), `changed ${i}\n`);
  await box.json(['commit', 'dev']);
  t.is(packs(box).length, 1);
  const whole = packBytes(box);
  t.true((await box.json(['snapshots', 'rm', 'dev', '1'])).freed.layer);
  t.is(packBytes(box), whole, 'snapshot 3 still references the whole pack');
  const rm3 = await box.json(['snapshots', 'rm', 'dev', '1']);
  const dead = Array.from({ length: 150 }, (_, i) => 1000 + i).reduce((a, b) => a + b, 0);
  t.is(rm3.freed.objects, 151, '150 contents and the tree');
  t.is(whole - packBytes(box), dead + 150 * 48, 'the pack rewritten without exactly its dead objects');
  t.is((await box.run(['restore', 'dev', '1'])).code, 0);
  t.is(readFileSync(join(upper, 'shared', 'f200')).subarray(0, 11).toString(), 'shared 200\n');
  t.is(readFileSync(join(upper, 'shared', 'f20'), 'utf8'), 'changed 20\n');
  t.true((await box.json(['verify-store'])).ok);
  t.is(s1.snapshot.index, 1);
  t.is(s2.snapshot.index, 2);
});

test('verify-store names a flipped byte in a pack, a damaged index and a truncated pack; restore refuses the damaged object', async (t) => {
  const { box, upper } = await env(t);
  files(join(upper, 'many'), 300, 'verify');
  await box.json(['commit', 'dev']);
  const [name] = packs(box);
  const path = join(packsDir(box), name!);
  const good = readFileSync(path);
  chmodSync(path, 0o644);

  const flipped = Buffer.from(good);
  flipped[100] ^= 1;
  writeFileSync(path, flipped);
  const verify = async () => JSON.parse((await box.run(['verify-store', '--json'])).stdout);
  let report = await verify();
  t.false(report.ok);
  t.true(report.problems.some((p: { kind: string; path: string; message: string }) => p.kind === 'object' && p.path === path && /packed object .* hashes to/.test(p.message)));
  const restore = await box.run(['restore', 'dev', '1']);
  t.not(restore.code, 0);
  t.regex(restore.stderr, /corrupt/);

  const index = Buffer.from(good);
  index[good.length - 24 - 10] ^= 1;
  writeFileSync(path, index);
  report = await verify();
  t.true(report.problems.some((p: { path: string; message: string }) => p.path === path && /index hashes to/.test(p.message)));

  writeFileSync(path, good);
  truncateSync(path, good.length - 100);
  report = await verify();
  t.true(report.problems.some((p: { path: string; message: string }) => p.path === path && /trailer|truncated/.test(p.message)));
  const missing = await box.run(['restore', 'dev', '1']);
  t.not(missing.code, 0);

  writeFileSync(path, good);
  t.true((await box.json(['verify-store'])).ok);
  t.is((await box.run(['restore', 'dev', '1'])).code, 0);
});

test('a commit killed after its pack is written: no snapshot, gc removes the pack, the next commit stores it again', async (t) => {
  const { box, upper } = await env(t);
  files(join(upper, 'many'), 300, 'crash');
  const killed = await box.run(['commit', 'dev'], { env: { KARAPACE_TEST_CRASH_AT: 'ingest:pack-written' } });
  t.not(killed.code, 0);
  t.is(packs(box).length, 1);
  t.is((await box.json(['snapshots', 'dev'])).snapshots.length, 0);
  t.true((await box.json(['verify-store'])).ok);
  const gc = await box.json(['gc']);
  // The 300 new contents (and what the build left in the upper dir), all in the pack.
  t.true(gc.removed.filter((c: { kind: string }) => c.kind === 'object').length >= 300);
  t.deepEqual(packs(box), []);
  const c = await box.json(['commit', 'dev']);
  t.is(c.snapshot.index, 1);
  t.is(packs(box).length, 1);
  // Killed again after a second pack: the snapshot before still restores, the store verifies.
  writeFileSync(join(upper, 'many', 'f0'), 'changed\n');
  files(join(upper, 'more'), 300, 'crash 2');
  const killed2 = await box.run(['commit', 'dev'], { env: { KARAPACE_TEST_CRASH_AT: 'ingest:pack-written' } });
  t.not(killed2.code, 0);
  t.is((await box.run(['restore', 'dev', '1'])).code, 0);
  t.true((await box.json(['verify-store'])).ok);
});

test('gc rewrites a pack half of whose objects a removed snapshot left behind; killed during the rewrite, the next gc finishes it', async (t) => {
  const { box, upper } = await env(t);
  files(join(upper, 'many'), 300, 'gc');
  await box.json(['commit', 'dev']);
  for (let i = 0; i < 150; i++) writeFileSync(join(upper, 'many', `f${i}`), `changed ${i}\n`);
  await box.json(['commit', 'dev']);
  const whole = packBytes(box);
  // snapshots rm killed after its metadata change: what only snapshot 1 had is left for gc.
  const killed = await box.run(['snapshots', 'rm', 'dev', '1'], { env: { KARAPACE_TEST_CRASH_AT: 'snapshot-rm:metadata' } });
  t.not(killed.code, 0);
  t.is(packBytes(box), whole);
  const dead = Array.from({ length: 150 }, (_, i) => 1000 + i).reduce((a, b) => a + b, 0);
  // Killed after the new pack is named, before the old one goes: both are there, nothing lost.
  const interrupted = await box.run(['gc'], { env: { KARAPACE_TEST_CRASH_AT: 'pack-rewrite:written' } });
  t.not(interrupted.code, 0);
  t.is(packs(box).length, 2);
  t.true((await box.json(['verify-store'])).ok);
  const gc = await box.json(['gc']);
  t.true(gc.removed.filter((c: { kind: string }) => c.kind === 'object').length >= 150);
  t.is(packs(box).length, 1);
  t.is(whole - packBytes(box), dead + 150 * 48);
  t.is((await box.run(['restore', 'dev', '1'])).code, 0);
  t.is(readFileSync(join(upper, 'many', 'f3'), 'utf8'), 'changed 3\n');
  t.is(readFileSync(join(upper, 'many', 'f200')).subarray(0, 7).toString(), 'gc 200\n');
  t.true((await box.json(['verify-store'])).ok);
});

test('a version 2 store is used as it is and becomes version 3 with its first pack, which a karapace knowing only 2 would refuse; migrate turns 2 into 3', async (t) => {
  const { box, upper } = await env(t);
  const version = join(box.store, 'store', 'version');
  t.is(readFileSync(version, 'utf8'), '3\n', 'a new store is written at version 3');
  writeFileSync(version, '2\n');
  writeFileSync(join(upper, 'one'), 'a small commit: loose objects only\n');
  await box.json(['commit', 'dev']);
  t.is(readFileSync(version, 'utf8'), '2\n', 'no pack, no new version');
  files(join(upper, 'many'), 300, 'bump');
  await box.json(['commit', 'dev']);
  t.is(packs(box).length, 1);
  t.is(readFileSync(version, 'utf8'), '3\n', 'the first pack marks the store');
  t.true((await box.json(['verify-store'])).ok);
  // A release that knows versions up to 2 stops at the version file; this one names both it reads.
  writeFileSync(version, '4\n');
  const refused = await box.run(['gc']);
  t.is(refused.code, 3);
  t.regex(refused.stderr, /format version 4; this karapace understands versions 2 and 3/);
  t.regex(refused.stderr, /upgrade karapace/);
  // A reader that finds the index stale does not rebuild it in a newer karapace's store.
  const index = join(box.store, 'store', 'index');
  rmSync(join(index, 'stamp'));
  const listed = await box.run(['list']);
  t.is(listed.code, 3, listed.stdout);
  t.regex(listed.stderr, /format version 4[^]*upgrade karapace/);
  t.false(readdirSync(index).includes('stamp'), 'the index was not rewritten');

  const other = sandbox('kp-packs-v2-');
  t.teardown(() => rmSync(other.dir, { recursive: true, force: true }));
  other.write('dev/karapace.toml', mockManifest({}));
  await other.json(['build', '--name', 'dev'], { cwd: join(other.dir, 'dev') });
  writeFileSync(join(other.store, 'store', 'version'), '2\n');
  const migrated = await other.json(['migrate']);
  t.is(migrated.version, 2);
  t.true(migrated.migrated);
  t.is(readFileSync(join(other.store, 'store', 'version'), 'utf8'), '3\n');
  const again = await other.json(['migrate']);
  t.false(again.migrated);
  t.is(again.version, 3);
});
