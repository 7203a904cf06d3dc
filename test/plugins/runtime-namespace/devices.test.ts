/** `gpu`/`audio = true` on a host without the devices: build says so (issue 16: it was silently ignored). */
import test from 'ava';
import { existsSync } from 'node:fs';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../../helpers/busybox-rootfs.js';
import { identitiesUnavailable, identity, manifest, project } from './harness.js';

const missing = identitiesUnavailable() ?? busyboxRootfsUnavailable() ?? (existsSync('/dev/dri') ? 'this host has /dev/dri' : undefined);
if (missing) console.warn(`device warning test skipped: ${missing}`);

(missing ? test.skip : test)('build warns about a requested gpu the host lacks, and the env still works', async (t) => {
  const p = project(identity('root'));
  t.teardown(() => p.cleanup());
  p.write('karapace.toml', manifest(busyboxRootfs(), '[hardware]\ngpu = true\n'));
  const r = await p.run(['build'], { timeoutMs: 300_000 });
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr.split('\n').filter((l) => l.includes('gpu = true but this host has no /dev/dri')).length, 1, r.stderr);
  const exec = await p.run(['exec', (/short_id: (\w+)/.exec(r.stdout) ?? [])[1]!, '--', 'true']);
  t.is(exec.code, 0, exec.stderr);
});
