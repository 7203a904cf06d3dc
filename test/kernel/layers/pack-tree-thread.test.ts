/**
 * A large directory packed on a worker thread (layers/pack-tree-thread.ts, a full-tree
 * commit): the same tar as packTree in this thread, byte for byte, and the same stats; the
 * commit's layer is the same layer; a failure in the worker comes back as the packer's.
 */
import test from 'ava';
import { linkSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasEntries, hashBytes, packLayer, packTree, packTreeThreaded, storeLayout, treeTar, THREADED_PACK_MIN_ENTRIES, type PackStats } from '@karapace/kernel';
import { collectChunks, fixtureTree, tempDir } from '../../helpers/tree-fixture.js';

function bigTree(root: string): void {
  fixtureTree(root);
  for (let d = 0; d < 30; d++) {
    mkdirSync(join(root, 'many', `d${d}`), { recursive: true });
    for (let i = 0; i < 70; i++) writeFileSync(join(root, 'many', `d${d}`, `f${i}`), `file ${d}/${i}\n`.repeat(i));
  }
  writeFileSync(join(root, 'big'), Buffer.alloc(9 << 20, 5));
  linkSync(join(root, 'big'), join(root, 'big-link'));
  symlinkSync('many/d0/f1', join(root, 'sym'));
}

test('a large tree packed on the worker is packTree\'s tar byte for byte, with the same stats; small trees stay here', async (t) => {
  const root = tempDir(t, 'kp-pack-thread-');
  t.false(hasEntries(root));
  bigTree(root);
  t.true(hasEntries(root));
  t.true(THREADED_PACK_MIN_ENTRIES <= 2100);
  const here: PackStats = { entries: 0, contentBytes: 0 };
  const there: PackStats = { entries: 0, contentBytes: 0 };
  const reference = await collectChunks(packTree(root, { stats: here }));
  // Consumed as the ingest does: each chunk used before the next-but-one is asked for.
  const parts: Buffer[] = [];
  let previous: Buffer | undefined;
  for await (const chunk of packTreeThreaded(root, there)) {
    if (previous) parts.push(Buffer.from(previous));
    previous = chunk;
  }
  parts.push(Buffer.from(previous!));
  t.true(Buffer.concat(parts).equals(reference));
  t.deepEqual(there, here);

  // The commit's layer (packed on the worker) is the layer of that tar, and gives it back.
  const layout = storeLayout(tempDir(t, 'kp-pack-thread-store-'));
  const record = await packLayer(layout, root, { kind: 'snapshot' });
  t.is(record.object, hashBytes(reference));
  t.is(record.size, reference.length);
  t.true((await collectChunks(treeTar(layout, record.tree!, { hash: record.object, size: record.size }))).equals(reference));

  // A consumer that stops early ends the worker (the test would hang otherwise).
  for await (const chunk of packTreeThreaded(root)) {
    t.true(chunk.length > 0);
    break;
  }
});

test('a failure on the worker is the packer\'s error, with its code', async (t) => {
  const root = tempDir(t, 'kp-pack-thread-missing-');
  await t.throwsAsync(collectChunks(packTreeThreaded(join(root, 'nothing-here'))), { code: 'ENOENT' } as never);
});
