/**
 * Install script of @karapace/cli: puts the native front door (karapace-front-door from
 * @karapace/native: its from-source build, else the prebuilt one for this machine) at
 * bin/karapace.cjs, the file npm links the `karapace` command to, so exec and enter start
 * without Node. The front door hands every other command to dist/bundle/karapace.cjs. No
 * front door for this machine, or one that does not run here: the packed bin/karapace.cjs (a
 * Node script) stays, and everything works through Node. A checkout is left alone (its
 * bin/karapace.cjs is tracked by git; native/build has the front door).
 */
const { copyFileSync, chmodSync, existsSync, readFileSync, renameSync, rmSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const { dirname, join } = require('node:path');

const cli = join(__dirname, '..');
/** The repository: cli/ is one of the root package's workspaces. */
function inCheckout() {
  try {
    return Array.isArray(JSON.parse(readFileSync(join(cli, '..', 'package.json'), 'utf8')).workspaces);
  } catch {
    return false;
  }
}
if (inCheckout()) process.exit(0);

let nativeDir;
try {
  nativeDir = dirname(require.resolve('@karapace/native/package.json', { paths: [cli] }));
} catch {
  process.exit(0);
}
const candidates = [join(nativeDir, 'build', 'karapace-front-door'), join(nativeDir, 'prebuilt', `${process.platform}-${process.arch}`, 'karapace-front-door')];
const front = candidates.find((p) => existsSync(p));
if (!front) process.exit(0);
// A binary for another libc or a broken build must not replace a working command.
const check = spawnSync(front, [], { env: { KARAPACE_FRONT_DOOR_CHECK: '1' }, encoding: 'utf8', timeout: 10_000 });
if (check.status !== 0 || check.stdout.trim() !== 'karapace-front-door') process.exit(0);
const bin = join(cli, 'bin', 'karapace.cjs');
const tmp = `${bin}.${process.pid}.tmp`;
try {
  copyFileSync(front, tmp);
  chmodSync(tmp, 0o755);
  // A new file, not a write into the old one: package managers may hardlink package files.
  renameSync(tmp, bin);
} catch {
  rmSync(tmp, { force: true });
}
