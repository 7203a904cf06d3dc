/**
 * youki is handled by name (discovery, selection, doctor, running an env) — youki itself is
 * not installable here, so a stand-in named `youki` that runs runc takes its place; what
 * this proves is that nothing on the youki path is runc-specific by name, not that youki works.
 */
import test from 'ava';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { discoverRuntimes, doctorChecks, selectRuntime } from '@karapace/runtime-oci';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../../helpers/busybox-rootfs.js';
import { manifest, ociSandbox, runcUnavailable } from './fixtures.js';

const missing = runcUnavailable() ?? busyboxRootfsUnavailable();
if (missing) console.warn(`runtime-oci youki tests skipped: ${missing}`);
const it = missing ? test.skip : test.serial;

const bin = mkdtempSync(join(tmpdir(), 'kp-youki-'));
test.after.always(() => rmSync(bin, { recursive: true, force: true }));
const runc = spawnSync('sh', ['-c', 'command -v runc || echo /usr/sbin/runc'], { encoding: 'utf8' }).stdout.trim();
writeFileSync(join(bin, 'youki'), `#!/bin/sh\nexec ${runc} "$@"\n`);
chmodSync(join(bin, 'youki'), 0o755);

test.serial('a missing youki is reported by name, with where to get it', async (t) => {
  const checks = await doctorChecks({ runtime: 'runc' });
  const youki = checks.find((c) => c.id === 'oci-runtime-youki');
  if (discoverRuntimes().some((r) => r.name === 'youki')) return t.log('a real youki is installed here: skipping the "missing" assertions');
  t.is(youki?.status, 'warn');
  t.is(youki?.detail, 'not installed (not on PATH)');
  t.regex(youki?.fix ?? '', /not packaged by Debian 12.*github\.com\/containers\/youki/);
});

it('youki on PATH is discovered, selected by name, probed by doctor and runs an env', async (t) => {
  const PATH = `${bin}${delimiter}${process.env.PATH}`;
  t.deepEqual(discoverRuntimes(bin).map((r) => r.name), ['youki']);
  t.deepEqual(selectRuntime({ runtime: 'youki' }, bin), { name: 'youki', path: join(bin, 'youki') });
  const saved = process.env.PATH;
  process.env.PATH = PATH;
  try {
    const checks = await doctorChecks({ runtime: 'youki' });
    const youki = checks.find((c) => c.id === 'oci-runtime-youki');
    t.is(youki?.status, 'ok', youki?.detail);
    t.true(youki?.detail?.startsWith(join(bin, 'youki')));
    t.regex(checks.find((c) => c.id === 'oci-runtime-selected')?.detail ?? '', /backend "oci" runs youki/);
  } finally {
    process.env.PATH = saved;
  }
  const box = ociSandbox({ config: { '@karapace/runtime-oci': { runtime: 'youki' } } });
  t.teardown(() => rm(box.dir, { recursive: true, force: true }));
  box.write('karapace.toml', manifest(busyboxRootfs()));
  await box.json(['build', '--name', 'y'], { env: { PATH } });
  const r = await box.run(['exec', 'y', '--', 'sh', '-c', 'echo via-youki; exit 4'], { env: { PATH } });
  t.is(r.code, 4, r.stderr);
  t.is(r.stdout, 'via-youki\n');
});
