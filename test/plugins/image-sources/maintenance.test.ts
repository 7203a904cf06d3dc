/** The plugin's doctor checks and its gc tap, on real files and a real cache. */
import anyTest from 'ava';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DoctorReport, GcContext } from '@karapace/kernel';
import { collectImages, doctorChecks, which } from '@karapace/image-sources';
import { busyboxMissing, busyboxTarball, tempStore } from './_helpers.js';

const test = anyTest;
const busyboxTest = busyboxMissing ? anyTest.skip : anyTest;

/** A PATH holding only the named tools (symlinks to the real ones). */
function pathWith(t: import('ava').ExecutionContext, tools: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'kp-path-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const tool of tools) {
    const real = which(tool);
    if (real) symlinkSync(real, join(dir, tool));
  }
  return dir;
}

test('doctor: a missing mmdebstrap or skopeo is reported with how to install it', async (t) => {
  const report: DoctorReport = { checks: [] };
  await doctorChecks(report, pathWith(t, ['cp', 'xz']));
  const byTool = Object.fromEntries(report.checks.map((c) => [c.id.replace('image-sources.', ''), c]));
  t.like(byTool.mmdebstrap, { status: 'warn', required: false, plugin: 'image-sources' });
  // How to install it on each distribution doctor supports, one line each.
  t.regex(byTool.mmdebstrap!.fix!, /^Debian\/Ubuntu: sudo apt-get install mmdebstrap debian-archive-keyring$/m);
  t.regex(byTool.mmdebstrap!.fix!, /^Fedora: sudo dnf install mmdebstrap debian-keyring$/m);
  t.regex(byTool.mmdebstrap!.fix!, /^openSUSE: sudo zypper install mmdebstrap/m);
  t.regex(byTool.mmdebstrap!.fix!, /^Arch: sudo pacman -S mmdebstrap debian-archive-keyring$/m);
  t.regex(byTool.mmdebstrap!.detail!, /not found on PATH: bootstrap:debian/);
  t.like(byTool.skopeo, { status: 'warn' });
  t.regex(byTool.skopeo!.fix!, /^Debian\/Ubuntu: sudo apt-get install skopeo$/m);
  t.regex(byTool.zstd!.fix!, /^Arch: sudo pacman -S zstd$/m);
  // What is there is ok, with its path and no fix.
  t.is(byTool.cp!.status, 'ok');
  t.regex(byTool.cp!.detail!, /\/cp$/);
  t.is(byTool.cp!.fix, undefined);
});

test('doctor: cp missing is a failed required check', async (t) => {
  const report: DoctorReport = { checks: [] };
  await doctorChecks(report, pathWith(t, []));
  const cp = report.checks.find((c) => c.id === 'image-sources.cp');
  t.like(cp, { status: 'fail', required: true });
  t.regex(cp!.fix!, /^Debian\/Ubuntu: sudo apt-get install coreutils$/m);
});

test('doctor: a directory or a non-executable file named like a tool is not the tool', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-path-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'mmdebstrap'));
  writeFileSync(join(dir, 'skopeo'), '#!/bin/sh\n', { mode: 0o644 });
  t.is(which('mmdebstrap', dir), undefined);
  // Even root fails access(X_OK) when no execute bit is set.
  t.is(which('skopeo', dir), undefined);
  writeFileSync(join(dir, 'zstd'), '#!/bin/sh\n', { mode: 0o755 });
  t.is(which('zstd', `/nonexistent:${dir}`), join(dir, 'zstd'));
});

function gcContext(imagesDir: string, extra: Partial<GcContext> = {}): GcContext {
  return { dryRun: false, roots: new Set(), removed: [], imagesDir, interrupted: () => false, ...extra };
}

busyboxTest('gc: keeps images an environment uses, a root names or a keep tap vetoes; removes the rest and stale downloads', async (t) => {
  const store = tempStore(t);
  const dir = mkdtempSync(join(tmpdir(), 'kp-gc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const plain = busyboxTarball(t, dir, 'none');
  const gz = busyboxTarball(t, dir, 'gz');
  const used = (await store.resolve(plain))!;
  const unused = (await store.resolve(gz))!;
  const usedDir = join(used.rootfs, '..');
  const unusedDir = join(unused.rootfs, '..');
  // An environment's metadata names the first image's rootfs.
  const metaDir = join(store.dir, 'store', 'metadata');
  mkdirSync(metaDir, { recursive: true });
  writeFileSync(join(metaDir, 'env1.json'), JSON.stringify({ env_id: 'env1', base: { rootfs: used.rootfs } }));
  // Downloads: one stale (2 days old), one fresh (maybe still being resumed).
  const downloads = join(store.imagesDir, '.downloads');
  mkdirSync(downloads, { recursive: true });
  writeFileSync(join(downloads, 'stale.archive.partial'), 'x');
  writeFileSync(join(downloads, 'fresh.archive.partial'), 'x');
  const old = new Date(Date.now() - 2 * 24 * 3600_000);
  utimesSync(join(downloads, 'stale.archive.partial'), old, old);

  // Dry run: reports, removes nothing.
  const dry = gcContext(store.imagesDir, { dryRun: true });
  await collectImages(store.kernel, dry);
  t.deepEqual(dry.removed.map((r) => r.path).sort(), [join(downloads, 'stale.archive.partial'), unusedDir].sort());
  t.true(existsSync(unusedDir));

  // A keep tap vetoes.
  store.kernel.hooks.keep.tap('test', (c) => (c.path === unusedDir ? true : undefined));
  const vetoed = gcContext(store.imagesDir);
  await collectImages(store.kernel, vetoed);
  t.true(existsSync(unusedDir));
  t.deepEqual(vetoed.removed.map((r) => r.kind), ['image-download']);
  t.false(existsSync(join(downloads, 'stale.archive.partial')));
  t.true(existsSync(join(downloads, 'fresh.archive.partial')));
});

busyboxTest('gc: a root keeps an image; unreadable metadata keeps everything', async (t) => {
  const store = tempStore(t);
  const dir = mkdtempSync(join(tmpdir(), 'kp-gc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const a = (await store.resolve(busyboxTarball(t, dir, 'none')))!;
  const b = (await store.resolve(busyboxTarball(t, dir, 'gz')))!;
  const keyA = a.rootfs.split('/').slice(-2)[0]!;
  const metaDir = join(store.dir, 'store', 'metadata');
  mkdirSync(metaDir, { recursive: true });
  writeFileSync(join(metaDir, 'broken.json'), '{ not json');
  const careful = gcContext(store.imagesDir);
  await collectImages(store.kernel, careful);
  t.deepEqual(careful.removed, []);
  rmSync(join(metaDir, 'broken.json'));
  const rooted = gcContext(store.imagesDir, { roots: new Set([keyA]) });
  await collectImages(store.kernel, rooted);
  t.true(existsSync(a.rootfs));
  t.false(existsSync(b.rootfs));
  t.deepEqual(rooted.removed.map((r) => r.kind), ['image']);
});
