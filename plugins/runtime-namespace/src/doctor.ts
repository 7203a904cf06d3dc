/**
 * doctor checks for the namespace backend. Each one tries the real thing where it can
 * (a user namespace, an overlay mount inside one) and says how to fix a failure on the
 * distributions users ask about. They are required when this is the default backend.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultBackendOf, distroInstall, formatFix, invokingUser, subidFix, type DoctorCheck, type DoctorReport, type Kernel } from '@karapace/kernel';
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

const USERNS_FIX = formatFix(
  {
    debian: 'sudo sysctl -w kernel.unprivileged_userns_clone=1 (Ubuntu 24.04+: also sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or add an AppArmor profile)',
    fedora: 'sudo sysctl -w user.max_user_namespaces=28633',
    opensuse: 'sudo sysctl -w user.max_user_namespaces=28633',
    arch: 'sudo sysctl -w kernel.unprivileged_userns_clone=1 (only linux-hardened disables it)',
  },
  'Allow unprivileged user namespaces (persist it in /etc/sysctl.d/99-karapace.conf):',
);
/** Why /dev/fuse cannot be used by this user (missing, or its mode and owner), or undefined. */
export function fuseDeviceProblem(device = '/dev/fuse'): string | undefined {
  let st;
  try {
    st = statSync(device);
  } catch {
    return `${device} is missing (the fuse module is not loaded)`;
  }
  try {
    accessSync(device, constants.R_OK | constants.W_OK);
    return undefined;
  } catch {
    return `${device} is not readable and writable by you (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}, owner uid ${st.uid} gid ${st.gid})`;
  }
}

const FUSE_PKG = distroInstall({ debian: 'fuse-overlayfs', fedora: 'fuse-overlayfs', opensuse: 'fuse-overlayfs', arch: 'fuse-overlayfs' });
const UIDMAP_PKG = distroInstall({ debian: 'uidmap', fedora: 'shadow-utils', opensuse: 'shadow', arch: 'shadow' });

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
  // Without user namespaces and an overlay the default backend runs nothing; another backend's users need neither.
  const required = defaultBackendOf(kernel.config) === 'namespace';
  const failed = required ? 'fail' : 'warn';
  let launcherOk = true;
  try {
    accessSync(launcher, constants.X_OK);
  } catch {
    launcherOk = false;
  }
  report.checks.push(check({
    id: 'namespace.launcher', title: 'sandbox launcher (karapace-sandbox)', required,
    status: launcherOk ? 'ok' : failed, detail: launcher,
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
        id: 'namespace.userns', title: 'unprivileged user namespaces', required,
        status: userns.ok ? 'ok' : failed, detail: `${userns.detail}${!userns.ok && maxUserns === '0' ? ' (user.max_user_namespaces is 0)' : ''}`,
        ...(userns.ok ? {} : { fix: USERNS_FIX }),
      }));
      mkdirSync(join(scratch, 'upper'));
      mkdirSync(join(scratch, 'work'));
      const overlayArgs = ['--lower', empty, '--upper', join(scratch, 'upper'), '--work', join(scratch, 'work')];
      const overlay = userns.ok ? probe(launcher, overlayArgs) : { ok: false, detail: 'needs user namespaces' };
      const fuse = findExecutable('fuse-overlayfs');
      const device = fuseDeviceProblem();
      report.checks.push(check({
        id: 'namespace.overlay', title: 'kernel overlayfs inside a user namespace (on the store\'s filesystem)', required: required && !fuse,
        status: overlay.ok ? 'ok' : fuse ? 'warn' : failed, detail: overlay.detail,
        ...(overlay.ok ? {} : {
          fix: fuse
            ? 'Use Linux 5.11 or newer and keep the store on a local filesystem (ext4, xfs, btrfs); meanwhile fuse-overlayfs is used (see namespace.fuse-overlayfs)'
            : formatFix(FUSE_PKG, 'Use Linux 5.11 or newer and keep the store on a local filesystem (ext4, xfs, btrfs), or install fuse-overlayfs:'),
        }),
      }));
      let fuseResult: { ok: boolean; detail: string } = { ok: false, detail: 'not installed' };
      if (fuse) {
        rmSync(join(scratch, 'upper'), { recursive: true, force: true });
        rmSync(join(scratch, 'work'), { recursive: true, force: true });
        mkdirSync(join(scratch, 'upper'));
        mkdirSync(join(scratch, 'work'));
        // The device first: its permissions, not fuse-overlayfs, are the usual trouble.
        fuseResult = device ? { ok: false, detail: device } : probe(launcher, [...overlayArgs, '--fuse-overlayfs', fuse]);
      }
      report.checks.push(check({
        id: 'namespace.fuse-overlayfs', title: 'fuse-overlayfs (fallback when kernel overlayfs is refused)', required: required && !overlay.ok,
        status: fuseResult.ok ? 'ok' : overlay.ok ? 'warn' : failed, detail: fuse ? `${fuse}: ${fuseResult.detail}` : 'not installed',
        ...(fuseResult.ok ? {} : {
          fix: !fuse
            ? formatFix(FUSE_PKG) + (device ? `\nAlso: ${device}; make it usable: modprobe fuse && chmod 0666 /dev/fuse (the usual mode)` : '')
            : device || /dev\/fuse/.test(fuseResult.detail)
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
    ...(idStatus === 'ok' ? {} : { fix: `${formatFix(UIDMAP_PKG, 'Install newuidmap/newgidmap:')}\nThen give ${user.name} a range that overlaps no other user's: ${subidFix(user.name)}` }),
  }));

  const cg = cgroupSupport();
  report.checks.push(check({
    id: 'namespace.cgroups', title: 'cgroup v2 delegation (enforces [runtime.resource_limits])', required: false,
    status: cg.kind === 'v2-delegated' ? 'ok' : 'warn', detail: describeCgroupSupport(cg),
    ...(cg.kind === 'v2-delegated' ? {} : { fix: CGROUP_FIX }),
  }));
}
