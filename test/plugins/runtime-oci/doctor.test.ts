/** `doctor` probes each runtime for real; crun on a hybrid cgroup host is reported as such. */
import test from 'ava';
import { cgroupLayout, discoverRuntimes, doctorChecks, knownUnsupported, probeRuntime } from '@karapace/runtime-oci';
import { runcUnavailable } from './fixtures.js';

const missing = runcUnavailable();
if (missing) console.warn(`runtime-oci doctor test skipped: ${missing}`);

(missing ? test.skip : test)('doctor reports each runtime, whether it can start a container, and the one in use', async (t) => {
  const checks = await doctorChecks({ runtime: 'runc' });
  const runc = checks.find((c) => c.id === 'oci-runtime-runc');
  t.is(runc?.status, 'ok', runc?.detail);
  t.regex(runc?.detail ?? '', /runc version .*: started a test container/);
  const selected = checks.find((c) => c.id === 'oci-runtime-selected');
  t.is(selected?.status, 'ok');
  t.regex(selected?.detail ?? '', /backend "oci" runs runc/);
  t.true(checks.every((c) => c.required === false));
  const crun = discoverRuntimes().find((r) => r.name === 'crun');
  const crunCheck = checks.find((c) => c.id === 'oci-runtime-crun')!;
  if (!crun) {
    t.regex(crunCheck.detail ?? '', /not installed/);
  } else if (cgroupLayout() === 'hybrid') {
    // This is the host the issue describes: crun refuses hybrid cgroups, and doctor says so.
    t.is(crunCheck.status, 'warn');
    t.regex(crunCheck.detail ?? '', /cgroups in hybrid mode/);
    t.regex(crunCheck.fix ?? '', /use runc/);
    t.false((await probeRuntime(crun)).ok);
  } else {
    t.is(crunCheck.status, 'ok', crunCheck.detail);
  }
});

test('crun is known not to work on hybrid cgroup hosts; runc and youki are not flagged', (t) => {
  t.regex(knownUnsupported('crun', 'hybrid') ?? '', /hybrid mode/);
  t.is(knownUnsupported('crun', 'unified'), undefined);
  t.is(knownUnsupported('runc', 'hybrid'), undefined);
  t.is(knownUnsupported('youki', 'hybrid'), undefined);
});
