/**
 * `enter` gets a real terminal inside (script(1) gives the CLI one), and the backend works
 * without root: run as uid 65534 with a user-owned image, container root maps to that user.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from '../../helpers/cli.js';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../../helpers/busybox-rootfs.js';
import { manifest, ociSandbox, RESOLVE_PLUGIN, runcUnavailable } from './fixtures.js';

const missing = runcUnavailable() ?? busyboxRootfsUnavailable();
const noScript = spawnSync('sh', ['-c', 'command -v script'], { stdio: 'ignore' }).status !== 0 ? 'script(1) is not installed (util-linux)' : undefined;
if (missing ?? noScript) console.warn(`runtime-oci enter test skipped: ${missing ?? noScript}`);

(missing ?? noScript ? test.skip : test)('enter runs the command on a terminal and returns its status', async (t) => {
  const box = ociSandbox({ config: { '@karapace/runtime-oci': { runtime: 'runc' } } });
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  box.write('karapace.toml', manifest(busyboxRootfs()));
  await box.json(['build', '--name', 'o']);
  const command = `${process.execPath} ${BIN} enter o -- sh -c 'tty; test -t 0 && echo stdin-is-tty; exit 3'`;
  const r = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: box.dir, env: box.env, encoding: 'utf8', timeout: 60_000 });
  t.is(r.status, 3, r.stdout + r.stderr);
  t.regex(r.stdout, /\/dev\/pts\/\d+/);
  t.regex(r.stdout, /stdin-is-tty/);
});

const NOBODY = 65534;
function rootlessUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to switch to uid 65534 (CI runs as root)';
  if (spawnSync('sh', ['-c', 'command -v setpriv'], { stdio: 'ignore' }).status !== 0) return 'setpriv is not installed (util-linux)';
  const readable = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(BIN)}, require('fs').constants.R_OK)`], { stdio: 'ignore' });
  if (readable.status !== 0) return `uid ${NOBODY} cannot read ${BIN} (the checkout is not world-readable)`;
  return undefined;
}
const noRootless = missing ?? rootlessUnavailable();
if (noRootless) console.warn(`runtime-oci rootless test skipped: ${noRootless}`);

(noRootless ? test.skip : test)('rootless: build, exec, write and destroy as an unprivileged user', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-oci-rootless-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Rootless, only the user's own files are writable inside: use a copy of the image it owns.
  cpSync(busyboxRootfs(), join(dir, 'rootfs'), { recursive: true, verbatimSymlinks: true });
  writeFileSync(join(dir, 'karapace.toml'), manifest(join(dir, 'rootfs')));
  writeFileSync(join(dir, 'resolve-dir.mjs'), RESOLVE_PLUGIN);
  writeFileSync(join(dir, '.karapacerc.json'), JSON.stringify({ plugins: ['./resolve-dir.mjs'], '@karapace/runtime-oci': { runtime: 'runc' } }));
  spawnSync('chown', ['-R', '-h', `${NOBODY}:${NOBODY}`, dir]);
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: dir, KARAPACE_STORE: join(dir, 'store'), XDG_CONFIG_HOME: join(dir, 'cfg'), LANG: 'C.UTF-8' };
  const kp = (args: string[]) => spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, BIN, ...args], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
  const built = kp(['build', '--name', 'r', '--json']);
  t.is(built.status, 0, built.stderr);
  const envId = JSON.parse(built.stdout).env_id as string;
  const r = kp(['exec', 'r', '--', 'sh', '-c', 'id -u; whoami; id -un; echo $HOME; id -u root; echo rootless > /tmp/written; exit 5']);
  t.is(r.status, 5, r.stderr);
  // Container root is the user: the generated passwd names it so (first entry for uid 0), root still resolves.
  const user = spawnSync('id', ['-un', String(NOBODY)], { encoding: 'utf8' }).stdout.trim();
  t.is(r.stdout, `0\n${user}\n${user}\n${dir}\n0\n`);
  const file = join(dir, 'store/env', envId, 'upper/tmp/written');
  t.is(readFileSync(file, 'utf8'), 'rootless\n');
  // Container root is the invoking user on the host.
  t.is(spawnSync('stat', ['-c', '%u', file], { encoding: 'utf8' }).stdout.trim(), String(NOBODY));
  t.is(kp(['destroy', 'r']).status, 0);
});
