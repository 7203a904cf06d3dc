/**
 * Trees (issue 18): a layer tar ingested into content objects + a tree gives back the same
 * tar byte for byte. The golden hashes fix the deterministic pack of a fixed tree (computed
 * with the packer as it was before trees existed) and the tree format: a change to either
 * fails here.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  getObject, hashBytes, ingestTar, objectPath, packTree, parseTree, storeLayout, storeTarAsTree, treeTar, treeTarThreaded, NotCanonical, type StoreLayout,
} from '@karapace/kernel';

import { collectChunks, fixtureTree, isRoot, tempDir } from '../../helpers/tree-fixture.js';
import { mountTmpfs } from '../../helpers/tmpfs.js';

/** The pack of fixtureTree() as root, before trees existed (kernel/src/layers/pack.ts at 7772c56). */
const GOLDEN_TAR = '94b4a1dd3bd03dbc1279c067884586f1ef22f10c9230a94c13e9d965e6b32a52';
/** Its tree object: fixes the tree format. */
const GOLDEN_TREE = '79bea5d6fa7a9057d6176e45ede25f06dc3d07d25fd9f8490115962afc69f9b0';

function store(t: { teardown(fn: () => void): void }): StoreLayout {
  const layout = storeLayout(tempDir(t, 'kp-tree-store-'));
  mkdirSync(layout.objects, { recursive: true });
  return layout;
}

test('a tree gives back the deterministic tar byte for byte (golden)', async (t) => {
  const root = tempDir(t, 'kp-tree-src-');
  fixtureTree(root);
  const tar = await collectChunks(packTree(root, { reuseBuffers: true }));
  const layout = store(t);
  const ingested = await ingestTar(layout, packTree(root, { reuseBuffers: true }));
  t.is(ingested.tarHash, hashBytes(tar));
  t.is(ingested.tarSize, tar.length);
  const stored = await storeTarAsTree(layout, async (consume) => {
    await consume(packTree(root, { reuseBuffers: true }));
    return { entries: 0, contentBytes: 0 };
  });
  t.truthy(stored);
  t.is(stored!.object, hashBytes(tar));
  const again = await collectChunks(treeTar(layout, stored!.tree, { hash: stored!.object, size: stored!.size }));
  t.true(again.equals(tar), 'the tar from the tree differs from the packed tar');

  const entries = parseTree(stored!.tree, await getObject(layout, stored!.tree));
  t.true(entries.some((e) => e.type === 'hardlink' && e.path === 'etc/app/hard' && e.target === 'etc/app/conf'));
  t.true(entries.some((e) => e.type === 'symlink' && e.target === 'app/conf'));
  t.true(entries.some((e) => e.type === 'fifo'));
  // Identical contents are one object: big and same-as-big share theirs.
  const big = entries.filter((e) => e.path === 'big' || e.path === 'same-as-big');
  t.is(new Set(big.map((e) => e.content)).size, 1);
  if (isRoot) {
    t.true(entries.some((e) => e.type === 'whiteout' && e.path === 'gone'));
    t.true(entries.some((e) => e.type === 'opaque' && e.path === 'opq'));
    t.true(entries.some((e) => e.path === 'bigid' && e.uid === 3_000_000 && e.gid === 3_000_001));
    t.is(hashBytes(tar), GOLDEN_TAR, 'the deterministic pack of the fixed tree changed');
    t.is(stored!.tree, GOLDEN_TREE, 'the tree format changed');
  } else t.log('not root: owners differ from the golden fixture; the byte-for-byte round trip was still checked');
});

test('only contents the store lacks are written; a second ingest of the same tree adds nothing', async (t) => {
  const root = tempDir(t, 'kp-tree-src-');
  fixtureTree(root);
  const layout = store(t);
  const first = await ingestTar(layout, packTree(root));
  t.true(first.added.objects > 0);
  // Two files with the same content are stored once.
  t.true(first.added.bytes < first.contentBytes);
  const second = await ingestTar(layout, packTree(root));
  t.deepEqual(second.added, { objects: 0, bytes: 0 });
  writeFileSync(join(root, 'a/new'), 'one new file\n');
  const third = await ingestTar(layout, packTree(root));
  t.deepEqual(third.added, { objects: 1, bytes: 'one new file\n'.length });
});

test('a tar the packer would not write byte for byte is refused, not half-understood', async (t) => {
  const root = tempDir(t, 'kp-tree-src-');
  fixtureTree(root);
  const layout = store(t);
  // GNU tar: mtimes, user names, its own header layout.
  const gnu = spawnSync('tar', ['-cf', '-', '-C', root, 'etc', 'exe'], { maxBuffer: 64 << 20 });
  t.is(gnu.status, 0);
  await t.throwsAsync(ingestTar(layout, [gnu.stdout]), { instanceOf: NotCanonical });
  // The packer's tar with one header byte changed (an mtime) and the checksum fixed.
  const tar = await collectChunks(packTree(root));
  const bent = Buffer.from(tar);
  bent.write('00000000001', 136, 'latin1');
  let sum = 8 * 32;
  for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += bent[i]!;
  bent.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  await t.throwsAsync(ingestTar(layout, [bent]), { instanceOf: NotCanonical });
  // Trailing bytes after the end of the archive.
  await t.throwsAsync(ingestTar(layout, [Buffer.concat([tar, Buffer.from('x')])]), { instanceOf: NotCanonical });
  // Truncated.
  await t.throwsAsync(ingestTar(layout, [tar.subarray(0, tar.length - 1024 - 512)]), { instanceOf: NotCanonical });
  // storeTarAsTree says "not a tree" (the caller stores the tar) instead of failing.
  t.is(await storeTarAsTree(layout, async (consume) => {
    await consume([gnu.stdout]);
    return { entries: 0, contentBytes: 0 };
  }), undefined);
});

test('objects larger than a tar chunk, or straddling two, come back whole and are verified to their last byte', async (t) => {
  const root = tempDir(t, 'kp-tree-big-');
  // 3 MiB then 5 MiB: the second starts inside the first 4 MiB chunk and ends in the third.
  const a = Buffer.alloc(3 << 20, 7);
  const b = Buffer.alloc(5 << 20, 9);
  writeFileSync(join(root, 'a'), a);
  writeFileSync(join(root, 'b'), b);
  const tar = await collectChunks(packTree(root));
  const layout = store(t);
  const stored = (await storeTarAsTree(layout, async (consume) => {
    await consume(packTree(root));
    return { entries: 0, contentBytes: 0 };
  }))!;
  const expect = { hash: stored.object, size: stored.size };
  t.true((await collectChunks(treeTar(layout, stored.tree, expect))).equals(tar));
  for (const [file, bytes] of [['a', a], ['b', b]] as const) {
    const path = objectPath(layout, hashBytes(bytes));
    chmodSync(path, 0o644);
    const damaged = Buffer.from(bytes);
    damaged[damaged.length - 1] ^= 1;
    writeFileSync(path, damaged);
    await t.throwsAsync(collectChunks(treeTar(layout, stored.tree, expect)), { code: 'KP_STORE_OBJECT_CORRUPT', message: new RegExp(hashBytes(bytes)) } as never, file);
    writeFileSync(path, bytes.subarray(1));
    await t.throwsAsync(collectChunks(treeTar(layout, stored.tree, expect)), { code: 'KP_STORE_OBJECT_CORRUPT' } as never, `${file} shorter`);
    writeFileSync(path, bytes);
  }
  t.true((await collectChunks(treeTar(layout, stored.tree, expect))).equals(tar));
});

/** `n` files of distinct 4 KiB contents: more new objects than an ingest writes on its own thread. */
function manyFiles(root: string, n: number): void {
  for (let i = 0; i < n; i++) writeFileSync(join(root, `f${String(i).padStart(4, '0')}`), Buffer.alloc(4096, i % 251).fill(String(i), 0, 8));
}

test('a tree of many new files, kept loose (a packages layer): objects written by the write thread, each verified, the tar given back', async (t) => {
  const root = tempDir(t, 'kp-tree-many-');
  manyFiles(root, 700);
  const tar = await collectChunks(packTree(root));
  const layout = store(t);
  const r = await ingestTar(layout, packTree(root), undefined, { pack: false });
  t.is(r.added.objects, 700);
  for (const e of r.entries) if (e.content) t.is(hashBytes(readFileSync(objectPath(layout, e.content))), e.content);
  t.deepEqual(readdirSync(layout.staging), []);
  const stored = (await storeTarAsTree(layout, async (consume) => {
    await consume(packTree(root));
    return { entries: 0, contentBytes: 0 };
  }))!;
  t.is(stored.added.objects, 1, "only the tree: every content is there");
  t.true((await collectChunks(treeTar(layout, stored.tree, { hash: stored.object, size: stored.size }))).equals(tar));
});

(isRoot ? test : test.skip)('a write failing on the write thread (disk full) fails the ingest with its errno, nothing left in staging', async (t) => {
  const mnt = mountTmpfs(t, '2m', 'kp-tree-full-');
  if (!mnt) return;
  const root = tempDir(t, 'kp-tree-full-src-');
  // 256 objects are written before the thread starts (about 1 MiB here): the rest fill the disk there.
  manyFiles(root, 900);
  const layout = storeLayout(join(mnt, 'store'));
  mkdirSync(layout.objects, { recursive: true });
  await t.throwsAsync(ingestTar(layout, packTree(root), undefined, { pack: false }), { code: 'ENOSPC' } as never);
  t.deepEqual(readdirSync(layout.staging), []);
});

test('a tar made on the worker thread is the one treeTar makes, byte for byte, and fails as it does', async (t) => {
  const root = tempDir(t, 'kp-tree-thread-');
  fixtureTree(root);
  // Several chunks: contents larger than one.
  writeFileSync(join(root, 'big'), Buffer.alloc(9 << 20, 3));
  manyFiles(root, 300);
  const layout = store(t);
  // Loose objects: the test damages one in place (packs: packs.test.ts).
  const stored = (await storeTarAsTree(layout, async (consume) => {
    await consume(packTree(root));
    return { entries: 0, contentBytes: 0 };
  }, undefined, { pack: false }))!;
  const expect = { hash: stored.object, size: stored.size };
  const reference = await collectChunks(treeTar(layout, stored.tree, expect));
  t.true((await collectChunks(treeTarThreaded(layout, stored.tree, expect))).equals(reference));
  // Consumed as the unpacker does: each chunk used before the next-but-one is asked for.
  let previous: Buffer | undefined;
  const parts: Buffer[] = [];
  for await (const chunk of treeTarThreaded(layout, stored.tree, expect)) {
    if (previous) parts.push(Buffer.from(previous));
    previous = chunk;
  }
  parts.push(Buffer.from(previous!));
  t.true(Buffer.concat(parts).equals(reference));

  // A consumer that stops early ends the thread (the test would hang otherwise).
  for await (const chunk of treeTarThreaded(layout, stored.tree, { hash: stored.object, size: stored.size })) {
    t.true(chunk.length > 0);
    break;
  }

  await t.throwsAsync(collectChunks(treeTarThreaded(layout, stored.tree, { hash: '0'.repeat(64), size: stored.size })), { code: 'KP_STORE_TREE_MISMATCH' } as never);
  const big = objectPath(layout, hashBytes(Buffer.alloc(9 << 20, 3)));
  chmodSync(big, 0o644);
  writeFileSync(big, Buffer.alloc(9 << 20, 4));
  const err = await t.throwsAsync(collectChunks(treeTarThreaded(layout, stored.tree, expect)), { code: 'KP_STORE_OBJECT_CORRUPT' } as never);
  t.is((err as { exitCode?: number }).exitCode, 3);
  rmSync(big);
  await t.throwsAsync(collectChunks(treeTarThreaded(layout, stored.tree, expect)), { code: 'KP_STORE_OBJECT_MISSING', message: /big/ } as never);
});

test('a damaged content object or tree fails the tar stream with the object named', async (t) => {
  const root = tempDir(t, 'kp-tree-src-');
  fixtureTree(root);
  const layout = store(t);
  const stored = (await storeTarAsTree(layout, async (consume) => {
    await consume(packTree(root));
    return { entries: 0, contentBytes: 0 };
  }))!;
  const expect = { hash: stored.object, size: stored.size };
  const entries = parseTree(stored.tree, await getObject(layout, stored.tree));
  const conf = entries.find((e) => e.path === 'etc/app/conf')!;
  const path = objectPath(layout, conf.content!);
  chmodSync(path, 0o644);
  writeFileSync(path, 'v2\n');
  await t.throwsAsync(collectChunks(treeTar(layout, stored.tree, expect)), { code: 'KP_STORE_OBJECT_CORRUPT', message: new RegExp(conf.content!) } as never);
  // Longer than the entry says.
  writeFileSync(path, 'v1\nand more\n');
  await t.throwsAsync(collectChunks(treeTar(layout, stored.tree, expect)), { code: 'KP_STORE_OBJECT_CORRUPT' } as never);
  rmSync(path);
  await t.throwsAsync(collectChunks(treeTar(layout, stored.tree, expect)), { code: 'KP_STORE_OBJECT_MISSING', message: /etc\/app\/conf/ } as never);
  writeFileSync(path, 'v1\n');
  t.true((await collectChunks(treeTar(layout, stored.tree, expect))).length === stored.size);
  // A tree whose bytes changed is refused by its hash.
  const treePath = objectPath(layout, stored.tree);
  chmodSync(treePath, 0o644);
  const treeBytes = readFileSync(treePath);
  writeFileSync(treePath, treeBytes.toString('utf8').replace('"mode":416', '"mode":420'));
  await t.throwsAsync(collectChunks(treeTar(layout, stored.tree, expect)), { code: 'KP_STORE_OBJECT_CORRUPT' } as never);
  // The tar's recorded hash is checked at the end too.
  writeFileSync(treePath, treeBytes);
  await t.throwsAsync(collectChunks(treeTar(layout, stored.tree, { hash: '0'.repeat(64), size: stored.size })), { code: 'KP_STORE_TREE_MISMATCH' } as never);
});
