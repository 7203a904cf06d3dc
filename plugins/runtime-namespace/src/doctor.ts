/**
 * doctor checks for the namespace backend. Each one tries the real thing where it can
 * (a user namespace, an overlay mount inside one) and says how to fix a failure.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { invokingUser, subidFix, type DoctorCheck, type DoctorReport, type Kernel } from '@karapace/kernel';
import { CGROUP_FIX, cgroupSupport, describeCgroupSupport } from './cgroups.js';
import { findExecutable, idFacts } from './ids.js';
import { launcherPath } from './launcher.js';
import type { NamespaceOptions } from './options.js';

const PLUGIN = 'runtime-namespace';
/** A command that does not exist: exit 127 proves the sandbox was set up completely. */
const PROBE = '/karapace-doctor-probe-does-not-exist';

function check(c: Omit<DoctorCheck, 'plugin'>): DoctorCheck {
  return { ...c, plugin: PLUGIN };
}

function probe(launcher: string, args: string[]): { ok: boolean; detail: string } {
  // SIGKILL on timeout: the launcher's death takes its whole sandbox down (PDEATHSIG).
  const r = spawnSync(launcher, [...args, '--', PROBE], { encoding: 'utf8', timeout: 10_000, killSignal: 'SIGKILL' });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') return { ok: false, detail: 'timed out after 10 s' };
  if (r.status === 127) return { ok: true, detail: 'works' };
  const message = (r.stderr || r.error?.message || '').trim().split('\n').filter((l) => !l.includes(PROBE)).join(' ');
  return { ok: false, detail: message || `exit ${r.status}` };
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export async function namespaceDoctor(kernel: Kernel, options: NamespaceOptions, report: DoctorReport): Promise<void> {
  const launcher = launcherPath(options.launcher);
  let launcherOk = true;
  try {
    accessSync(launcher, constants.X_OK);
  } catch {
    launcherOk = false;
  }
  report.checks.push(check({
    id: 'namespace.launcher', title: 'sandbox launcher (karapace-sandbox)', required: true,
    status: launcherOk ? 'ok' : 'fail', detail: launcher,
    ...(launcherOk ? {} : { fix: 'build it: `npm run build:native` (needs gcc and make)' }),
  }));

  const scratch = mkdtempSync(join(existsSync(kernel.storeRoot) ? kernel.storeRoot : tmpdir(), '.doctor-'));
  try {
    const empty = join(scratch, 'lower');
    mkdirSync(empty);
    if (launcherOk) {
      const userns = probe(launcher, ['--rootfs', empty]);
      const maxUserns = readText('/proc/sys/user/max_user_namespaces');
      report.checks.push(check({
        id: 'namespace.userns', title: 'unprivileged user namespaces', required: true,
        status: userns.ok ? 'ok' : 'fail', detail: userns.detail,
        ...(userns.ok ? {} : {
          fix: maxUserns === '0'
            ? 'enable them: sysctl -w user.max_user_namespaces=15000'
            : 'enable them: sysctl -w kernel.unprivileged_userns_clone=1 (Debian/Ubuntu), or on Ubuntu 24.04+ kernel.apparmor_restrict_unprivileged_userns=0',
        }),
      }));
      mkdirSync(join(scratch, 'upper'));
      mkdirSync(join(scratch, 'work'));
      const overlayArgs = ['--lower', empty, '--upper', join(scratch, 'upper'), '--work', join(scratch, 'work')];
      const overlay = userns.ok ? probe(launcher, overlayArgs) : { ok: false, detail: 'needs user namespaces' };
      const fuse = findExecutable('fuse-overlayfs');
      report.checks.push(check({
        id: 'namespace.overlay', title: 'kernel overlayfs inside a user namespace (on the store\'s filesystem)', required: !fuse,
        status: overlay.ok ? 'ok' : fuse ? 'warn' : 'fail', detail: overlay.detail,
        ...(overlay.ok ? {} : { fix: 'use Linux ≥ 5.11 and keep the store on a local filesystem (ext4, xfs, btrfs); otherwise install fuse-overlayfs' }),
      }));
      let fuseResult: { ok: boolean; detail: string } = { ok: false, detail: 'not installed' };
      if (fuse) {
        rmSync(join(scratch, 'upper'), { recursive: true, force: true });
        rmSync(join(scratch, 'work'), { recursive: true, force: true });
        mkdirSync(join(scratch, 'upper'));
        mkdirSync(join(scratch, 'work'));
        fuseResult = !existsSync('/dev/fuse') ? { ok: false, detail: '/dev/fuse is missing' } : probe(launcher, [...overlayArgs, '--fuse-overlayfs', fuse]);
      }
      report.checks.push(check({
        id: 'namespace.fuse-overlayfs', title: 'fuse-overlayfs (fallback when kernel overlayfs is refused)', required: !overlay.ok,
        status: fuseResult.ok ? 'ok' : overlay.ok ? 'warn' : 'fail', detail: fuse ? `${fuse}: ${fuseResult.detail}` : 'not installed',
        ...(fuseResult.ok ? {} : {
          fix: !fuse
            ? 'apt-get install fuse-overlayfs'
            : /dev\/fuse/.test(fuseResult.detail)
              ? 'make /dev/fuse usable by users: modprobe fuse && chmod 0666 /dev/fuse (the usual mode)'
              : 'check that fuse works for this user (fusermount3 from the fuse3 package)',
        }),
      }));
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }

  const user = invokingUser();
  const ids = idFacts(user);
  const idStatus = ids.mode === 'single' ? 'warn' : 'ok';
  report.checks.push(check({
    id: 'namespace.subids', title: 'newuidmap/newgidmap and subordinate id ranges', required: false, status: idStatus,
    detail: ids.mode === 'root'
      ? 'running as root: every id is mapped'
      : ids.mode === 'full'
        ? `full mapping: uids ${ids.subuid!.start}+${ids.subuid!.count}, gids ${ids.subgid!.start}+${ids.subgid!.count} (${ids.newuidmap})`
        : `single-id mapping (${!ids.newuidmap || !ids.newgidmap ? 'newuidmap/newgidmap not installed' : `no range for ${user.name} in /etc/subuid or /etc/subgid`}); package installs fake chown`,
    ...(idStatus === 'ok' ? {} : { fix: `apt-get install uidmap; ${subidFix(user.name)} (a range that overlaps no other user's)` }),
  }));

  const cg = cgroupSupport();
  report.checks.push(check({
    id: 'namespace.cgroups', title: 'cgroup v2 delegation (enforces [runtime.resource_limits])', required: false,
    status: cg.kind === 'v2-delegated' ? 'ok' : 'warn', detail: describeCgroupSupport(cg),
    ...(cg.kind === 'v2-delegated' ? {} : { fix: CGROUP_FIX }),
  }));
}
