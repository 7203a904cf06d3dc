/**
 * @karapace/native ships prebuilt binaries for linux-x64 and linux-arm64 (`make prebuilt`,
 * run by its prepack), checked for their architecture with file(1) and, for arm64, run
 * under qemu-user; where no prebuilt matches, build-from-source.mjs builds them with make,
 * and without a compiler it says what to install and exits non-zero.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../helpers/cli.js';
import { pathWithoutCompiler, withNativeLock } from '../helpers/installed-cli.js';

const NATIVE = join(REPO, 'native');
const have = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
// The addons that hash (untar, fingerprint, blake3) are built where BLAKE3's C sources are
// (native/Makefile's B3: Debian's librust-blake3-dev).
const haveBlake3Sources = existsSync('/usr/share/cargo/registry') && readdirSync('/usr/share/cargo/registry').some((d) => d.startsWith('blake3-'));
const FILES = [
  'karapace-sandbox', 'karapace-init', 'karapace_flock.node', 'karapace_launch.node', 'karapace_mknod.node',
  ...(haveBlake3Sources ? ['karapace_untar.node', 'karapace_fingerprint.node', 'karapace_blake3.node'] : []),
];
const ARCH: Record<string, RegExp> = { 'linux-x64': /x86-64/, 'linux-arm64': /ARM aarch64/ };

const crossMissing = !have('aarch64-linux-gnu-gcc') ? 'aarch64-linux-gnu-gcc is not installed (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross)' : undefined;

(crossMissing ? test.skip : test)('make prebuilt builds every binary for linux-x64 and linux-arm64', (t) => {
  const [flock, ...make] = withNativeLock(['make', '-s', '-C', NATIVE, 'prebuilt']);
  const r = spawnSync(flock!, make, { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  for (const [platform, arch] of Object.entries(ARCH)) {
    for (const file of FILES) {
      const path = join(NATIVE, 'prebuilt', platform, file);
      const out = spawnSync('file', ['-b', path], { encoding: 'utf8' }).stdout;
      t.regex(out, arch, `${platform}/${file}: ${out}`);
      t.regex(out, file.endsWith('.node') ? /shared object/ : /executable/, `${platform}/${file}`);
    }
    t.regex(spawnSync('file', ['-b', join(NATIVE, 'prebuilt', platform, 'karapace-init')], { encoding: 'utf8' }).stdout, /statically linked/);
  }
});

const qemuMissing = crossMissing ?? (!have('qemu-aarch64-static') ? 'qemu-aarch64-static is not installed (apt-get install qemu-user-static)' : undefined);

(qemuMissing ? test.skip : test)('the arm64 launcher and init run under qemu-user', (t) => {
  const [flock, ...make] = withNativeLock(['make', '-s', '-C', NATIVE, 'prebuilt-arm64']);
  spawnSync(flock!, make);
  const dir = join(NATIVE, 'prebuilt/linux-arm64');
  const sandbox = spawnSync('qemu-aarch64-static', ['-L', '/usr/aarch64-linux-gnu', join(dir, 'karapace-sandbox'), '--help'], { encoding: 'utf8' });
  t.is(sandbox.status, 0, sandbox.stderr);
  t.regex(sandbox.stdout, /^usage: karapace-sandbox /);
  // Static: no loader prefix needed; without a command it refuses with its own message.
  const init = spawnSync('qemu-aarch64-static', [join(dir, 'karapace-init')], { encoding: 'utf8' });
  t.is(init.status, 125);
  t.regex(init.stderr, /karapace-init: --init: no command given/);
});

test('without a prebuilt for this machine, build-from-source.mjs builds with make, and names what is missing without a compiler', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-native-src-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pkg = join(dir, 'native');
  cpSync(NATIVE, pkg, { recursive: true, filter: (src) => !/\/(?:build|prebuilt)$/.test(src) });

  const bare = pathWithoutCompiler(join(dir, 'bin'));
  const failed = spawnSync(process.execPath, [join(pkg, 'build-from-source.mjs')], { encoding: 'utf8', env: { PATH: bare } });
  t.is(failed.status, 1);
  t.regex(failed.stderr, new RegExp(`no prebuilt binaries for linux-${process.arch} and building them failed`));
  t.regex(failed.stderr, /Install gcc, make and libc6-dev/);
  // At install (npm runs it with --if-no-prebuilt) a failed build does not fail the install.
  t.is(spawnSync(process.execPath, [join(pkg, 'build-from-source.mjs'), '--if-no-prebuilt'], { env: { PATH: bare } }).status, 0);

  if (!have('gcc') || !have('make')) return t.log('gcc/make missing: the from-source build itself is not exercised');
  const built = spawnSync(process.execPath, [join(pkg, 'build-from-source.mjs'), '--if-no-prebuilt'], { encoding: 'utf8' });
  t.is(built.status, 0, built.stderr);
  for (const file of FILES) t.true(existsSync(join(pkg, 'build', file)), file);
  const help = spawnSync(join(pkg, 'build/karapace-sandbox'), ['--help'], { encoding: 'utf8' });
  t.regex(help.stdout, /^usage: karapace-sandbox /);
  t.false(readdirSync(pkg).includes('prebuilt'));
});
