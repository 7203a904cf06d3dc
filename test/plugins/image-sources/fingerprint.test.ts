/**
 * The stat fingerprint a cached image is re-verified by on every use: the native walk
 * (native/tree-fingerprint.c) against its definition (digest.ts fingerprintRootfsReference)
 * on trees made to be awkward for it, and hostile changes to a cached image that the check
 * must catch whichever walk runs.
 */
import anyTest from 'ava';
import { createRequire } from 'node:module';
import {
  chmodSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { ExecutionContext } from 'ava';
import { nativeBinary } from '@karapace/kernel';
import { fingerprintRootfs, fingerprintRootfsReference } from '@karapace/image-sources';
import { busyboxMissing, busyboxTarball, tempStore } from './_helpers.js';
import { debianRootfsTarball, debianRootfsUnavailable } from '../../helpers/debian-rootfs.js';
import { mockManifest, runBundled, sandbox } from '../../helpers/cli.js';

const addonFile = nativeBinary('karapace_fingerprint.node');
const addon = addonFile ? (createRequire(import.meta.url)(addonFile) as { fingerprint(root: string): string | undefined }) : undefined;
// The native walk is part of the build wherever the blake3 sources are (native/Makefile).
const nativeTest = addon ? anyTest : anyTest.skip;
const busyboxTest = busyboxMissing ? anyTest.skip : anyTest;

function tempTree(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'kp-fingerprint-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'root'));
  return join(dir, 'root');
}

/** The native value, and that it is the reference's. */
async function same(t: ExecutionContext, root: string): Promise<string> {
  const native = addon!.fingerprint(root);
  const reference = await fingerprintRootfsReference(root);
  t.is(native, reference);
  return reference;
}

/** A deterministic pseudo-random sequence (tests must fail the same way twice). */
function prng(seed: number): () => number {
  let x = seed >>> 0;
  return () => ((x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0) / 2 ** 32);
}

nativeTest('the native walk gives the reference value on a tree of every entry type, odd modes, hard links and times', async (t) => {
  const root = tempTree(t);
  mkdirSync(join(root, 'etc/deep/er/still/deeper'), { recursive: true });
  writeFileSync(join(root, 'etc/file'), 'x');
  writeFileSync(join(root, 'etc/deep/er/still/deeper/leaf'), 'leaf');
  chmodSync(join(root, 'etc/file'), 0o4751);
  linkSync(join(root, 'etc/file'), join(root, 'etc/hard'));
  symlinkSync('/nowhere/at/all', join(root, 'dangling'));
  symlinkSync('etc', join(root, 'dirlink'));
  mkdirSync(join(root, 'empty'));
  chmodSync(join(root, 'empty'), 0o1777);
  spawnSync('mkfifo', [join(root, 'fifo')]);
  // Times: the epoch, whole seconds, before 1970, under a millisecond (JavaScript prints
  // those its own way: the native walk hands the tree back), and thousands of arbitrary
  // fractions, whose shortest round-trip digits the native walk must find as V8 does.
  const times: number[] = [0, 1, 1.5, -1.5, 1e9, 1701234567.03125, 1701234567.0003125, 2 ** 31 - 1, 0.0005];
  const next = prng(18);
  for (let i = 0; i < 3000; i++) times.push(Math.floor(next() * 2e9) + Math.floor(next() * 1e9) / 1e9);
  mkdirSync(join(root, 'times/a/b'), { recursive: true });
  times.forEach((s, i) => {
    const f = join(root, 'times/a/b', `f${i}`);
    writeFileSync(f, String(i));
    utimesSync(f, s, s);
  });
  utimesSync(join(root, 'etc'), 1234567890.5, 1234567890.123456);
  // Exact nanoseconds (touch -d @S.N): milliseconds such as 1701234567031.03125 lie halfway
  // between two shortest candidates, and V8 takes the even last digit.
  const exact = ['1701234567.031031250', '1701234567.000031250', '1701234567.999968750', '1701234567.999999999', '4294967.296000001', '1.000000001'];
  exact.forEach((at, i) => {
    writeFileSync(join(root, 'times', `exact${i}`), '');
    t.is(spawnSync('touch', ['-h', '-d', `@${at}`, join(root, 'times', `exact${i}`)]).status, 0);
  });
  // Under a millisecond after the epoch JavaScript prints 0.5 and the like: the whole tree
  // goes to TypeScript.
  t.is(addon!.fingerprint(root), undefined);
  t.is(await fingerprintRootfs(root), await fingerprintRootfsReference(root));
  rmSync(join(root, 'times/a/b', `f${times.indexOf(0.0005)}`));
  await same(t, root);
});

nativeTest('names: sorted as JavaScript sorts them, multi-byte UTF-8, and names only the reference writes (handed back)', async (t) => {
  const root = tempTree(t);
  for (const name of ['B', 'a', 'a-b', 'a.b', 'a0', 'aé', 'ä', 'Ω', '日本', 'z', '~', '\u00a0', 'a b', 'x\ty', '\ufb01', '\uffee']) {
    mkdirSync(join(root, name));
    writeFileSync(join(root, name, name), name);
  }
  t.truthy(await same(t, root));
  // A 4-byte sequence sorts differently in UTF-16: the native walk hands the tree back,
  // whatever the order would have been.
  writeFileSync(join(root, '😀'), '');
  writeFileSync(join(root, '\uff10'), '');
  t.is(addon!.fingerprint(root), undefined);
  t.is(await fingerprintRootfs(root), await fingerprintRootfsReference(root));
});

nativeTest('the walk split over two threads keeps the walk order, and more subtrees than it splits into are walked inline', async (t) => {
  const root = tempTree(t);
  // Directories three deep are the threads' tasks: many of them, with files around them at
  // every level, so a piece out of order changes the value.
  for (let a = 0; a < 3; a++) {
    for (let b = 0; b < 300; b++) {
      const dir = join(root, `a${a}`, `b${String(b).padStart(3, '0')}`);
      mkdirSync(join(dir, 'c', 'd'), { recursive: true });
      writeFileSync(join(dir, 'c', 'd', 'e'), `${a}${b}`);
      writeFileSync(join(dir, 'after'), '');
    }
    writeFileSync(join(root, `a${a}`, 'zz'), '');
  }
  const before = await same(t, root);
  // Two tasks' contents swapped (same names, same sizes): a new value.
  renameSync(join(root, 'a0/b000/c'), join(root, 'swap'));
  renameSync(join(root, 'a0/b001/c'), join(root, 'a0/b000/c'));
  renameSync(join(root, 'swap'), join(root, 'a0/b001/c'));
  t.not(await same(t, root), before);
});

nativeTest('a root that is not a directory or does not exist is handed back to the reference, which throws', async (t) => {
  const root = tempTree(t);
  writeFileSync(join(root, 'file'), '');
  t.is(addon!.fingerprint(join(root, 'file')), undefined);
  t.is(addon!.fingerprint(join(root, 'missing')), undefined);
  await t.throwsAsync(fingerprintRootfs(join(root, 'missing')), { code: 'ENOENT' });
});

anyTest('KARAPACE_FINGERPRINT_NATIVE=0 walks in TypeScript, to the same value', async (t) => {
  const root = tempTree(t);
  mkdirSync(join(root, 'a/b'), { recursive: true });
  writeFileSync(join(root, 'a/b/c'), 'c');
  // The value, and whether the addon was loaded into the process (its mapping).
  const script = `import(${JSON.stringify(new URL('../../../plugins/image-sources/dist/index.js', import.meta.url).href)}).then(async (m) => process.stdout.write(JSON.stringify([await m.fingerprintRootfs(process.argv[1]), require('node:fs').readFileSync('/proc/self/maps', 'utf8').includes('karapace_fingerprint.node')])))`;
  const run = (env: NodeJS.ProcessEnv) => {
    const r = spawnSync(process.execPath, ['-e', script, root], { encoding: 'utf8', env: { ...process.env, ...env } });
    t.is(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as [string, boolean];
  };
  t.deepEqual(run({ KARAPACE_FINGERPRINT_NATIVE: '0' }), [await fingerprintRootfsReference(root), false]);
  if (addon) t.deepEqual(run({}), [await fingerprintRootfsReference(root), true]);
});

const debianMissing = debianRootfsUnavailable();
(addon && !debianMissing ? anyTest : anyTest.skip)('a real Debian rootfs: the native walk gives the reference value', async (t) => {
  const root = tempTree(t);
  const r = spawnSync('tar', ['-C', root, '--numeric-owner', '-xf', debianRootfsTarball()], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  await same(t, root);
});

/**
 * Hostile changes to a cached image: each one must make the next resolve see a modified image
 * (warn, fetch again), and the reference's fingerprint must change with it.
 */
const hostile: Array<[string, (rootfs: string) => void]> = [
  ['content changed, size and mtime restored', (rootfs) => {
    const file = join(rootfs, 'etc/os-release');
    const st = lstatSync(file);
    const text = readFileSync(file);
    text[0] = text[0] === 0x41 ? 0x42 : 0x41;
    writeFileSync(file, text);
    utimesSync(file, st.atime, st.mtime);
  }],
  ['a file replaced by a symlink to a copy of itself', (rootfs) => {
    const file = join(rootfs, 'etc/os-release');
    writeFileSync(join(rootfs, 'etc/os-release.copy'), readFileSync(file));
    unlinkSync(file);
    symlinkSync('os-release.copy', file);
  }],
  ['a file added', (rootfs) => writeFileSync(join(rootfs, 'etc/added'), '')],
  ['a file removed', (rootfs) => unlinkSync(join(rootfs, 'etc/os-release'))],
  ['a mode changed', (rootfs) => chmodSync(join(rootfs, 'bin/busybox'), 0o4755)],
  ['a file added deep in a subtree the threads walk', (rootfs) => {
    mkdirSync(join(rootfs, 'usr/share/a/b'), { recursive: true });
    writeFileSync(join(rootfs, 'usr/share/a/b/c'), '');
  }],
];

for (const [what, change] of hostile) {
  busyboxTest(`a cached image with ${what} is detected and fetched again`, async (t) => {
    const store = tempStore(t);
    const tar = busyboxTarball(t, store.dir, 'none');
    const first = await store.resolve(tar);
    const before = await fingerprintRootfsReference(first!.rootfs);
    t.is(await fingerprintRootfs(first!.rootfs), before);
    change(first!.rootfs);
    t.not(await fingerprintRootfsReference(first!.rootfs), before);
    if (addon) t.not(addon.fingerprint(first!.rootfs), before);
    store.events.length = 0;
    const again = await store.resolve(tar);
    t.is(again!.digest, first!.digest);
    t.regex(readFileSync(join(again!.rootfs, 'etc/os-release'), 'utf8'), /BusyBox/);
    const warn = store.events.find((e) => e.kind === 'log' && e.level === 'warn');
    t.regex((warn as { message: string } | undefined)?.message ?? '', /was modified on disk/);
  });
}

/**
 * A build resolves with deferVerification: a cached image comes back while its walk runs, and
 * the build waits for `verifying` before using the rootfs or committing (engine/build.ts).
 */
busyboxTest('deferred re-verification: an unchanged cached image comes back with verifying true, a changed one with false and still in place', async (t) => {
  const store = tempStore(t);
  const tar = busyboxTarball(t, store.dir, 'none');
  const first = await store.resolve(tar);
  t.is(first!.verifying, undefined);
  const unchanged = await store.resolve(tar, { deferVerification: true });
  t.is(unchanged!.digest, first!.digest);
  t.is(await unchanged!.verifying, true);
  writeFileSync(join(first!.rootfs, 'etc/added'), '');
  store.events.length = 0;
  const changed = await store.resolve(tar, { deferVerification: true });
  t.is(await changed!.verifying, false);
  // Nothing was decided yet: the full check is the build's second resolve.
  t.deepEqual(store.events.filter((e) => e.kind === 'log' && e.level === 'warn'), []);
  t.is(readFileSync(join(changed!.rootfs, 'etc/added'), 'utf8'), '');
  const full = await store.resolve(tar);
  t.is(full!.verifying, undefined);
  t.throws(() => readFileSync(join(full!.rootfs, 'etc/added')));
});

for (const [what, change] of hostile.filter(([w]) => w === 'content changed, size and mtime restored' || w === 'a file added deep in a subtree the threads walk')) {
  busyboxTest(`a build on a cached image with ${what} detects it, builds on the image fetched again, and makes the same env`, async (t) => {
    const box = sandbox('kp-fingerprint-build-');
    t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
    const tar = busyboxTarball(t, box.dir, 'none');
    box.write('a/karapace.toml', mockManifest({ image: tar }));
    box.write('b/karapace.toml', mockManifest({ image: tar }));
    const a = await runBundled(box, ['build', '--json'], { cwd: join(box.dir, 'a') });
    t.is(a.code, 0, a.stderr);
    const images = join(box.store, 'images');
    const rootfs = join(images, readdirSync(images).find((n) => !n.startsWith('.'))!, 'rootfs');
    change(rootfs);
    const b = await runBundled(box, ['build', '--json'], { cwd: join(box.dir, 'b') });
    t.is(b.code, 0, b.stderr);
    t.regex(b.stderr, /was modified on disk/);
    t.is(JSON.parse(b.stdout).env_id, JSON.parse(a.stdout).env_id);
    t.regex(readFileSync(join(rootfs, 'etc/os-release'), 'utf8'), /BusyBox/);
    t.throws(() => lstatSync(join(rootfs, 'usr/share/a/b/c')));
    // The image as fetched again verifies: the next build says nothing.
    const c = await runBundled(box, ['build', '--json'], { cwd: join(box.dir, 'b') });
    t.is(c.code, 0, c.stderr);
    t.notRegex(c.stderr, /modified/);
  });
}
