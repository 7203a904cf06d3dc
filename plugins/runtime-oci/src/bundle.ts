/**
 * The OCI runtime bundle's config.json (runtime-spec 1.0) for one process in one
 * environment. The root is the environment's overlay — lower = env.lowerDirs, upper/work =
 * env.paths — mounted by the runtime itself as the first mount, over the bundle's empty
 * rootfs directory, inside the container's mount namespace. Nothing is mounted on the host,
 * so a crashed CLI leaves no mount behind, and the same code works as root and rootless
 * (overlayfs in a user namespace, Linux ≥ 5.11). `userxattr` matches the namespace
 * backend, which always mounts from inside a user namespace: whiteouts and opaque markers
 * in the upper directory are the same whichever backend wrote them.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { INIT_IN_CONTAINER } from './init.js';
import { RuntimeFailure, type EnvHandle, type IdentityFiles, type InvokingUser, type ResolvedMount, type SpawnRequest } from '@karapace/kernel';

export interface BundleInput {
  request: Pick<SpawnRequest, 'argv' | 'environment' | 'cwd' | 'user' | 'tty' | 'network' | 'purpose' | 'readOnly'>;
  env: Pick<EnvHandle, 'shortId' | 'name' | 'lowerDirs' | 'paths' | 'manifest'>;
  /** The empty directory the overlay is mounted over. */
  rootfs: string;
  user: InvokingUser;
  /** Running without root: a user namespace maps container root to the invoking user. */
  rootless: boolean;
  /** Manifest mounts after the security policy (exec/enter only). */
  mounts: ResolvedMount[];
  /** Device directories the manifest asked for (/dev/dri, /dev/snd). */
  devices: string[];
  /** Host resolv.conf (real path), when there is one. */
  resolvConf?: string;
  /** Apply cgroup limits (false where the runtime cannot, e.g. rootless on cgroup v1). */
  applyLimits: boolean;
  /** Generated /etc/passwd and /etc/group with the invoking user (exec/enter only). */
  identity?: IdentityFiles;
  /** Host path of the static init to run the command under (pid 1), or none: the command is pid 1. */
  init?: string;
  /** Terminal size for `enter`. */
  consoleSize?: { width: number; height: number };
  /** Generated /etc files (hosts, localtime, sudoers; kernel etcPlan) bound read-only. */
  etc?: { source: string; target: string }[];
  /** Variables that go with the generated files (TZ), unless the request sets them. */
  etcEnvironment?: Record<string, string>;
  /** Host sockets of the session (ssh-agent, D-Bus, display, audio), exec/enter only. */
  sockets?: { source: string; target: string }[];
}

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

/** Docker's default capability set: what package managers and their scripts need as root. */
const ROOT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** overlayfs splits its options on "," and lowerdir on ":"; such paths cannot be expressed. */
function overlayPath(path: string): string {
  if (/[,:]/.test(path)) {
    throw new RuntimeFailure('KP_OCI_PATH_UNSUPPORTED', `the path ${path} contains "," or ":", which overlayfs options cannot express`, {
      hint: 'move the store (--store / KARAPACE_STORE) to a path without "," or ":"',
    });
  }
  return path;
}

export function overlayMount(env: BundleInput['env']): OciMount {
  const options = [
    `lowerdir=${env.lowerDirs.map(overlayPath).join(':')}`,
    `upperdir=${overlayPath(env.paths.upper)}`,
    `workdir=${overlayPath(env.paths.work)}`,
    'userxattr',
  ];
  return { destination: '/', type: 'overlay', source: 'overlay', options };
}

/** glibc's major()/minor() for a dev_t. */
export function splitDev(rdev: number): { major: number; minor: number } {
  const d = BigInt(rdev);
  return { major: Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn)), minor: Number((d & 0xffn) | ((d >> 12n) & ~0xffn)) };
}

/** Character devices below a device directory, for the device cgroup's allow-list. */
export function charDevices(dir: string): Array<{ major: number; minor: number }> {
  const out: Array<{ major: number; minor: number }> = [];
  const walk = (d: string) => {
    let entries: string[];
    try {
      entries = readdirSync(d);
    } catch {
      return;
    }
    for (const name of entries) {
      const p = join(d, name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) walk(p);
      else if (st.isCharacterDevice()) out.push(splitDev(st.rdev));
    }
  };
  walk(dir);
  return out;
}

export function hostnameFor(env: BundleInput['env']): string {
  return env.name && /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(env.name) ? env.name : `karapace-${env.shortId}`;
}

export function buildConfig(input: BundleInput): Record<string, unknown> {
  const { request, env, user, rootless } = input;
  const asRoot = request.user === 'root';
  // Rootless without subordinate ids maps one id: container root is the invoking user,
  // so exec runs as container root (files it writes are the invoker's on the host).
  const uid = asRoot || rootless ? 0 : user.uid;
  const gid = asRoot || rootless ? 0 : user.gid;
  const interactive = request.purpose !== 'install';
  const terminal = request.tty && input.consoleSize !== undefined;
  const caps = uid === 0 ? ROOT_CAPS : [];

  const mounts: OciMount[] = [
    overlayMount(env),
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...(rootless ? [] : ['gid=5'])] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    // sysfs can only be mounted by the owner of the network namespace; otherwise bind the host's.
    request.network || rootless
      ? { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
      : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  ];
  // On the /dev tmpfs: the mount point never reaches the upper directory.
  if (input.init) mounts.push({ destination: INIT_IN_CONTAINER, type: 'none', source: input.init, options: ['bind', 'ro', 'nosuid', 'nodev'] });
  if (input.resolvConf) mounts.push({ destination: '/etc/resolv.conf', type: 'none', source: input.resolvConf, options: ['bind', 'ro', 'nosuid', 'nodev'] });
  if (input.identity) {
    mounts.push({ destination: '/etc/passwd', type: 'none', source: input.identity.passwd, options: ['bind', 'ro', 'nosuid', 'nodev'] });
    mounts.push({ destination: '/etc/group', type: 'none', source: input.identity.group, options: ['bind', 'ro', 'nosuid', 'nodev'] });
  }
  for (const f of input.etc ?? []) mounts.push({ destination: f.target, type: 'none', source: f.source, options: ['bind', 'ro', 'nosuid', 'nodev'] });
  if (interactive) {
    for (const so of input.sockets ?? []) mounts.push({ destination: so.target, type: 'none', source: so.source, options: ['bind', 'nosuid', 'nodev'] });
    if (user.home && user.home !== '/') mounts.push({ destination: user.home, type: 'none', source: user.home, options: ['rbind', 'rprivate'] });
    for (const m of input.mounts) {
      mounts.push({ destination: m.target, type: 'none', source: m.source, options: ['rbind', 'rprivate', ...(m.readOnly ? ['ro'] : [])] });
    }
  }
  for (const dev of input.devices) mounts.push({ destination: dev, type: 'none', source: dev, options: ['rbind', 'nosuid', 'noexec'] });

  const namespaces = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (!request.network) namespaces.push({ type: 'network' });
  if (rootless) namespaces.push({ type: 'user' });

  const resources: Record<string, unknown> = {
    devices: [
      { allow: false, access: 'rwm' },
      ...input.devices.flatMap((d) => charDevices(d).map((c) => ({ allow: true, type: 'c', major: c.major, minor: c.minor, access: 'rwm' }))),
    ],
  };
  const limits = env.manifest.runtime.resource_limits;
  if (input.applyLimits && limits.memory_limit_mb !== undefined) resources.memory = { limit: limits.memory_limit_mb * 1024 * 1024 };
  if (input.applyLimits && limits.cpu_shares !== undefined) resources.cpu = { shares: limits.cpu_shares };

  const environment = { ...request.environment };
  if (input.etcEnvironment) for (const [k, v] of Object.entries(input.etcEnvironment)) environment[k] ??= v;
  if (terminal && !environment.TERM) environment.TERM = 'xterm';

  return {
    ociVersion: '1.0.2',
    process: {
      terminal,
      ...(terminal ? { consoleSize: input.consoleSize } : {}),
      user: { uid, gid },
      args: input.init ? [INIT_IN_CONTAINER, '--', ...request.argv] : request.argv,
      env: Object.entries(environment).map(([k, v]) => `${k}=${v}`),
      cwd: request.cwd ?? (interactive && user.home ? user.home : '/'),
      capabilities: { bounding: ROOT_CAPS, effective: caps, permitted: caps },
      noNewPrivileges: !asRoot,
    },
    // Frozen: runc remounts the root read-only once every mount point exists.
    root: { path: input.rootfs, readonly: request.readOnly === true },
    hostname: hostnameFor(env),
    mounts,
    linux: {
      ...(rootless
        ? {
            uidMappings: [{ containerID: 0, hostID: user.uid, size: 1 }],
            gidMappings: [{ containerID: 0, hostID: user.gid, size: 1 }],
          }
        : {}),
      ...(rootless && !input.applyLimits ? {} : { resources }),
      namespaces,
      maskedPaths: ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}
