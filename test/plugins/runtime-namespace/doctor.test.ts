/** doctor checks of the namespace backend, run for real on this host. */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, type DoctorReport } from '@karapace/kernel';
import { identitiesUnavailable, identity, project, subidIdentity, type Identity } from './harness.js';

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

/**
 * doctor tells the truth for the user running it: mmdebstrap's unshare mode without
 * subordinate ids is a warning that names them (as root and with a range it is fine), and an
 * unusable /dev/fuse is named with its mode instead of blaming fuse-overlayfs.
 */
const NO_SUBID = 'kp-nosubid';
function userWithoutSubids(): Identity {
  const script = [
    'set -e',
    `getent passwd ${NO_SUBID} >/dev/null || useradd -m ${NO_SUBID}`,
    `for f in /etc/subuid /etc/subgid; do test -f "$f" && sed -i '/^${NO_SUBID}:/d' "$f"; done`,
  ].join('\n');
  const r = spawnSync('flock', ['/tmp/.kp-subid.lock', 'sh', '-c', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`could not create ${NO_SUBID}: ${r.stderr}`);
  const [, , uid, gid, , home] = spawnSync('getent', ['passwd', NO_SUBID], { encoding: 'utf8' }).stdout.trim().split(':');
  return { kind: 'user', name: NO_SUBID, uid: Number(uid), gid: Number(gid), home: home! };
}

interface Check { id: string; status: string; detail: string; fix?: string }
async function doctorAs(who: Identity): Promise<Map<string, Check>> {
  const p = project(who);
  try {
    const r = await p.run(['doctor', '--json']);
    const report = JSON.parse(r.stdout) as { checks: Check[] };
    return new Map(report.checks.map((c) => [c.id, c]));
  } finally {
    p.cleanup();
  }
}

const identitiesMissing = identitiesUnavailable();
const hasMmdebstrap = spawnSync('sh', ['-c', 'command -v mmdebstrap'], { stdio: 'ignore' }).status === 0;
(identitiesMissing || !hasMmdebstrap ? test.skip : test)('doctor: mmdebstrap\'s mode and /dev/fuse as they are for root, a user with subordinate ids and one without', async (t) => {
  const root = await doctorAs(identity('root'));
  t.is(root.get('image-sources.mmdebstrap')!.status, 'ok');
  t.regex(root.get('image-sources.mmdebstrap')!.detail, /root mode/);

  const ranged = await doctorAs(subidIdentity());
  t.is(ranged.get('image-sources.mmdebstrap')!.status, 'ok', ranged.get('image-sources.mmdebstrap')!.detail);
  t.regex(ranged.get('image-sources.mmdebstrap')!.detail, /unshare mode/);

  const bare = userWithoutSubids();
  const none = await doctorAs(bare);
  const mm = none.get('image-sources.mmdebstrap')!;
  t.is(mm.status, 'warn');
  t.regex(mm.detail, new RegExp(`unshare mode .*no range for ${NO_SUBID} in /etc/subuid and /etc/subgid`));
  t.regex(mm.fix ?? '', /subordinate range/);

  // /dev/fuse as this host has it: when the user may not open it, that is what doctor says.
  const fuse = none.get('namespace.fuse-overlayfs')!;
  let st: ReturnType<typeof statSync> | undefined;
  try {
    st = statSync('/dev/fuse');
  } catch {
    // no device: named as missing
  }
  if (!st) t.regex(fuse.detail + (fuse.fix ?? ''), /\/dev\/fuse is missing/);
  else if ((st.mode & 0o006) !== 0o006 && st.uid !== bare.uid) {
    t.regex(fuse.detail + (fuse.fix ?? ''), /\/dev\/fuse is not readable and writable by you \(mode 0\d{3}/);
    t.notRegex(fuse.detail, /not installed/);
  } else t.pass('/dev/fuse is usable by everyone here');
});
