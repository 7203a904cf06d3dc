/**
 * A large directory packed on a worker thread (layers/pack-tree-thread.ts, a full-tree
 * commit): the same tar as packTree in this thread, byte for byte, and the same stats; the
 * commit's layer is the same layer; a failure in the worker comes back as the packer's. The
 * worker's content hashes (layers/tar-digests.ts) are those of the files' bytes, in tar order.
 */
import test from 'ava';
import { linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  digestsOf, hasEntries, hashBytes, packLayer, packTree, packTreeForIngest, packTreeThreaded, storeLayout, TarDigests, treeTar, THREADED_PACK_MIN_ENTRIES, type PackStats,
} from '@karapace/kernel';
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

/** The regular files with content, in the packer's order (names sorted, a hard link's content once). */
function contentFiles(root: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const walk = (rel: string) => {
    for (const name of readdirSync(rel ? join(root, rel) : root).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, path));
      if (st.isDirectory()) walk(path);
      else if (st.isFile() && st.size > 0 && !seen.has(`${st.dev}:${st.ino}`)) {
        seen.add(`${st.dev}:${st.ino}`);
        out.push(path);
      }
    }
  };
  walk('');
  return out;
}

test('the worker hashes each file\'s content as it reads it: the hashes of the bytes in the tar, in tar order, each there by the chunk holding its last byte', async (t) => {
  const root = tempDir(t, 'kp-pack-thread-digests-');
  bigTree(root);
  const files = contentFiles(root);
  t.true(files.includes('big') && !files.includes('big-link') && files.includes('héllo wörld'));
  const stats: PackStats = { entries: 0, contentBytes: 0 };
  const tar = packTreeForIngest(root, stats);
  const digests = digestsOf(tar);
  if (!digests) return t.fail('a large tree packed for an ingest comes with content hashes');
  // Taken as the ingest takes them: each file's hash once the chunk with its last byte is in.
  const reference = await collectChunks(packTree(root));
  let received = 0;
  let next = 0;
  const ends = new Map<string, number>();
  {
    // Where each file's content ends in the tar (the test's own reading of it, by content).
    let at = 0;
    for (const path of files) {
      const bytes = readFileSync(join(root, path));
      const start = reference.indexOf(bytes, at);
      t.true(start >= 0, path);
      at = start + bytes.length;
      ends.set(path, at);
    }
  }
  for await (const chunk of tar) {
    received += chunk.length;
    while (next < files.length && ends.get(files[next]!)! <= received) {
      const path = files[next++]!;
      t.is(digests.content(path), hashBytes(readFileSync(join(root, path))), path);
    }
  }
  t.is(next, files.length);
  t.is(stats.contentBytes, files.reduce((n, f) => n + lstatSync(join(root, f)).size, 0));
  // A small tree is packed here, without them (the ingest hashes); so is a large one whose
  // consumer's content cache knows its files.
  const small = tempDir(t, 'kp-pack-thread-small-');
  writeFileSync(join(small, 'a'), 'a');
  t.is(digestsOf(packTreeForIngest(small, { entries: 0, contentBytes: 0 })), undefined);
  t.is(digestsOf(packTreeForIngest(root, { entries: 0, contentBytes: 0 }, false)), undefined);
});

test('a large tree\'s first commit has its files hashed on the pack thread; the next takes them from the content cache, and both are the same layer', async (t) => {
  const root = tempDir(t, 'kp-pack-thread-cache-');
  bigTree(root);
  const files = contentFiles(root);
  // Older than the content cache's racy window: only such files are recorded.
  await sleep(2500);
  const layout = storeLayout(tempDir(t, 'kp-pack-thread-cache-store-'));
  const first = await packLayer(layout, root, { kind: 'snapshot' });
  t.is(first.added?.cached, 0);
  const again = await packLayer(layout, root, { kind: 'snapshot' });
  t.is(again.added?.cached, files.length);
  t.is(again.hash, first.hash);
  t.is(again.tree, first.tree);
  // A file changed since is hashed again (on this thread), and the layer says so.
  writeFileSync(join(root, 'many', 'd3', 'f9'), 'changed\n');
  const changed = await packLayer(layout, root, { kind: 'snapshot' });
  t.is(changed.added?.cached, files.length - 1);
  t.not(changed.tree, first.tree);
  t.true((await collectChunks(treeTar(layout, changed.tree!, { hash: changed.object, size: changed.size }))).equals(await collectChunks(packTree(root))));
});

test('content hashes out of step with the tar are a bug, never taken for another file\'s', (t) => {
  const d = new TarDigests();
  d.add(['a', hashBytes('a'), 'b', hashBytes('b')]);
  t.throws(() => d.content('b'), { message: /out of step/ });
  t.is(d.content('a'), hashBytes('a'));
  t.is(d.content('b'), hashBytes('b'));
  t.throws(() => d.content('c'), { message: /out of step.*nothing/ });
});
