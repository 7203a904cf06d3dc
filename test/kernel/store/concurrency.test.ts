/**
 * Many CLI processes against one store at once: each succeeds or fails with the clear
 * lock error (naming the holder), and the store is consistent afterwards.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireStoreLock, storeLayout } from '@karapace/kernel';
import { mockManifest, sandbox } from '../../helpers/cli.js';

test('concurrent build, commit, destroy, gc and list leave a consistent store', async (t) => {
  const box = sandbox('kp-conc-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  const names = ['a', 'b', 'c', 'd'];
  for (const [i, n] of names.entries()) box.write(`${n}/karapace.toml`, mockManifest({ packages: [`pkg${i}`] }));
  await box.json(['build', '--name', 'a'], { cwd: join(box.dir, 'a') });
  await box.json(['build', '--name', 'b'], { cwd: join(box.dir, 'b') });

  const runs = [
    box.run(['build', '--name', 'c'], { cwd: join(box.dir, 'c') }),
    box.run(['build', '--name', 'd'], { cwd: join(box.dir, 'd') }),
    box.run(['commit', 'a', '-m', 'x']),
    box.run(['commit', 'a', '-m', 'y']),
    box.run(['commit', 'b']),
    box.run(['destroy', 'b']),
    box.run(['gc']),
    box.run(['gc', '--dry-run']),
    box.run(['list']),
    box.run(['list']),
    box.run(['snapshots', 'a']),
    box.run(['verify-store']),
  ];
  const results = await Promise.all(runs);
  for (const r of results) {
    if (r.code === 0) continue;
    // The only acceptable failures: the lock was busy, or destroy/commit raced on env b.
    t.regex(r.stderr, /locked by another karapace command|no environment "b"/, r.stderr);
  }
  t.true(results.filter((r) => r.code === 0).length >= 6, 'most commands got through');

  const verify = await box.run(['verify-store', '--json']);
  t.is(verify.code, 0, verify.stdout);
  const list = await box.json(['list']);
  const present = list.environments.map((e: any) => e.name).sort();
  t.true(present.includes('a'));
  t.is((await box.json(['gc', '--dry-run'])).removed.filter((c: any) => c.kind !== 'layer' && c.kind !== 'object').length, 0);
});

test('a busy store lock names the process holding it, and is free again once that process dies', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'kp-lock-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const layout = storeLayout(root);
  // Another process takes the lock and holds it until killed.
  const holder = spawn(process.execPath, ['--input-type=module', '-e', `
    const { acquireStoreLock, storeLayout } = await import('@karapace/kernel');
    await acquireStoreLock(storeLayout(${JSON.stringify(root)}));
    process.stdout.write('held\\n');
    setInterval(() => {}, 1000);`], { cwd: join(process.cwd(), 'kernel'), stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => holder.kill('SIGKILL'));
  await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
  const err = await t.throwsAsync(acquireStoreLock(layout, { waitMs: 0 }));
  t.regex(err!.message, new RegExp(`locked by another karapace command \\(pid ${holder.pid}\\)`));
  holder.kill('SIGKILL');
  await new Promise((r) => holder.once('exit', r));
  const lock = await acquireStoreLock(layout, { waitMs: 2000 });
  lock.release();
});
