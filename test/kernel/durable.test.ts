/**
 * What a pull makes durable at the end (bundle/durable.ts): the directories and the files
 * not flushed early, one by one for a small tree; one syncfs for a large one. Special files
 * are never opened (a FIFO would block).
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TreeFlusher, unflushed } from '../../kernel/dist/bundle/durable.js';

function tree(t: { teardown(fn: () => void): void }): string {
  const root = mkdtempSync(join(tmpdir(), 'kp-durable-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'a/b'), { recursive: true });
  writeFileSync(join(root, 'a/small'), 'x');
  writeFileSync(join(root, 'a/b/big'), Buffer.alloc(2 << 20, 1));
  symlinkSync('small', join(root, 'a/link'));
  execFileSync('mkfifo', [join(root, 'a/fifo')]);
  return root;
}

test('the entries left to sync: directories and unflushed files, no symlinks or FIFOs; too many means syncfs', (t) => {
  const root = tree(t);
  const all = unflushed(root, new Set(), 64)!;
  t.deepEqual([...all].sort(), [root, join(root, 'a'), join(root, 'a/b'), join(root, 'a/b/big'), join(root, 'a/small')].sort());
  const rest = unflushed(root, new Set([join(root, 'a/b/big')]), 64)!;
  t.false(rest.includes(join(root, 'a/b/big')));
  t.true(rest.includes(join(root, 'a/b')));
  t.is(unflushed(root, new Set(), 3), undefined);
});

test('finish syncs a small tree entry by entry and a large one with syncfs, early flushes included', async (t) => {
  const root = tree(t);
  const small = new TreeFlusher();
  small.fileDone(join(root, 'a/b/big'), 2 << 20);
  await small.finish(root);
  const large = mkdtempSync(join(tmpdir(), 'kp-durable-many-'));
  t.teardown(() => rmSync(large, { recursive: true, force: true }));
  for (let i = 0; i < 100; i++) writeFileSync(join(large, `f${i}`), String(i));
  await new TreeFlusher().finish(large);
  // A file that vanished before its flush is an error, not a silently torn pull.
  const failing = new TreeFlusher();
  failing.fileDone(join(root, 'missing'), 2 << 20);
  await t.throwsAsync(failing.finish(root), { code: 'ENOENT' } as never);
});
