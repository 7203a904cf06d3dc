/**
 * Bundle v3's tree code against the store's reference: a push's scan of a directory
 * (tree-scan.ts, nothing stored) gives the tree a commit's ingest gives; the pull's tar
 * rebuilt from a tree (tree-objects.ts) is the store's treeTar byte for byte and is checked
 * against the tar's hash; a tree from a remote with unsafe paths is refused.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashBytes, objectPath, packTree, serializeTree, storeLayout, storeTarAsTree, treeTar, type StoreLayout } from '@karapace/kernel';
import { scanTar } from '../../../kernel/dist/bundle/tree-scan.js';
import { checkedTree, tarFromTree } from '../../../kernel/dist/bundle/tree-objects.js';
import { collectChunks, fixtureTree, tempDir } from '../../helpers/tree-fixture.js';

async function stored(t: { teardown(fn: () => void): void }, root: string): Promise<{ layout: StoreLayout; tree: string; object: string; size: number }> {
  const layout = storeLayout(tempDir(t, 'kp-v3-store-'));
  mkdirSync(layout.objects, { recursive: true });
  const s = await storeTarAsTree(layout, async (consume) => {
    await consume(packTree(root, { reuseBuffers: true }));
    return { entries: 0, contentBytes: 0 };
  });
  if (!s) throw new Error('the fixture is not the packer\'s tar');
  return { layout, tree: s.tree, object: s.object, size: s.size };
}

test('a scan gives the tree and tar hash an ingest gives, and stores nothing', async (t) => {
  const root = tempDir(t, 'kp-v3-src-');
  fixtureTree(root);
  const ref = await stored(t, root);
  const scanned = await scanTar(packTree(root, { reuseBuffers: true }));
  t.truthy(scanned);
  t.is(hashBytes(serializeTree(scanned!.entries)), ref.tree);
  t.is(scanned!.tarHash, ref.object);
  t.is(scanned!.tarSize, ref.size);
});

test('a tar the packer would not write is not scanned into a tree', async (t) => {
  const root = tempDir(t, 'kp-v3-src-');
  writeFileSync(join(root, 'f'), 'x');
  const gnu = spawnSync('tar', ['-C', root, '-cf', '-', 'f']);
  t.is(gnu.status, 0);
  t.is(await scanTar([gnu.stdout]), undefined);
});

test('the tar rebuilt from a tree is the store\'s treeTar byte for byte; another expected hash fails at its end', async (t) => {
  const root = tempDir(t, 'kp-v3-src-');
  fixtureTree(root);
  const ref = await stored(t, root);
  const reference = await collectChunks(treeTar(ref.layout, ref.tree, { hash: ref.object, size: ref.size }));
  const { entries } = checkedTree({ blob: ref.tree, size: 0 }, readFileSync(objectPath(ref.layout, ref.tree)), 'fixture');
  const rebuilt = await collectChunks(tarFromTree(entries, (h) => objectPath(ref.layout, h), { blob: ref.object, size: ref.size }, 'fixture'));
  t.true(rebuilt.equals(reference));
  const err = await t.throwsAsync(collectChunks(tarFromTree(entries, (h) => objectPath(ref.layout, h), { blob: hashBytes('other'), size: ref.size }, 'fixture')));
  t.is((err as { code?: string }).code, 'KP_REMOTE_INTEGRITY');
  // A streamed content of the wrong length is refused too.
  const file = entries.find((e) => e.content)!;
  const short = await t.throwsAsync(collectChunks(tarFromTree([file], async () => [Buffer.alloc(file.size! - 1)], { blob: ref.object, size: ref.size }, 'fixture')));
  t.is((short as { code?: string }).code, 'KP_REMOTE_INTEGRITY');
});

test('a tree with unsafe paths or one content hash with two sizes is refused', (t) => {
  const tree = (...lines: object[]) => Buffer.from(`karapace-tree/1\n${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
  const dir = { gid: 0, mode: 493, uid: 0, type: 'directory' };
  const file = { gid: 0, mode: 420, uid: 0, type: 'file', size: 1, content: hashBytes('x') };
  const cases: [Buffer, RegExp][] = [
    [tree({ ...dir, path: '/etc' }), /absolute/],
    [tree({ ...dir, path: 'a/../../etc' }), /"\.\."/],
    [tree({ ...dir, path: 'a//b' }), /empty/],
    [tree({ gid: 0, mode: 511, uid: 0, type: 'symlink', path: 'l', target: '/etc' }, { ...file, path: 'l/passwd' }), /below the symlink/],
    [tree({ gid: 0, mode: 511, uid: 0, type: 'symlink', path: 'l', target: '/etc' }, { gid: 0, mode: 420, uid: 0, type: 'hardlink', path: 'h', target: 'l/shadow' }), /link target/],
    [tree({ gid: 0, mode: 420, uid: 0, type: 'hardlink', path: 'h', target: '../outside' }), /"\.\."/],
    [tree({ ...file, path: 'a' }, { ...file, path: 'b', size: 2 }), /two sizes/],
    [Buffer.from('not a tree\n'), /tree header/],
  ];
  for (const [bytes, why] of cases) {
    const err = t.throws(() => checkedTree({ blob: hashBytes(bytes), size: bytes.length }, bytes, 'test layer'));
    t.is((err as { code?: string }).code, 'KP_REMOTE_BAD_TREE');
    t.regex(err!.message, why);
  }
  t.notThrows(() => checkedTree({ blob: '0'.repeat(64), size: 0 }, tree({ ...dir, path: 'a' }, { ...file, path: 'a/b' }), 'ok'));
});
