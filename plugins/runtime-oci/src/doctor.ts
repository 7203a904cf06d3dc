/**
 * `doctor` checks: which OCI runtimes exist, whether each can start a container on this
 * host (a real probe: a throw-away container running /bin/true over a read-only view of
 * the host's /usr), and which one the backend will use. Plus the `destroy` tap.
 */
import { lstatSync, mkdtempSync, readlinkSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distroInstall, formatFix, type DoctorCheck, type EnvHandle } from '@karapace/kernel';
import { liveContainers, ociDirs } from './containers.js';
import { discoverRuntimes, selectRuntime, type RuntimeBinary } from './discovery.js';
import { cgroupLayout, isRoot, knownUnsupported } from './host.js';
import { RUNTIME_NAMES, type OciOptions, type RuntimeName } from './options.js';
import { deleteContainer, killContainer, runtimeCommand, runtimeVersion } from './runtime-cli.js';

export interface ProbeResult {
  ok: boolean;
  /** What happened, in one line (the runtime's own error when it failed). */
  detail: string;
}

const HOST_DIRS = ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64'];

const INSTALL_HINT: Record<RuntimeName, string> = {
  crun: formatFix(distroInstall({ debian: 'crun', fedora: 'crun', opensuse: 'crun', arch: 'crun' }), 'Install crun if you want the oci backend to use it:'),
  runc: formatFix(distroInstall({ debian: 'runc', fedora: 'runc', opensuse: 'runc', arch: 'runc' }), 'Install runc if you want the oci backend to use it:'),
  // Not packaged in Debian 12; supported by name, but untested by this project (see docs/runtime-oci.md).
  youki: 'youki is not packaged by Debian 12: put a release binary from https://github.com/containers/youki on PATH, or set "path" (and "runtime": "youki") in the "@karapace/runtime-oci" config section',
};

function probeConfig(rootfs: string, binds: string[]): Record<string, unknown> {
  const rootless = !isRoot();
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  return {
    ociVersion: '1.0.2',
    process: { terminal: false, user: { uid: 0, gid: 0 }, args: ['/bin/true'], env: ['PATH=/usr/bin:/bin'], cwd: '/', noNewPrivileges: true },
    root: { path: rootfs, readonly: true },
    hostname: 'karapace-probe',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'mode=755', 'size=1024k'] },
      ...binds.map((d) => ({ destination: `/${d}`, type: 'none', source: `/${d}`, options: ['rbind', 'ro'] })),
    ],
    linux: {
      ...(rootless ? { uidMappings: [{ containerID: 0, hostID: uid, size: 1 }], gidMappings: [{ containerID: 0, hostID: gid, size: 1 }] } : {}),
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }, ...(rootless ? [{ type: 'user' }] : [])],
    },
  };
}

/** Starts a throw-away container with the runtime; never leaves anything behind. */
export async function probeRuntime(runtime: RuntimeBinary): Promise<ProbeResult> {
  const dir = mkdtempSync(join(tmpdir(), 'karapace-oci-probe-'));
  const state = join(dir, 'state');
  const id = `karapace-probe-${process.pid}`;
  try {
    const rootfs = join(dir, 'rootfs');
    await mkdir(rootfs, { recursive: true });
    const binds: string[] = [];
    for (const d of HOST_DIRS) {
      const st = lstatSync(`/${d}`, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isSymbolicLink()) await symlink(readlinkSync(`/${d}`), join(rootfs, d));
      else if (st.isDirectory()) {
        await mkdir(join(rootfs, d));
        binds.push(d);
      }
    }
    await mkdir(join(rootfs, 'proc'));
    await mkdir(join(rootfs, 'dev'));
    await writeFile(join(dir, 'config.json'), JSON.stringify(probeConfig(rootfs, binds)));
    const r = await runtimeCommand(runtime.path, ['--root', state, 'run', '--bundle', dir, id], 30_000);
    if (r.code === 0) return { ok: true, detail: 'started a test container' };
    const message = r.stderr.trim().split('\n').filter(Boolean).pop() ?? `exit status ${r.code}`;
    return { ok: false, detail: message.replace(/^time="[^"]*" level=\w+ msg="(.*)"$/, '$1') };
  } finally {
    await killContainer(runtime.path, state, id, 'SIGKILL');
    await deleteContainer(runtime.path, state, id);
    await rm(dir, { recursive: true, force: true });
  }
}

/** `required`: the oci backend is the default one, so a usable runtime is required. */
export async function doctorChecks(options: OciOptions, required = false): Promise<DoctorCheck[]> {
  const layout = cgroupLayout();
  const found = discoverRuntimes();
  if (options.path && !found.some((r) => r.path === options.path)) {
    try {
      found.unshift(selectRuntime({ path: options.path, runtime: options.runtime }));
    } catch {
      // reported by the "selected" check below
    }
  }
  const checks: DoctorCheck[] = [];
  const usable = new Set<string>();
  for (const name of RUNTIME_NAMES) {
    const runtimes = found.filter((r) => r.name === name);
    if (!runtimes.length) {
      checks.push({ id: `oci-runtime-${name}`, title: `OCI runtime ${name}`, status: 'warn', detail: 'not installed (not on PATH)', fix: INSTALL_HINT[name], required: false, plugin: 'runtime-oci' });
      continue;
    }
    for (const runtime of runtimes) {
      const version = (await runtimeVersion(runtime.path)) ?? 'version unknown';
      const probe = await probeRuntime(runtime);
      const known = knownUnsupported(runtime.name, layout);
      if (probe.ok) usable.add(runtime.path);
      checks.push({
        id: `oci-runtime-${name}`,
        title: `OCI runtime ${name}`,
        status: probe.ok ? 'ok' : 'warn',
        detail: `${runtime.path} (${version}): ${probe.ok ? probe.detail : `cannot start a container on this host: ${probe.detail}`}${!probe.ok && known ? ` — ${known}` : ''}`,
        ...(probe.ok ? {} : { fix: known ? 'use runc or youki, or boot with cgroup v2 only (systemd.unified_cgroup_hierarchy=1)' : `run \`${runtime.path} --help\` and check the error above; as non-root the runtime needs unprivileged user namespaces` }),
        required: false,
        plugin: 'runtime-oci',
      });
    }
  }
  let selected: RuntimeBinary | undefined;
  let problem: string | undefined;
  try {
    selected = selectRuntime(options);
  } catch (err) {
    problem = (err as Error).message;
  }
  checks.push({
    id: 'oci-runtime-selected',
    title: 'OCI backend runtime',
    status: selected && usable.has(selected.path) ? 'ok' : required ? 'fail' : 'warn',
    detail: selected
      ? `backend "oci" runs ${selected.name} (${selected.path})${usable.has(selected.path) ? '' : ', which failed its probe'}; cgroups: ${layout}; ${isRoot() ? 'as root' : 'rootless (single-id user namespace, no resource limits)'}`
      : problem,
    ...(selected && usable.has(selected.path) ? {} : { fix: formatFix(distroInstall({ debian: 'crun runc', fedora: 'crun runc', opensuse: 'crun runc', arch: 'crun runc' }), 'Install an OCI runtime, or set "@karapace/runtime-oci": { "runtime": "…" } in your config:') }),
    required,
    plugin: 'runtime-oci',
  });
  return checks;
}

/** Before an environment's directory goes: kill and delete whatever containers it still has. */
export async function destroyOciState(env: EnvHandle): Promise<void> {
  const dirs = ociDirs(env);
  for (const c of await liveContainers(dirs, { reap: true })) {
    await killContainer(c.record.runtime, dirs.state, c.record.id, 'SIGKILL');
    await deleteContainer(c.record.runtime, dirs.state, c.record.id);
  }
  await rm(dirs.base, { recursive: true, force: true });
}
