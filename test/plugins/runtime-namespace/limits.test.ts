/**
 * Resource limits: enforced through a delegated cgroup v2 where the host offers one, and
 * reported (a warning at build naming the fix) where it does not — never silently ignored.
 */
import test from 'ava';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../../helpers/busybox-rootfs.js';
import { cgroupSupport } from '../../../plugins/runtime-namespace/src/cgroups.js';
import { buildEnv, identitiesUnavailable, identity, manifest, project, type Project } from './harness.js';

const missing = identitiesUnavailable() ?? busyboxRootfsUnavailable();
if (missing) console.warn(`runtime-namespace limits tests skipped: ${missing}`);
const projects: Project[] = [];
test.after.always(() => {
  for (const p of projects) p.cleanup();
});

for (const kind of ['root', 'user'] as const) {
  (missing ? test.skip : test)(`${kind}: memory and cpu limits are enforced or reported`, async (tt) => {
    const p = project(identity(kind));
    projects.push(p);
    p.write('karapace.toml', manifest(busyboxRootfs(), '[runtime.resource_limits]\nmemory_limit_mb = 512\ncpu_shares = 1024\n'));
    const build = await p.run(['build', '--json']);
    tt.is(build.code, 0, build.stderr);
    const shortId = (JSON.parse(build.stdout) as { short_id: string }).short_id;
    // What the CLI (running as this identity) will find: ask from a process with its cgroup.
    const probe = await p.run(['exec', shortId, '--', 'cat', '/proc/self/cgroup']);
    tt.is(probe.code, 0, probe.stderr);
    const v2line = probe.stdout.split('\n').find((l) => l.startsWith('0::'));
    const delegated = kind === 'root' ? cgroupSupport(['memory', 'cpu']).kind === 'v2-delegated' : v2line?.includes('/karapace-') === true;
    if (delegated) {
      tt.regex(v2line ?? '', /\/karapace-/, 'the sandbox runs in its own cgroup');
      const path = v2line!.slice(3).trim();
      const r = await p.run(['exec', shortId, '--', 'sh', '-c', `cat /sys/fs/cgroup${path}/memory.max /sys/fs/cgroup${path}/cpu.weight`]);
      tt.deepEqual(r.stdout.trim().split('\n'), [String(512 * 1024 * 1024), '39']);
    } else {
      tt.regex(build.stderr, /resource limits \(memory, cpu\) cannot be enforced on this host: .*Fix: /);
      tt.false(probe.stdout.includes('/karapace-'));
    }
  });
}
