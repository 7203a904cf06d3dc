/** doctor checks of the namespace backend, run for real on this host. */
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, type DoctorReport } from '@karapace/kernel';

test('doctor tries user namespaces and overlayfs for real and says how to fix what fails', async (t) => {
  const store = mkdtempSync(join(tmpdir(), 'kp-ns-doctor-'));
  mkdirSync(store, { recursive: true });
  try {
    const engine = await createEngine({ store, globalConfigDir: join(store, 'no-config'), cwd: store });
    const report: DoctorReport = { checks: [] };
    await engine.kernel.hooks.doctor.promise(report);
    const ours = new Map(report.checks.filter((c) => c.plugin === 'runtime-namespace').map((c) => [c.id, c]));
    t.deepEqual([...ours.keys()].sort(), ['namespace.cgroups', 'namespace.fuse-overlayfs', 'namespace.launcher', 'namespace.overlay', 'namespace.subids', 'namespace.userns']);
    for (const c of ours.values()) if (c.status !== 'ok') t.truthy(c.fix, `${c.id} says how to fix it`);
    // The sandbox tests run on this host, so these must work here.
    t.is(ours.get('namespace.launcher')!.status, 'ok');
    t.is(ours.get('namespace.userns')!.status, 'ok', ours.get('namespace.userns')!.detail);
    t.is(ours.get('namespace.overlay')!.status, 'ok', ours.get('namespace.overlay')!.detail);
    // cgroup delegation is reported as it is: v1 hosts (no cgroup.controllers) get a warning.
    const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
    if (!v2) t.is(ours.get('namespace.cgroups')!.status, 'warn');
    // The probes' scratch directories are gone.
    t.deepEqual(readdirSync(store).filter((n) => n.startsWith('.doctor-')), []);
  } finally {
    rmSync(store, { recursive: true, force: true });
  }
});
