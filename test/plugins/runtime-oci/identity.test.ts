/**
 * The invoking user exists inside under oci: the kernel's passwd/group generator (shared
 * with the namespace backend) is bound read-only over /etc/passwd and /etc/group for
 * exec/enter, built from the env's merged root (a deleted /etc/passwd stays deleted).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../../helpers/busybox-rootfs.js';
import { manifest, ociSandbox, runcUnavailable } from './fixtures.js';

const missing = runcUnavailable() ?? busyboxRootfsUnavailable();
if (missing) console.warn(`runtime-oci identity tests skipped: ${missing}`);
const it = missing ? test.skip : test;
const me = { uid: process.getuid!(), name: spawnSync('id', ['-un'], { encoding: 'utf8' }).stdout.trim() };

async function builtEnv(t: { teardown(fn: () => Promise<void>): void }) {
  const box = ociSandbox({ config: { '@karapace/runtime-oci': { runtime: 'runc' } } });
  t.teardown(() => rm(box.dir, { recursive: true, force: true }));
  box.write('karapace.toml', manifest(busyboxRootfs()));
  const built = await box.json(['build', '--name', 'o']);
  return { box, envDir: join(box.store, 'env', built.env_id) };
}

it('whoami, id -un and the passwd home name the invoking user; HOME is theirs', async (t) => {
  const { box, envDir } = await builtEnv(t);
  const home = join(box.dir, 'home-of-me');
  mkdirSync(home);
  const r = await box.run(['exec', 'o', '--', 'sh', '-c', 'whoami; id -un; echo $HOME; awk -F: -v u=$(id -u) \'$3==u{print $6; exit}\' /etc/passwd; id -gn'], { env: { HOME: home } });
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${me.name}\n${me.name}\n${home}\n${home}\n${spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout.trim()}\n`);
  // Generated in the env's runtime dir; the image and the upper dir are untouched.
  t.regex(readFileSync(join(envDir, 'runtime/passwd'), 'utf8'), new RegExp(`^${me.name}:x:${me.uid}:`, 'm'));
  t.is(readFileSync(join(busyboxRootfs(), 'etc/passwd'), 'utf8').includes(home), false);
  // Bound read-only.
  const w = await box.run(['exec', 'o', '--', 'sh', '-c', 'echo x >> /etc/passwd']);
  t.not(w.code, 0);
});

(missing || process.getuid?.() !== 0 ? test.skip : test)('a /etc/passwd deleted in the env (a whiteout in the upper dir) is not read from the image', async (t) => {
  const { box, envDir } = await builtEnv(t);
  mkdirSync(join(envDir, 'upper/etc'), { recursive: true });
  t.is(spawnSync('mknod', [join(envDir, 'upper/etc/passwd'), 'c', '0', '0']).status, 0);
  const r = await box.run(['exec', 'o', '--', 'sh', '-c', 'cat /etc/passwd; whoami']);
  t.is(r.code, 0, r.stderr);
  t.false(r.stdout.includes('nobody'), r.stdout);
  t.regex(r.stdout, new RegExp(`\\n${me.name}\\n$`));
});
