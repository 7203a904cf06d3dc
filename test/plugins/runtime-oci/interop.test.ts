/**
 * The upper directory is shared ground: an environment built and written with the
 * `namespace` backend, then entered with `oci` (and back), sees the same files, including
 * deletions (whiteouts) and opaque directories. Runs last in spirit: it needs the
 * namespace backend, and skips with a message when that plugin is not registered.
 */
import test from 'ava';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createEngine, filterEnvironment, findEnv, handleFor, runInEnv, userEnvironment, type Engine, type SpawnResult,
} from '@karapace/kernel';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../../helpers/busybox-rootfs.js';
import { manifest, ociSandbox, runcUnavailable } from './fixtures.js';

const missing = runcUnavailable() ?? busyboxRootfsUnavailable();
if (missing) console.warn(`runtime-oci interop test skipped: ${missing}`);

async function run(engine: Engine, backend: string, script: string): Promise<SpawnResult> {
  const meta = await findEnv(engine.layout, 'o');
  const handle = { ...handleFor(engine.layout, meta), backend };
  return runInEnv(engine.kernel, handle, 'exec', {
    argv: ['sh', '-c', script], user: 'invoker', stdio: 'capture', tty: false, network: true,
    environment: filterEnvironment(engine.env, engine.policy, userEnvironment(engine.user, meta.env_id)),
  });
}

(missing ? test.skip : test)('an env built and written with namespace is seen the same through oci, and back', async (t) => {
  const box = ociSandbox({ config: { '@karapace/runtime-oci': { runtime: 'runc' } } });
  t.teardown(() => rm(box.dir, { recursive: true, force: true }));
  const engine = await createEngine({ cwd: box.dir, store: box.store, globalConfigDir: join(box.dir, 'config-home'), env: { ...process.env, ...box.env } });
  if (!engine.kernel.backends.includes('namespace')) {
    t.log('skipped: the namespace backend (@karapace/runtime-namespace) is not registered in this build');
    t.is(engine.kernel.backends.includes('oci'), true);
    return;
  }
  box.write('karapace.toml', manifest(busyboxRootfs(), { backend: 'namespace' }));
  await box.json(['build', '--name', 'o']);

  const written = await run(engine, 'namespace', 'mkdir -p /srv/a && echo from-namespace > /srv/a/file && rm /etc/os-release && rm -rf /usr/sbin && mkdir /usr/sbin && echo fresh > /usr/sbin/only');
  t.is(written.exitCode, 0, written.stderr);
  const seen = await run(engine, 'oci', 'cat /srv/a/file; test -e /etc/os-release && echo present || echo gone; ls /usr/sbin');
  t.is(seen.exitCode, 0, seen.stderr);
  t.is(seen.stdout, 'from-namespace\ngone\nonly\n');

  // Not /etc/passwd or /etc/group: the namespace backend binds generated copies over them.
  const back = await run(engine, 'oci', 'echo from-oci > /srv/a/file2 && rm /srv/a/file && rm /usr/bin/wc');
  t.is(back.exitCode, 0, back.stderr);
  const again = await run(engine, 'namespace', 'cat /srv/a/file2; ls /srv/a; test -e /usr/bin/wc && echo present || echo gone');
  t.is(again.exitCode, 0, again.stderr);
  t.is(again.stdout, 'from-oci\nfile2\ngone\n');
  const diff = await box.json(['diff', 'o']);
  t.true(diff.added.includes('srv/a/file2'), JSON.stringify(diff));
  t.true(diff.removed.includes('usr/bin/wc'), JSON.stringify(diff));
});
