/**
 * Host prerequisites of the built-in backends and image sources: user namespaces, overlay in
 * a user namespace (or fuse-overlayfs), newuidmap + subordinate ids, OCI runtimes,
 * mmdebstrap, cgroup v2 delegation. What is *required* depends on the default backend.
 */
import { mkdtempSync, rmSync, mkdirSync, rmdirSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { subidFix, type DoctorCheck } from '@karapace/kernel';
import { everywhere, formatFix, install } from './fixes.js';
import { probe, readText, which } from './probe.js';

export interface PrereqContext {
  env: NodeJS.ProcessEnv;
  /** The backend manifests get when they name none. */
  defaultBackend: string;
}

const PLUGIN = 'core';

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

function userNamespaces(ctx: PrereqContext, required: boolean): DoctorCheck {
  const base = { id: 'core.userns', title: 'Unprivileged user namespaces', required };
  const unshare = which('unshare', ctx.env.PATH);
  if (unshare) {
    const r = probe([unshare, '--user', '--map-root-user', 'true'], ctx.env);
    if (r.ok) return check({ ...base, status: 'ok', detail: 'unshare --user works' });
    return check({ ...base, status: required ? 'fail' : 'warn', detail: `unshare --user failed: ${r.output || 'no output'}`, fix: USERNS_FIX });
  }
  // No unshare(1) to try with: read the knobs that disable them.
  const max = Number(readText('/proc/sys/user/max_user_namespaces')?.trim() ?? '1');
  const clone = readText('/proc/sys/kernel/unprivileged_userns_clone')?.trim();
  const apparmor = readText('/proc/sys/kernel/apparmor_restrict_unprivileged_userns')?.trim();
  const off = max === 0 ? 'user.max_user_namespaces is 0' : clone === '0' ? 'kernel.unprivileged_userns_clone is 0' : apparmor === '1' ? 'AppArmor restricts unprivileged user namespaces' : undefined;
  if (!off) return check({ ...base, status: 'ok', detail: 'enabled in /proc/sys (unshare(1) not found to try it)' });
  return check({ ...base, status: required ? 'fail' : 'warn', detail: off, fix: USERNS_FIX });
}

const FUSE_PKG = install({ debian: 'fuse-overlayfs', fedora: 'fuse-overlayfs', opensuse: 'fuse-overlayfs', arch: 'fuse-overlayfs' });

/** Mounts a kernel overlay inside a fresh user + mount namespace. */
function kernelOverlay(ctx: PrereqContext): { ok: boolean; detail: string } {
  const unshare = which('unshare', ctx.env.PATH);
  const sh = which('sh', ctx.env.PATH);
  if (!unshare || !sh || !which('mount', ctx.env.PATH)) return { ok: false, detail: 'could not try it (unshare, sh or mount not on PATH)' };
  const dir = mkdtempSync(join(tmpdir(), 'karapace-doctor-'));
  try {
    for (const d of ['lower', 'upper', 'work', 'merged']) mkdirSync(join(dir, d));
    const r = probe([unshare, '--user', '--map-root-user', '--mount', sh, '-c',
      'mount -t overlay overlay -o "lowerdir=$1/lower,upperdir=$1/upper,workdir=$1/work" "$1/merged"', 'probe', dir], ctx.env);
    return r.ok ? { ok: true, detail: 'kernel overlayfs mounts inside a user namespace' } : { ok: false, detail: `kernel overlayfs in a user namespace failed: ${r.output || 'no output'}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function overlay(ctx: PrereqContext, required: boolean): DoctorCheck[] {
  const kernel = kernelOverlay(ctx);
  const fuse = which('fuse-overlayfs', ctx.env.PATH);
  const fuseCheck = check({
    id: 'core.fuse-overlayfs',
    title: 'fuse-overlayfs (fallback when the kernel refuses overlay in a user namespace)',
    status: fuse ? 'ok' : 'warn',
    detail: fuse ?? 'not found on PATH',
    required: false,
    ...(fuse ? {} : { fix: formatFix(FUSE_PKG) }),
  });
  const ok = kernel.ok || fuse !== undefined;
  const overall = check({
    id: 'core.overlay',
    title: 'Overlay filesystem in a user namespace (kernel overlayfs or fuse-overlayfs)',
    status: ok ? 'ok' : required ? 'fail' : 'warn',
    detail: kernel.ok ? kernel.detail : fuse ? `${kernel.detail}; fuse-overlayfs will be used (${fuse})` : `${kernel.detail}; fuse-overlayfs not found`,
    required,
    ...(ok ? {} : { fix: DISTRO_FIXES['core.overlay'] }),
  });
  return [overall, fuseCheck];
}

function subordinateIds(ctx: PrereqContext): DoctorCheck[] {
  const newuidmap = which('newuidmap', ctx.env.PATH);
  const newgidmap = which('newgidmap', ctx.env.PATH);
  const tools = check({
    id: 'core.newuidmap',
    title: 'newuidmap/newgidmap (full id ranges like rootless Podman; without them, single-id mapping)',
    status: newuidmap && newgidmap ? 'ok' : 'warn',
    detail: newuidmap && newgidmap ? `${newuidmap}, ${newgidmap}` : `not found on PATH: ${[newuidmap ? '' : 'newuidmap', newgidmap ? '' : 'newgidmap'].filter(Boolean).join(', ')}`,
    required: false,
    ...(newuidmap && newgidmap ? {} : { fix: DISTRO_FIXES['core.newuidmap'] }),
  });
  const user = ctx.env.USER || ctx.env.LOGNAME || userInfo().username;
  const uid = String(process.getuid?.() ?? '');
  const has = (file: string) => (readText(file) ?? '').split('\n').some((line) => {
    const owner = line.split(':')[0];
    return owner === user || owner === uid;
  });
  const sub = has('/etc/subuid') && has('/etc/subgid');
  const ids = check({
    id: 'core.subids',
    title: `Subordinate ids for ${user} (/etc/subuid, /etc/subgid)`,
    status: sub ? 'ok' : 'warn',
    detail: sub ? 'ranges found' : `no range for ${user}`,
    required: false,
    ...(sub ? {} : { fix: formatFix(everywhere(subidFix(user))) }),
  });
  return [tools, ids];
}

function ociRuntimes(ctx: PrereqContext, required: boolean): DoctorCheck {
  const found = ['crun', 'runc', 'youki'].map((n) => [n, which(n, ctx.env.PATH)] as const).filter(([, p]) => p);
  return check({
    id: 'core.oci-runtime',
    title: 'OCI runtime for the oci backend (crun, runc or youki)',
    status: found.length ? 'ok' : required ? 'fail' : 'warn',
    detail: found.length ? found.map(([n, p]) => `${n}: ${p}`).join(', ') : 'none found on PATH',
    required,
    ...(found.length ? {} : { fix: DISTRO_FIXES['core.oci-runtime'] }),
  });
}

function mmdebstrap(ctx: PrereqContext): DoctorCheck {
  const path = which('mmdebstrap', ctx.env.PATH);
  return check({
    id: 'core.mmdebstrap',
    title: 'mmdebstrap (bootstrap: Debian/Ubuntu roots from an apt mirror)',
    status: path ? 'ok' : 'warn',
    detail: path ?? 'not found on PATH',
    required: false,
    ...(path ? {} : { fix: DISTRO_FIXES['core.mmdebstrap'] }),
  });
}

const DELEGATE_FIX = formatFix(
  everywhere("sudo mkdir -p /etc/systemd/system/user@.service.d && printf '[Service]\\nDelegate=cpu cpuset io memory pids\\n' | sudo tee /etc/systemd/system/user@.service.d/delegate.conf && sudo systemctl daemon-reload"),
  'Boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1) and delegate controllers to users:',
);

function cgroupDelegation(): DoctorCheck {
  const base = { id: 'core.cgroups', title: 'cgroup v2 delegation (enforces [runtime.resource_limits])', required: false };
  const controllers = readText('/sys/fs/cgroup/cgroup.controllers');
  if (controllers === undefined) return check({ ...base, status: 'warn', detail: 'cgroup v1 host: resource limits are recorded but not enforced', fix: DELEGATE_FIX });
  const self = (readText('/proc/self/cgroup') ?? '').split('\n').find((l) => l.startsWith('0::'))?.slice(3) ?? '/';
  // Walk up from our own cgroup: the first one we may write with memory+cpu enabled below it.
  for (let dir = self; ; dir = dir.slice(0, dir.lastIndexOf('/')) || '/') {
    const path = join('/sys/fs/cgroup', dir);
    const subtree = readText(join(path, 'cgroup.subtree_control')) ?? '';
    if (probeWritable(path) && /\bmemory\b/.test(subtree) && /\bcpu\b/.test(subtree)) {
      return check({ ...base, status: 'ok', detail: `delegated: ${path} (${subtree.trim()})` });
    }
    if (dir === '/') break;
  }
  return check({ ...base, status: 'warn', detail: `no writable cgroup with memory and cpu delegated above ${self}`, fix: DELEGATE_FIX });
}

function probeWritable(path: string): boolean {
  try {
    mkdirSync(join(path, `karapace-doctor-${process.pid}`));
    rmdirSync(join(path, `karapace-doctor-${process.pid}`));
    return true;
  } catch {
    return false;
  }
}

/** Per-distribution fixes by core check id; also attached to plugins' checks of the same thing. */
export const DISTRO_FIXES: Record<string, string> = {
  'core.userns': USERNS_FIX,
  'core.overlay': formatFix(FUSE_PKG, 'Use Linux 5.11 or newer, or install fuse-overlayfs:'),
  'core.fuse-overlayfs': formatFix(FUSE_PKG),
  'core.newuidmap': formatFix(install({ debian: 'uidmap', fedora: 'shadow-utils', opensuse: 'shadow', arch: 'shadow' })),
  // Computed per host (subidFix): a fixed range would overlap the first user's.
  'core.subids': formatFix(everywhere(subidFix('$USER'))),
  'core.oci-runtime': formatFix(install({ debian: 'crun runc', fedora: 'crun runc', opensuse: 'crun runc', arch: 'crun runc' })),
  'core.mmdebstrap': formatFix({
    debian: 'sudo apt-get install mmdebstrap debian-archive-keyring',
    fedora: 'sudo dnf install mmdebstrap debian-keyring',
    opensuse: 'sudo zypper install mmdebstrap (Tumbleweed)',
    arch: 'sudo pacman -S mmdebstrap debian-archive-keyring',
  }),
  'core.cgroups': DELEGATE_FIX,
};

/** Plugin check ids that check the same thing as a core check. */
export const EQUIVALENT_CHECKS: Record<string, RegExp> = {
  'core.userns': /(^|\.)userns$/,
  'core.overlay': /(^|\.)overlay$/,
  'core.fuse-overlayfs': /(^|\.)fuse-overlayfs$/,
  'core.newuidmap': /(^|\.)(newuidmap|subids|idmap)$/,
  'core.subids': /(^|\.)subids$/,
  'core.oci-runtime': /(^|\.)oci-runtime(-[a-z]+)?$/,
  'core.mmdebstrap': /(^|\.)mmdebstrap$/,
  'core.cgroups': /(^|\.)cgroups$/,
};

export function prerequisiteChecks(ctx: PrereqContext): DoctorCheck[] {
  const namespace = ctx.defaultBackend === 'namespace';
  const checks = [userNamespaces(ctx, namespace), ...overlay(ctx, namespace), ...subordinateIds(ctx)];
  checks.push(ociRuntimes(ctx, ctx.defaultBackend === 'oci'), mmdebstrap(ctx), cgroupDelegation());
  return checks;
}
