import test from 'ava';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, sandbox } from '../helpers/cli.js';
import { hasTool } from './helpers.js';

/** Only the core checks (no built-in plugins but the mock one), so the outcome depends on PATH alone. */
function coreOnly(defaultBackend: string) {
  const box = sandbox('kp-doctor-');
  box.write('.karapacerc.json', JSON.stringify({ builtins: false, defaultBackend, plugins: [join(REPO, 'plugins/runtime-mock/dist/index.js')] }));
  return box;
}

/** A PATH holding only node: every prerequisite is hidden. */
function barePath(dir: string): string {
  const bin = join(dir, 'bare-bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  return bin;
}

const DISTROS = [/Debian\/Ubuntu/, /Fedora/, /openSUSE/, /Arch/];

test('doctor fails when the overlay prerequisites are hidden from PATH, and says how to fix it on four distributions', async (t) => {
  const box = coreOnly('namespace');
  const r = await box.run(['doctor', '--json'], { env: { PATH: barePath(box.dir) } });
  t.is(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout);
  t.false(report.ok);
  const byId = Object.fromEntries(report.checks.map((c: { id: string }) => [c.id, c]));
  t.is(byId['core.overlay'].status, 'fail');
  t.true(byId['core.overlay'].required);
  t.true(report.failed.includes('core.overlay'));
  t.is(byId['core.fuse-overlayfs'].status, 'warn');
  for (const id of ['core.overlay', 'core.fuse-overlayfs', 'core.newuidmap', 'core.mmdebstrap']) {
    for (const d of DISTROS) t.regex(byId[id].fix, d, `${id} fix lacks ${d}`);
  }
  t.regex(byId['core.overlay'].fix, /zypper install fuse-overlayfs/);
  t.regex(byId['core.newuidmap'].fix, /apt-get install uidmap/);
  // Config and store are reported.
  t.regex(byId['core.config'].detail, /\.karapacerc\.json/);
  t.regex(byId['core.plugins'].detail, /runtime-mock/);
  t.is(byId['core.store.version'].status, 'ok');
});

test('doctor passes the overlay check with fuse-overlayfs on PATH', async (t) => {
  if (!hasTool('fuse-overlayfs')) {
    t.log('fuse-overlayfs is not installed (.ci/run installs it)');
    t.fail('fuse-overlayfs missing');
    return;
  }
  const box = coreOnly('namespace');
  const bin = barePath(box.dir);
  symlinkSync('/usr/bin/fuse-overlayfs', join(bin, 'fuse-overlayfs'));
  const report = JSON.parse((await box.run(['doctor', '--json'], { env: { PATH: bin } })).stdout);
  const overlay = report.checks.find((c: { id: string }) => c.id === 'core.overlay');
  t.is(overlay.status, 'ok');
  t.regex(overlay.detail, /fuse-overlayfs will be used/);
});

test('with the oci backend as default, a missing OCI runtime is a required failure; text output shows the fixes', async (t) => {
  const box = coreOnly('oci');
  const bin = barePath(box.dir);
  const r = await box.run(['doctor'], { env: { PATH: bin } });
  t.is(r.code, 1);
  t.regex(r.stdout, /\[FAIL\] OCI runtime for the oci backend/);
  t.regex(r.stdout, /Fedora: sudo dnf install crun runc/);
  t.regex(r.stdout, /required check\(s\) failed: .*core\.oci-runtime/);
  // The namespace checks are optional when namespace is not the default backend.
  t.notRegex(r.stdout, /\[FAIL\] Overlay filesystem/);
});

test('the runtime-oci checks of single runtimes get that runtime\'s install line, only when it is missing', async (t) => {
  const box = sandbox('kp-doctor-');
  box.write('.karapacerc.json', JSON.stringify({ builtins: false, defaultBackend: 'mock', plugins: [join(REPO, 'plugins/runtime-mock/dist/index.js'), join(REPO, 'plugins/runtime-oci/dist/index.js')] }));
  const r = await box.run(['doctor', '--json'], { env: { PATH: barePath(box.dir) } });
  const checks = JSON.parse(r.stdout).checks as { id: string; status: string; detail: string; fix?: string }[];
  // The plugin also looks in /usr/bin etc., so which runtimes are found depends on the host.
  for (const name of ['crun', 'runc']) {
    for (const c of checks.filter((x) => x.id === `oci-runtime-${name}`)) {
      if (/^not installed/.test(c.detail)) {
        t.regex(c.fix!, new RegExp(`^Fedora: sudo dnf install ${name}$`, 'm'));
        t.regex(c.fix!, new RegExp(`^Arch: sudo pacman -S ${name}$`, 'm'));
      } else t.notRegex(c.fix ?? '', /dnf install|apt-get install/, `${name} is installed: ${c.detail}`);
    }
  }
  const youki = checks.find((c) => c.id === 'oci-runtime-youki')!;
  t.truthy(youki);
  t.notRegex(youki.fix ?? '', /dnf install/);
});
