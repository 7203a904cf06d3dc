/**
 * doctor through the CLI: the kernel's checks plus each plugin's own checks of what it owns.
 * Each check is made once, by its owner; a backend's checks are required only when it is the
 * default backend; every problem says how to fix it on four distributions.
 */
import test from 'ava';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, sandbox } from '../helpers/cli.js';

const MOCK = join(REPO, 'plugins/runtime-mock/dist/index.js');

/** Only the plugins named (and the mock backend), so the outcome depends on them and PATH alone. */
function withPlugins(defaultBackend: string, plugins: unknown[]) {
  const box = sandbox('kp-doctor-');
  box.write('.karapacerc.json', JSON.stringify({ builtins: false, defaultBackend, plugins: [MOCK, ...plugins] }));
  return box;
}

/** A PATH holding only node: every tool looked up on PATH is hidden. */
function barePath(dir: string): string {
  const bin = join(dir, 'bare-bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  return bin;
}

const DISTROS = [/^Debian\/Ubuntu: /m, /^Fedora: /m, /^openSUSE: /m, /^Arch: /m];

interface Check { id: string; status: string; required: boolean; plugin?: string; detail?: string; fix?: string }

test('doctor runs the kernel\'s checks and the image-sources checks; tools hidden from PATH fail with fixes for four distributions', async (t) => {
  const box = withPlugins('mock', [join(REPO, 'plugins/image-sources/dist/index.js')]);
  const r = await box.run(['doctor', '--json'], { env: { PATH: barePath(box.dir) } });
  t.is(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout) as { ok: boolean; failed: string[]; checks: Check[] };
  t.false(report.ok);
  const byId = Object.fromEntries(report.checks.map((c) => [c.id, c]));
  // cp is the one required tool: its absence fails doctor.
  t.deepEqual(report.failed, ['image-sources.cp']);
  for (const id of ['image-sources.cp', 'image-sources.mmdebstrap', 'image-sources.xz']) {
    t.is(byId[id]!.plugin, 'image-sources');
    for (const d of DISTROS) t.regex(byId[id]!.fix!, d, `${id} fix lacks ${d}`);
  }
  t.regex(byId['image-sources.mmdebstrap']!.fix!, /zypper install mmdebstrap/);
  // The kernel's own checks: config, plugins, default backend, store.
  t.regex(byId['core.config']!.detail!, /\.karapacerc\.json/);
  t.regex(byId['core.plugins']!.detail!, /runtime-mock, image-sources/);
  t.is(byId['core.default-backend']!.status, 'ok');
  t.is(byId['core.store.version']!.status, 'ok');
  // Nothing is checked twice.
  t.is(new Set(report.checks.map((c) => c.id)).size, report.checks.length);
});

test('the namespace backend\'s checks are required when it is the default backend, optional otherwise', async (t) => {
  const namespace = [join(REPO, 'plugins/runtime-namespace/dist/index.js'), { launcher: '/nonexistent/karapace-sandbox' }];
  const asDefault = withPlugins('namespace', [namespace]);
  const r = await asDefault.run(['doctor', '--json']);
  t.is(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout) as { failed: string[]; checks: Check[] };
  const launcher = report.checks.find((c) => c.id === 'namespace.launcher')!;
  t.like(launcher, { status: 'fail', required: true, plugin: 'runtime-namespace', detail: '/nonexistent/karapace-sandbox' });
  t.true(report.failed.includes('namespace.launcher'));

  const other = withPlugins('mock', [namespace]);
  const text = await other.run(['doctor']);
  t.is(text.code, 0, text.stdout);
  t.regex(text.stdout, /\[WARN\] sandbox launcher \(karapace-sandbox\) — \/nonexistent\/karapace-sandbox \(optional\)/);
  t.regex(text.stdout, /all required checks passed/);
});

test('with the oci backend as default, an unusable OCI runtime is a required failure; text output shows the fixes', async (t) => {
  const oci = [join(REPO, 'plugins/runtime-oci/dist/index.js'), { path: '/nonexistent/runc' }];
  const box = withPlugins('oci', [oci]);
  const r = await box.run(['doctor']);
  t.is(r.code, 1, r.stdout);
  t.regex(r.stdout, /\[FAIL\] OCI backend runtime — the configured OCI runtime \/nonexistent\/runc does not exist/);
  t.regex(r.stdout, /Fedora: sudo dnf install crun runc/);
  t.regex(r.stdout, /required check\(s\) failed: oci-runtime-selected/);
  // Not the default backend: the same problem is a warning.
  const optional = withPlugins('mock', [oci]);
  const o = await optional.run(['doctor', '--json']);
  t.is(o.code, 0, o.stdout);
  t.like((JSON.parse(o.stdout) as { checks: Check[] }).checks.find((c) => c.id === 'oci-runtime-selected'), { status: 'warn', required: false });
});

test('the runtime-oci checks of single runtimes get that runtime\'s install line, only when it is missing', async (t) => {
  const box = withPlugins('mock', [join(REPO, 'plugins/runtime-oci/dist/index.js')]);
  const r = await box.run(['doctor', '--json'], { env: { PATH: barePath(box.dir) } });
  const checks = JSON.parse(r.stdout).checks as Check[];
  // The plugin also looks in /usr/bin etc., so which runtimes are found depends on the host.
  for (const name of ['crun', 'runc']) {
    for (const c of checks.filter((x) => x.id === `oci-runtime-${name}`)) {
      if (/^not installed/.test(c.detail!)) {
        t.regex(c.fix!, new RegExp(`^Fedora: sudo dnf install ${name}$`, 'm'));
        t.regex(c.fix!, new RegExp(`^Arch: sudo pacman -S ${name}$`, 'm'));
      } else t.notRegex(c.fix ?? '', /dnf install|apt-get install/, `${name} is installed: ${c.detail}`);
    }
  }
  const youki = checks.find((c) => c.id === 'oci-runtime-youki')!;
  t.truthy(youki);
  t.notRegex(youki.fix ?? '', /dnf install/);
});

test('with the built-in plugins, every check is made once, by the plugin that owns it', async (t) => {
  const box = sandbox('kp-doctor-');
  const r = await box.run(['doctor', '--json']);
  const report = JSON.parse(r.stdout) as { checks: Check[] };
  const ids = report.checks.map((c) => c.id);
  t.is(new Set(ids).size, ids.length, ids.join(', '));
  t.true(report.checks.every((c) => typeof c.plugin === 'string' && c.plugin.length > 0));
  // Host prerequisites are their owners' checks, not the kernel's.
  for (const id of ['namespace.userns', 'namespace.overlay', 'namespace.subids', 'namespace.cgroups', 'image-sources.mmdebstrap', 'oci-runtime-selected']) t.true(ids.includes(id), id);
  const kernelChecks = ['core.config', 'core.plugins', 'core.default-backend', 'core.store.version', 'core.store.writable', 'core.store.lock', 'core.store.wal', 'core.flock'];
  t.deepEqual(ids.filter((id) => id.startsWith('core.') && !kernelChecks.includes(id)), []);
});
