/**
 * Disk full: a store on a 2 MiB tmpfs. build and commit fail with the clear no-space error
 * (exit 3) and leave the store consistent. Needs root for the mount.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mockManifest, sandbox } from '../../helpers/cli.js';
import { mountTmpfs } from '../../helpers/tmpfs.js';

const isRoot = process.geteuid?.() === 0;

if (!isRoot) console.warn('disk-full test skipped: mounting a small tmpfs needs root (CI runs as root)');

(isRoot ? test : test.skip)('build and commit on a full disk fail clearly and leave the store consistent', async (t) => {
  const mnt = mountTmpfs(t, '2m', 'kp-full-');
  if (!mnt) return;
  const box = sandbox('kp-full-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  const env = { KARAPACE_STORE: join(mnt, 'store') };
  box.write('a/karapace.toml', mockManifest({ packages: ['git'] }));
  const built = await box.run(['build', '--name', 'a', '--json'], { cwd: join(box.dir, 'a'), env });
  t.is(built.code, 0, built.stderr);

  // Commit: an upper dir bigger than the free space.
  const big = await box.run(['exec', 'a', '--', 'sh', '-c', 'head -c 1100000 /dev/urandom > big'], { env });
  t.is(big.code, 0, big.stderr);
  const commit = await box.run(['commit', 'a', '--json'], { env });
  t.is(commit.code, 3, commit.stderr);
  t.regex(commit.stderr, /KP_STORE_NO_SPACE/);
  let verify = await box.run(['verify-store', '--json'], { env });
  t.is(verify.code, 0, verify.stdout + verify.stderr);
  t.is((await box.json(['snapshots', 'a'], { env })).snapshots.length, 0);

  // Build: fill the disk, then build a second environment.
  await box.run(['exec', 'a', '--', 'sh', '-c', 'rm -f big'], { env });
  mkdirSync(join(mnt, 'filler'));
  spawnSync('sh', ['-c', `head -c 4000000 /dev/zero > ${join(mnt, 'filler/fill')}`]);
  box.write('b/karapace.toml', mockManifest({ packages: ['curl'] }));
  const b = await box.run(['build', '--name', 'b', '--json'], { cwd: join(box.dir, 'b'), env });
  t.is(b.code, 3, b.stderr);
  t.regex(b.stderr, /KP_STORE_NO_SPACE/);
  rmSync(join(mnt, 'filler'), { recursive: true, force: true });
  verify = await box.run(['verify-store', '--json'], { env });
  t.is(verify.code, 0, verify.stdout + verify.stderr);
  const list = await box.json(['list'], { env });
  t.deepEqual(list.environments.map((e: any) => e.name), ['a']);
  writeFileSync(join(box.dir, 'done'), '');
});
