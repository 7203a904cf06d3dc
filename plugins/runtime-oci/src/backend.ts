/**
 * The `oci` backend: mount prepares a bundle directory (and clears stale containers of
 * the environment), spawn writes config.json and runs `<runtime> run` in the foreground,
 * stop/status ask the runtime about the environment's containers under its own state root.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  etcPlan, integrationSockets, invokingUser, missingDevicesWarning, requestedDevices, resolveMounts, RuntimeFailure, securityPolicy, writeIdentityFiles,
  type Backend, type EnvHandle, type Kernel, type MountPlan, type MountRequest, type RunState, type SpawnRequest, type SpawnResult,
  collectOutput, exitStatus, forwardSignals,
} from '@karapace/kernel';
import { buildConfig, hostnameFor } from './bundle.js';
import { containerId, liveContainers, ociDirs, prepareBundle, writeRecord } from './containers.js';
import { selectRuntime, type RuntimeBinary } from './discovery.js';
import { cgroupLayout, isRoot, knownUnsupported } from './host.js';
import { initPath, requireInit } from './init.js';
import type { OciOptions } from './options.js';
import { containerState, deleteContainer, killContainer } from './runtime-cli.js';

export const BACKEND_NAME = 'oci';

interface OciPlanData {
  id: string;
  bundle: string;
  rootfs: string;
  runtime: RuntimeBinary;
  /** Host path of the container's init, unless disabled. */
  init?: string;
}

function resolvConf(): string | undefined {
  try {
    return existsSync('/etc/resolv.conf') ? realpathSync('/etc/resolv.conf') : undefined;
  } catch {
    return undefined;
  }
}

function unsupportedFailure(runtime: RuntimeBinary, reason: string): RuntimeFailure {
  return new RuntimeFailure('KP_OCI_RUNTIME_UNSUPPORTED', `${runtime.name} (${runtime.path}) cannot start containers on this host: ${reason}`, {
    hint: 'use runc (`"@karapace/runtime-oci": { "runtime": "runc" }` in your config), boot with cgroup v2 only (systemd.unified_cgroup_hierarchy=1), or use backend "namespace"',
    data: { runtime: runtime.name, path: runtime.path },
  });
}

/** The runtime's own error (from its --log), when it failed before or while starting the process. */
function startFailure(log: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n').reverse()) {
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string; message?: string };
      if (entry.level === 'error' || entry.level === 'fatal') return entry.msg ?? entry.message;
    } catch {
      // not JSON: ignore
    }
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createOciBackend(kernel: Kernel, options: OciOptions): Backend {
  let warnedDevices = false;
  return {
    name: BACKEND_NAME,

    async mount(request: MountRequest): Promise<MountPlan> {
      const runtime = selectRuntime(options);
      const reason = knownUnsupported(runtime.name, cgroupLayout());
      if (reason) throw unsupportedFailure(runtime, reason);
      const init = options.init === false ? undefined : requireInit(initPath(typeof options.init === 'string' ? options.init : undefined));
      const env = request.env;
      // Asked-for devices the host lacks: said once at build, never silently dropped.
      const devices = request.purpose === 'install' && !warnedDevices ? missingDevicesWarning(env.manifest) : undefined;
      if (devices) {
        warnedDevices = true;
        kernel.progress({ kind: 'log', level: 'warn', message: devices });
      }
      const dirs = ociDirs(env);
      // Whatever a killed CLI left behind must not block this run.
      await liveContainers(dirs, { reap: true });
      await Promise.all([env.paths.upper, env.paths.work].map((d) => mkdir(d, { recursive: true })));
      const id = containerId(env);
      const { dir, rootfs } = await prepareBundle(dirs, id);
      await writeRecord(dirs, { id, runtime: runtime.path, runtimeName: runtime.name, owner: process.pid, created_at: new Date().toISOString() });
      const data: OciPlanData = { id, bundle: dir, rootfs, runtime, init };
      return {
        backend: BACKEND_NAME,
        data,
        async release() {
          // `run` deletes its container when the process exits; this covers a failed start.
          // runc, crun and youki keep a container's state in <root>/<id>: without it there is
          // nothing to delete, and asking the runtime would cost a process per exec.
          if (existsSync(join(dirs.state, id)) && (await containerState(runtime.path, dirs.state, id))) await deleteContainer(runtime.path, dirs.state, id);
          await rm(dir, { recursive: true, force: true });
        },
      };
    },

    async spawn(request: SpawnRequest): Promise<SpawnResult> {
      const data = request.mount.data as OciPlanData;
      const env = request.env;
      const host = invokingUser();
      // As the engine described the user (HOME/USER in the request win), like the namespace backend.
      // A process run as root has root's HOME/USER, not the user's: then the passwd db decides.
      const user = request.user === 'root' ? host : { ...host, home: request.environment.HOME || host.home, name: request.environment.USER || host.name };
      const rootless = !isRoot();
      const interactive = request.purpose !== 'install';
      // Rootless, the user is container root (the one mapped id): their entry comes first for uid 0.
      const identity = interactive ? writeIdentityFiles(env, rootless ? { ...user, uid: 0, gid: 0 } : user, { first: rootless }) : undefined;
      const policy = securityPolicy(kernel.config);
      const etc = etcPlan(env, { hostname: hostnameFor(env), ...(interactive && request.user !== 'root' && !rootless ? { sudoUser: user } : {}) });
      const inheritTty = request.tty && request.stdio === 'inherit' && process.stdin.isTTY === true && process.stdout.isTTY === true;
      const config = buildConfig({
        request,
        env,
        rootfs: data.rootfs,
        user,
        rootless,
        mounts: interactive ? resolveMounts(env.manifest.mounts, env.manifestDir, securityPolicy(kernel.config), user) : [],
        devices: requestedDevices(env.manifest),
        resolvConf: resolvConf(),
        // Rootless runtimes cannot create cgroups on cgroup v1 (or without delegation).
        applyLimits: !rootless,
        init: data.init,
        identity,
        consoleSize: inheritTty ? { width: process.stdout.columns ?? 80, height: process.stdout.rows ?? 24 } : undefined,
        etc: etc.files,
        etcEnvironment: etc.environment,
        sockets: interactive ? integrationSockets(request.environment, policy, { display: env.manifest.gui.apps.length > 0, audio: env.manifest.hardware.audio }) : [],
      });
      await writeFile(join(data.bundle, 'config.json'), JSON.stringify(config, null, 2) + '\n');
      return runContainer(data, ociDirs(env).state, request.stdio === 'capture', request.onOutput);
    },

    async stop(env: EnvHandle, timeoutMs: number): Promise<boolean> {
      const dirs = ociDirs(env);
      const live = await liveContainers(dirs, { reap: false });
      await Promise.all(live.map((c) => killContainer(c.record.runtime, dirs.state, c.record.id, 'SIGTERM')));
      const deadline = Date.now() + timeoutMs;
      let remaining = live;
      while (remaining.length && Date.now() < deadline) {
        await sleep(50);
        remaining = await liveContainers(dirs, { reap: false });
      }
      if (remaining.length) {
        await Promise.all(remaining.map((c) => killContainer(c.record.runtime, dirs.state, c.record.id, 'SIGKILL')));
        const killDeadline = Date.now() + 5_000;
        while ((await liveContainers(dirs, { reap: false })).length && Date.now() < killDeadline) await sleep(50);
      }
      return true;
    },

    async status(env: EnvHandle): Promise<RunState> {
      const dirs = ociDirs(env);
      if (!existsSync(dirs.bundles)) return 'stopped';
      return (await liveContainers(dirs, { reap: false })).length ? 'running' : 'stopped';
    },
  };
}

/** `<runtime> --root <state> run --bundle <dir> <id>` in the foreground; resolves to the process's status. */
function runContainer(data: OciPlanData, stateRoot: string, capture: boolean, onOutput?: SpawnRequest['onOutput']): Promise<SpawnResult> {
  return new Promise((resolve, reject) => {
    const log = join(data.bundle, 'runtime.log');
    const child = spawn(data.runtime.path, ['--root', stateRoot, '--log', log, '--log-format', 'json', 'run', '--bundle', data.bundle, data.id], {
      stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    });
    const output = collectOutput(child, onOutput);
    // The runtime forwards signals it receives to the container's process.
    const cleanup = forwardSignals(child);
    child.on('error', (e) => {
      cleanup();
      reject(new RuntimeFailure('KP_OCI_RUNTIME_FAILED', `could not run ${data.runtime.path}: ${e.message}`, {
        hint: 'check that the runtime is installed and executable (`karapace doctor`)',
        cause: e,
      }));
    });
    child.on('close', (code, signal) => {
      cleanup();
      let exitCode = exitStatus(code, signal);
      const captured = capture ? output() : {};
      const failure = exitCode !== 0 ? startFailure(log) : undefined;
      if (failure) {
        // The runtime could not start the process; its own message is already on stderr.
        if (/executable file not found|no such file or directory/i.test(failure) && /exec/.test(failure)) exitCode = 127;
        else if (/exec.*permission denied/i.test(failure)) exitCode = 126;
        else {
          const reason = knownUnsupported(data.runtime.name, cgroupLayout());
          return reject(reason ? unsupportedFailure(data.runtime, reason) : new RuntimeFailure('KP_OCI_START_FAILED', `${data.runtime.name} could not start the container: ${failure}`, {
            hint: 'run `karapace doctor` to check the OCI runtimes on this host, or use backend "namespace"',
            data: { runtime: data.runtime.name, path: data.runtime.path, ...captured },
          }));
        }
      }
      resolve({ exitCode, ...captured });
    });
  });
}
