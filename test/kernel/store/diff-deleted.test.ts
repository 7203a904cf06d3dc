/**
 * diff below deleted and opaque directories: a whited-out directory, or an opaque one
 * (overlayfs's "removed and made again"), hides what the base had there — diff lists each
 * such path as removed, against the base and against a snapshot. The upper dir is written
 * the way overlayfs writes it (0/0 whiteout devices as root, the xattr form otherwise; the
 * `overlay.opaque` xattr), on the mock backend's real store.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { mockManifest, sandbox, type Sandbox } from '../../helpers/cli.js';

const require = createRequire(import.meta.url);
const xattr = require('@napi-rs/xattr') as typeof import('@napi-rs/xattr');

function whiteout(path: string): void {
  if (spawnSync('mknod', ['-m', '000', path, 'c', '0', '0']).status === 0) return;
  closeSync(openSync(path, 'wx', 0o000));
  xattr.setAttributeSync(path, 'user.overlay.whiteout', '');
}

function opaque(dir: string): void {
  xattr.setAttributeSync(dir, 'user.overlay.opaque', 'y');
}

// The store lives under the temp dir: user.* xattrs must work there (tmpfs: Linux ≥ 6.6).
const xattrOk = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-xattr-probe-'));
  try {
    opaque(dir);
    return true;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();
if (!xattrOk) console.warn(`diff-deleted tests skipped: user.* xattrs are not supported under ${tmpdir()}`);
const xtest = xattrOk ? test : test.skip;

async function env(t: { teardown(fn: () => void): void }): Promise<{ box: Sandbox; upper: string; base: string }> {
  const box = sandbox('kp-diffdel-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  box.write('dev/karapace.toml', mockManifest({ packages: ['git'] }));
  const built = await box.json(['build', '--name', 'dev'], { cwd: join(box.dir, 'dev') });
  const upper = join(box.store, 'env', built.env_id, 'upper');
  const base = (await box.json(['inspect', 'dev'])).base.rootfs as string;
  return { box, upper, base };
}

xtest('diff against the base lists what was below a deleted or opaque directory', async (t) => {
  const { box, upper } = await env(t);
  // usr/share/karapace-mock (two files in the base) deleted as a whole.
  mkdirSync(join(upper, 'usr/share'), { recursive: true });
  whiteout(join(upper, 'usr/share/karapace-mock'));
  // etc removed and made again: opaque, with only a new hostname in it.
  mkdirSync(join(upper, 'etc'), { recursive: true });
  writeFileSync(join(upper, 'etc/hostname'), 'new\n');
  opaque(join(upper, 'etc'));
  const diff = await box.json(['diff', 'dev']);
  t.is(diff.against, 'base');
  t.deepEqual(diff.removed, [
    'etc/os-release',
    'usr/share/karapace-mock',
    'usr/share/karapace-mock/README',
    'usr/share/karapace-mock/package-manager',
  ]);
  t.deepEqual(diff.modified, ['etc/hostname'], 'the opaque directory itself is not reported as modified');
  // (The mock package manager's own files under var/ are the only additions.)
  t.deepEqual(diff.added.filter((p: string) => !p.startsWith('var')), []);
  const text = await box.run(['diff', 'dev']);
  t.regex(text.stdout, /^D usr\/share\/karapace-mock\/README$/m);
});

xtest('diff against a snapshot lists base files hidden since, and files made visible again', async (t) => {
  const { box, upper } = await env(t);
  // Snapshot 1: etc is opaque (os-release hidden), with a file of its own.
  mkdirSync(join(upper, 'etc'), { recursive: true });
  writeFileSync(join(upper, 'etc/hostname'), 'karapace-mock\n');
  writeFileSync(join(upper, 'etc/mine'), 'mine\n');
  opaque(join(upper, 'etc'));
  await box.json(['commit', 'dev']);
  t.deepEqual((await box.json(['diff', 'dev'])).removed, [], 'nothing changed since the snapshot');

  // Now: usr/share/karapace-mock deleted; etc no longer opaque (os-release visible again).
  mkdirSync(join(upper, 'usr/share'), { recursive: true });
  whiteout(join(upper, 'usr/share/karapace-mock'));
  xattr.removeAttributeSync(join(upper, 'etc'), 'user.overlay.opaque');
  try {
    xattr.removeAttributeSync(join(upper, 'etc'), 'trusted.overlay.opaque');
  } catch {
    /* not set, or not permitted */
  }
  const diff = await box.json(['diff', 'dev']);
  t.is(diff.against, 'snapshot:1');
  t.deepEqual(diff.removed, ['usr/share/karapace-mock', 'usr/share/karapace-mock/README', 'usr/share/karapace-mock/package-manager']);
  t.deepEqual(diff.added, ['etc/os-release'], 'the base file hidden by the opaque dir in the snapshot is back');
  t.deepEqual(diff.modified, []);
});

xtest('a whiteout below a symlinked base directory is never looked up on the host', async (t) => {
  const { box, upper, base } = await env(t);
  // The base gets a symlink to a host directory (as rootfs have lib -> usr/lib, or absolute links).
  const hostDir = join(box.dir, 'host-dir');
  mkdirSync(join(hostDir, 'inner'), { recursive: true });
  writeFileSync(join(hostDir, 'inner', 'secret'), 'host\n');
  symlinkSync(hostDir, join(base, 'linked'));
  t.teardown(() => rmSync(join(base, 'linked'), { force: true }));
  mkdirSync(join(upper, 'linked'), { recursive: true });
  whiteout(join(upper, 'linked/inner'));
  const diff = await box.json(['diff', 'dev']);
  t.false(diff.removed.some((p: string) => p.includes('secret')), JSON.stringify(diff));
  t.false(diff.removed.includes('linked/inner'), 'linked/inner is not in the base (it is below a symlink)');
});
