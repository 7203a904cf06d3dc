/**
 * The stat-fingerprint cache of content hashes (issue 18): a commit does not hash a file
 * again whose device, inode, size, mtime and ctime are unchanged, and anything that changes
 * the content changes ctime, even when size and mtime are put back (touch -d).
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashBytes, hasObject, layerTar, packLayer, storeLayout, type LayerRecord } from '@karapace/kernel';
import { setTimeout as sleep } from 'node:timers/promises';

async function tarOf(layout: ReturnType<typeof storeLayout>, record: LayerRecord): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of await layerTar(layout, record)) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

test('a file changed with its size and mtime put back is hashed again (ctime); unchanged files come from the cache', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'kp-content-cache-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'upper');
  const layout = storeLayout(join(root, 'store'));
  mkdirSync(dir);
  writeFileSync(join(dir, 'a'), 'aaaa');
  writeFileSync(join(dir, 'b'), 'bbbb');
  writeFileSync(join(dir, '__proto__'), 'a name like any other');
  // Older than the racy window: only such files are recorded.
  await sleep(2500);
  const first = await packLayer(layout, dir, { kind: 'snapshot' });
  t.is(first.added?.cached, 0);
  writeFileSync(join(dir, 'fresh'), 'just written');
  const second = await packLayer(layout, dir, { kind: 'snapshot' });
  // a, b and __proto__ from the cache; `fresh` was written within the racy window, so it was hashed.
  t.is(second.added?.cached, 3);

  const before = statSync(join(dir, 'a'), { bigint: true });
  writeFileSync(join(dir, 'a'), 'AAAA');
  const ns = before.mtimeNs;
  execFileSync('touch', ['-m', '-d', `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`, join(dir, 'a')]);
  const after = statSync(join(dir, 'a'), { bigint: true });
  t.is(after.size, before.size);
  t.is(after.mtimeNs, before.mtimeNs);
  t.not(after.ctimeNs, before.ctimeNs);
  const third = await packLayer(layout, dir, { kind: 'snapshot' });
  // b and __proto__ (unchanged) from the cache; a's new content hashed: its tree and tar hold AAAA.
  t.is(third.added?.cached, 2);
  t.not(third.object, second.object);
  const tar = await tarOf(layout, third);
  t.true(tar.includes('AAAA'));
  t.false(tar.includes('aaaa'));
  t.true(third.added!.objects >= 1);
  t.true(await hasObject(layout, hashBytes('AAAA')));
});
